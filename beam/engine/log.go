package engine

import (
	"context"
	"io"
	"log/slog"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// beamLogger routes the Beam SDK's own log (the pipeline graph, runner
// progress) to the run's logger: debug below warnings, so that a CLI run
// does not print the SDK's chatter. The SDK logs the pipeline's shape and
// the runner's state, and errors of our DoFns, which name files only.
type beamLogger struct{ l *slog.Logger }

func (b beamLogger) Log(ctx context.Context, sev beamlog.Severity, _ int, msg string) {
	level := slog.LevelDebug
	if sev >= beamlog.SevWarn {
		level = slog.LevelWarn
	}
	b.l.Log(ctx, level, "beam: "+msg)
}

func setBeamLogger(l *slog.Logger) {
	if l == nil {
		l = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	beamlog.SetLogger(beamLogger{l})
}
