package jobs

import (
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// TestReleaseAllKeepsFeedOrder releases a job's metrics on several
// goroutines: the releases come back in feed order, one per metric, and a
// second release of the same aggregators fails (fresh noise on the same
// state would let an observer average it away), with the first metric's
// error, whatever goroutine met it first.
func TestReleaseAllKeepsFeedOrder(t *testing.T) {
	evs, _ := population(200)
	in := []datasets.Input{eventsFile(t, evs)}
	spec := exactSpec(t)
	for _, workers := range []int{1, 2, 5} {
		plan, err := spec.compile()
		if err != nil {
			t.Fatal(err)
		}
		plan.events.Start, plan.events.End = day, day.Add(24*time.Hour)
		for i, opt := range spec.MetricOptions(nil) {
			if plan.feeds[i].agg, err = dp.NewAggregator(opt); err != nil {
				t.Fatal(err)
			}
		}
		r, err := datasets.NewEventReaderFrom(in, plan.events, datasets.NewUserIndex())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if err := feedAll(t.Context(), r, plan.feeds, 1, 64, nil); err != nil {
			t.Fatal(err)
		}
		out, err := releaseAll(plan.feeds, r, workers)
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		if len(out) != len(spec.Metrics) {
			t.Fatalf("workers %d: %d releases, want %d", workers, len(out), len(spec.Metrics))
		}
		for i, rel := range out {
			if rel.Name != spec.Metrics[i].Name {
				t.Errorf("workers %d: release %d is %q, want %q", workers, i, rel.Name, spec.Metrics[i].Name)
			}
		}
		_, err = releaseAll(plan.feeds, r, workers)
		if err == nil || !strings.Contains(err.Error(), "release metric "+spec.Metrics[0].Name+":") {
			t.Errorf("workers %d: second release: err = %v, want the first metric's", workers, err)
		}
	}
}
