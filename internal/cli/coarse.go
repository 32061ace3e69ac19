package cli

import (
	"log/slog"
	"time"
)

// timeGrain is the resolution of every time and duration dpstats publishes
// to an operator channel: the run-duration and timestamp metrics and the
// time of each log line. A run's duration depends on how much data it read,
// and two neighbouring datasets (one heavy user more) can differ by seconds
// on a quiet machine; in whole minutes they read the same. This narrows the
// channel, it does not close it: docs/privacy-channels.md says what remains
// (the scheduler's own timestamps) and who may see it.
const timeGrain = time.Minute

// coarseDuration is d rounded down to whole timeGrains.
func coarseDuration(d time.Duration) time.Duration { return d.Truncate(timeGrain) }

// coarseTime is t rounded down to a whole timeGrain.
func coarseTime(t time.Time) time.Time { return t.Truncate(timeGrain) }

// coarseLogTime rounds the time of every log record down to timeGrain, so
// that the gap between two log lines says nothing finer about how long the
// reading between them took.
func coarseLogTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.Time(slog.TimeKey, coarseTime(a.Value.Time()).UTC())
	}
	return a
}

// logHandlerOptions are the options of every log handler dpstats builds.
var logHandlerOptions = &slog.HandlerOptions{ReplaceAttr: coarseLogTime}
