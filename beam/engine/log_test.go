package engine

import (
	"bytes"
	"log"
	"log/slog"
	"strings"
	"testing"
)

// The SDK's log through the default slog logger and the log package (the
// prism runner, textio) reaches the run's logger, demoted to debug below
// warnings, instead of stderr with second-precision timestamps.
func TestDefaultLogRoutedToRunLogger(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var buf bytes.Buffer
	run := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	setBeamLogger(run)

	slog.Info("Serving JobManagement", "endpoint", "localhost:1")
	slog.Warn("worker slow")
	log.Print("plain log line")

	out := buf.String()
	for _, want := range []string{
		`"level":"DEBUG","msg":"Serving JobManagement"`,
		`"level":"WARN","msg":"worker slow"`,
		`"msg":"plain log line"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run log lacks %s:\n%s", want, out)
		}
	}

	buf.Reset()
	quiet := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	setBeamLogger(quiet)
	slog.Info("chatter")
	if buf.Len() != 0 {
		t.Errorf("an info record of the SDK reached an info-level run log: %s", buf.String())
	}
}
