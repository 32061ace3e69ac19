package jobs

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dpstats/dpstats/datasets"
)

// The read pipeline: one goroutine decodes batches (the reader and its
// user index are not safe for concurrent use), and W workers aggregate
// them. Each worker owns a fixed subset of the metrics, so every
// aggregator is only ever touched by one goroutine and sees exactly the
// rows, in exactly the order, that a single-threaded loop would give it:
// the release is the same procedure as with one worker, no locks, no merge.

// sharedBatch is a copy of one EventBatch handed to every worker; the last
// worker done with it returns it to the pool.
type sharedBatch struct {
	datasets.EventBatch
	// values are the reader's DimValues at the time of the batch: every code
	// in the batch is below their length, and entries never change, so
	// workers may read them while the reader appends.
	values  [][]string
	pending atomic.Int32
}

func (s *sharedBatch) dimValues(d int) []string { return s.values[d] }

// copyFrom makes s a copy of b (reusing s's arrays).
func (s *sharedBatch) copyFrom(b *datasets.EventBatch, values [][]string) {
	s.Len = b.Len
	s.Users = append(s.Users[:0], b.Users[:b.Len]...)
	s.Codes = copyColumns(s.Codes, b.Codes, b.Len)
	s.Numbers = copyColumns(s.Numbers, b.Numbers, b.Len)
	s.NumberValid = copyColumns(s.NumberValid, b.NumberValid, b.Len)
	s.values = values
}

func copyColumns[T any](dst, src [][]T, n int) [][]T {
	if len(dst) != len(src) {
		dst = make([][]T, len(src))
	}
	for i := range src {
		dst[i] = append(dst[i][:0], src[i][:n]...)
	}
	return dst
}

// feedAll reads every batch of r and feeds it to the metrics, on workers
// goroutines besides the reading one (workers ≤ 1: all on the caller's).
// progress, if not nil, is called on the reading goroutine after each batch.
func feedAll(ctx context.Context, r *datasets.EventReader, feeds []*feed, workers int, progress func(batches int)) error {
	if workers <= 1 {
		batches := 0
		for r.Scan() {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := r.Batch()
			for _, f := range feeds {
				f.add(b, r.DimValues)
			}
			batches++
			if progress != nil {
				progress(batches)
			}
		}
		return r.Err()
	}
	workers = min(workers, len(feeds))
	const inFlight = 4 // batches decoded ahead of the slowest worker
	free := make(chan *sharedBatch, inFlight)
	for range inFlight {
		free <- new(sharedBatch)
	}
	queues := make([]chan *sharedBatch, workers)
	var wg sync.WaitGroup
	for w := range workers {
		queues[w] = make(chan *sharedBatch, inFlight)
		var mine []*feed
		for i := w; i < len(feeds); i += workers {
			mine = append(mine, feeds[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range queues[w] {
				for _, f := range mine {
					f.add(&b.EventBatch, b.dimValues)
				}
				if b.pending.Add(-1) == 0 {
					free <- b
				}
			}
		}()
	}
	closeAll := func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}
	batches := 0
	for r.Scan() {
		var b *sharedBatch
		select {
		case b = <-free:
		case <-ctx.Done():
			closeAll()
			return ctx.Err()
		}
		b.copyFrom(r.Batch(), snapshot(r))
		b.pending.Store(int32(workers))
		for _, q := range queues {
			q <- b
		}
		batches++
		if progress != nil {
			progress(batches)
		}
	}
	closeAll()
	return r.Err()
}

// snapshot returns the reader's dimension values as of now.
func snapshot(r *datasets.EventReader) [][]string {
	n := r.NumDimensions()
	out := make([][]string, n)
	for d := range n {
		out[d] = slices.Clip(r.DimValues(d))
	}
	return out
}
