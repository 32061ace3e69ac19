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
	// Some of the SDK logs through the process's default slog logger (the
	// prism runner's job server, textio's workers), which would print
	// second-precision timestamps past the run's logger (whose times are
	// whole minutes: docs/privacy-channels.md). Route it to the run's
	// logger too, demoted like the rest.
	slog.SetDefault(slog.New(demoted{l.Handler()}))
}

// demoted lowers every record below a warning to debug.
type demoted struct{ h slog.Handler }

func demote(l slog.Level) slog.Level {
	if l < slog.LevelWarn {
		return slog.LevelDebug
	}
	return l
}

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	return d.h.Enabled(ctx, demote(l))
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demote(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.h.WithAttrs(as)} }
func (d demoted) WithGroup(g string) slog.Handler       { return demoted{d.h.WithGroup(g)} }
