package jobs

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// releaseAll releases every feed's aggregator, on up to workers goroutines
// (each Release reads only its own aggregator's per-user state, and at
// millions of users that read is a sizeable part of a run: playback-daily
// at 10M events / 2M users spent 1.1 CPU-s in it). The result is in feed
// order, whatever goroutine released each; the noise is drawn from the
// library's secure source either way. The first error, in feed order, is
// returned.
func releaseAll(feeds []*feed, r *datasets.EventReader, workers int) ([]*dp.Released, error) {
	out := make([]*dp.Released, len(feeds))
	errs := make([]error, len(feeds))
	release := func(i int) {
		f := feeds[i]
		var names []string
		if f.selected {
			names = r.DimValues(f.dim)
		}
		if out[i], errs[i] = f.agg.Release(names); errs[i] != nil {
			errs[i] = fmt.Errorf("release metric %s: %w", f.agg.Options().Name, errs[i])
		}
	}
	workers = min(max(workers, 1), len(feeds))
	if workers <= 1 {
		for i := range feeds {
			release(i)
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1)) - 1; i < len(feeds); i = int(next.Add(1)) - 1 {
					release(i)
				}
			}()
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
