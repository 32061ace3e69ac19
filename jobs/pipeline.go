package jobs

import (
	"context"
	"math"
	"math/bits"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/dpstats/dpstats/datasets"
)

// The read pipeline: arrow-go decodes the next record batch on a goroutine
// of its own (datasets' read-ahead); the calling goroutine converts it
// (the reader and its user index are not safe for concurrent use); a
// sorter orders each batch by user and finds, once per consent category,
// the runs of a user's rows that may count (userRuns); and W workers
// aggregate them. Each worker owns a fixed subset of the feeds (split by
// estimated cost, see splitFeeds; metrics with the same contributions
// share one feed, see shareFeeds), so every aggregator is only ever touched
// by one goroutine and sees exactly the rows, in exactly the order, that a
// single-threaded loop would give it: the release is the same procedure as
// with one worker, no locks, no merge.

// sharedBatch is one batch of events, filled by the reader in place
// (EventReader.ScanInto), sorted, then handed to every worker; the last
// worker done with it returns it to the pool for the reader to fill again.
type sharedBatch struct {
	datasets.EventBatch
	// values are the reader's DimValues at the time of the batch: every code
	// in the batch is below their length, and entries never change, so
	// workers may read them while the reader appends.
	values   [][]string
	numUsers int // the reader's user count at the batch: users are below it
	// runs are, per consent group (consentGroups), the batch's runs of one
	// user whose rows may count, computed once for all the group's feeds.
	runs    []userRuns
	pending atomic.Int32
}

// span is a run of rows start … end−1 of one user in a sorted batch.
type span struct{ start, end int32 }

// userRuns are the runs of rows of a batch sorted by user whose rows may
// count for one consent category: users granted for the whole period, and
// users whose grant began during it, whose rows count from from[k] on
// (unix nanos; math.MinInt64 for a whole-period user). from is nil when no
// grant began during the period. Users without a grant have no run.
type userRuns struct {
	spans []span
	from  []int64
}

// build fills r with the runs of users (sorted) that g allows; times are
// the rows' event times, or nil if the reader has none.
func (r *userRuns) build(users []uint32, times []int64, g datasets.Grants) {
	partial := g.Partial() && len(times) >= len(users)
	r.spans, r.from = r.spans[:0], r.from[:0]
	if !partial {
		r.from = nil
	}
	n := len(users)
	for i := 0; i < n; {
		u := users[i]
		j := i + 1
		for j < n && users[j] == u {
			j++
		}
		switch {
		case g.Allowed(u):
			r.spans = append(r.spans, span{int32(i), int32(j)})
			if partial {
				r.from = append(r.from, math.MinInt64)
			}
		case partial:
			if t, ok := g.From(u); ok {
				r.spans = append(r.spans, span{int32(i), int32(j)})
				r.from = append(r.from, t)
			}
		}
		i = j
	}
}

// consentGroups numbers the consent categories of feeds: group[i] is feed
// i's, and grants[g] the grants of group g.
func consentGroups(feeds []*feed) (group []int, grants []datasets.Grants) {
	index := map[string]int{}
	for _, f := range feeds {
		g, ok := index[f.category]
		if !ok {
			g = len(grants)
			index[f.category] = g
			grants = append(grants, f.grants)
		}
		group = append(group, g)
	}
	return group, grants
}

// buildRuns computes the batch's runs for every consent group (after
// sortRows).
func (s *sharedBatch) buildRuns(grants []datasets.Grants) {
	if len(s.runs) != len(grants) {
		s.runs = make([]userRuns, len(grants))
	}
	var times []int64
	if len(s.Times) >= s.Len {
		times = s.Times[:s.Len]
	}
	for g := range grants {
		s.runs[g].build(s.Users[:s.Len], times, grants[g])
	}
}

func (s *sharedBatch) dimValues(d int) []string { return s.values[d] }

// sortBuffers are the sorting goroutine's buffers.
type sortBuffers struct {
	cols          datasets.EventBatch // the columns sortRows gathers into
	keys, scratch []uint64
	order         []int32
}

// sortRows sorts s's rows by user (stable: a user's rows keep their file
// order). Feeding rows in user order sweeps the per-user state of the
// aggregators from low to high user index instead of jumping around it,
// which is most of their cost at 10⁵–10⁶ users; sorting once per batch
// keeps every metric's loop sequential (device-2metric at 10M/200k: 2.9
// CPU-s sorted, 3.3 without). Bounding does not depend on the order of
// rows: the partitions a user keeps are those of lowest keyed priority,
// counts are totals, and the values kept for mean and quantiles are a
// uniform reservoir sample in any order.
//
// spare receives the sorted columns, and leaves with s's old arrays: one
// spare for the goroutine that sorts, however many batches are in flight.
func (s *sharedBatch) sortRows(spare *sortBuffers) {
	n := s.Len
	spare.keys, spare.scratch = sortByUser(s.Users[:n], spare.keys, spare.scratch, s.numUsers)
	sp := &spare.cols
	order := resize(spare.order, n)
	sp.Users = resize(sp.Users, n)
	for j, k := range spare.keys[:n] {
		sp.Users[j], order[j] = uint32(k>>32), int32(uint32(k))
	}
	spare.order = order
	sp.Codes = gatherColumns(sp.Codes, s.Codes, order)
	sp.Numbers = gatherColumns(sp.Numbers, s.Numbers, order)
	sp.NumberValid = gatherColumns(sp.NumberValid, s.NumberValid, order)
	s.Users, sp.Users = sp.Users, s.Users
	s.Codes, sp.Codes = sp.Codes, s.Codes
	s.Numbers, sp.Numbers = sp.Numbers, s.Numbers
	s.NumberValid, sp.NumberValid = sp.NumberValid, s.NumberValid
	if len(s.Times) > 0 {
		sp.Times = gather(sp.Times, s.Times, order)
		s.Times, sp.Times = sp.Times, s.Times
	}
}

func gather[T any](dst, src []T, order []int32) []T {
	dst = resize(dst, len(order))
	for j, i := range order {
		dst[j] = src[i]
	}
	return dst
}

func gatherColumns[T any](dst, src [][]T, order []int32) [][]T {
	if len(dst) != len(src) {
		dst = make([][]T, len(src))
	}
	for i := range src {
		dst[i] = gather(dst[i], src[i], order)
	}
	return dst
}

// fillBatch reads the reader's next batches into b until it holds at least
// rows rows or the reader ends; false if it read none. Decoded batches are
// kept smaller than fed ones (see decodeRows): b is filled by the first in
// place and the others, read into tmp, are appended to it.
func fillBatch(r *datasets.EventReader, b, tmp *datasets.EventBatch, rows int) bool {
	if !r.ScanInto(b) {
		return false
	}
	for b.Len < rows && r.ScanInto(tmp) {
		b.Users = append(b.Users[:b.Len], tmp.Users[:tmp.Len]...)
		for d := range b.Codes {
			b.Codes[d] = append(b.Codes[d][:b.Len], tmp.Codes[d][:tmp.Len]...)
		}
		for d := range b.Dims {
			if len(b.Dims[d]) > 0 || len(tmp.Dims[d]) > 0 {
				b.Dims[d] = append(b.Dims[d][:b.Len], tmp.Dims[d][:tmp.Len]...)
			}
		}
		for k := range b.Numbers {
			b.Numbers[k] = append(b.Numbers[k][:b.Len], tmp.Numbers[k][:tmp.Len]...)
			b.NumberValid[k] = append(b.NumberValid[k][:b.Len], tmp.NumberValid[k][:tmp.Len]...)
		}
		if len(b.Times) > 0 || len(tmp.Times) > 0 {
			b.Times = append(b.Times[:b.Len], tmp.Times[:tmp.Len]...)
		}
		b.Len += tmp.Len
	}
	return true
}

// feedAll reads every batch of r and feeds it to the metrics, on workers
// goroutines besides the reading one (workers ≤ 1: all on the caller's),
// in batches of at least rows rows (but the last).
// progress, if not nil, is called on the reading goroutine after each batch.
func feedAll(ctx context.Context, r *datasets.EventReader, feeds []*feed, workers, rows int, progress func(batches int)) error {
	var tmp datasets.EventBatch
	feeds = shareFeeds(feeds)
	group, grants := consentGroups(feeds)
	if workers <= 1 {
		batches := 0
		b := new(sharedBatch)
		var spare sortBuffers
		for fillBatch(r, &b.EventBatch, &tmp, rows) {
			if err := ctx.Err(); err != nil {
				return err
			}
			b.values, b.numUsers = snapshot(r), r.NumUsers()
			b.sortRows(&spare)
			b.buildRuns(grants)
			for i, f := range feeds {
				f.add(&b.EventBatch, b.dimValues, &b.runs[group[i]])
			}
			batches++
			if progress != nil {
				progress(batches)
			}
		}
		return r.Err()
	}
	workers = min(workers, len(feeds))
	const inFlight = 2 // batches decoded ahead of the slowest worker
	free := make(chan *sharedBatch, inFlight)
	for range inFlight {
		free <- new(sharedBatch)
	}
	split := splitFeeds(feeds, workers)
	queues := make([]chan *sharedBatch, workers)
	var wg sync.WaitGroup
	for w := range workers {
		queues[w] = make(chan *sharedBatch, inFlight)
		mine := split[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range queues[w] {
				for _, i := range mine {
					feeds[i].add(&b.EventBatch, b.dimValues, &b.runs[group[i]])
				}
				if b.pending.Add(-1) == 0 {
					free <- b
				}
			}
		}()
	}
	// The sorter sorts each batch by user, off the reading goroutine, and
	// hands it to every worker.
	sortQ := make(chan *sharedBatch, inFlight)
	distributed := make(chan struct{})
	go func() {
		defer close(distributed)
		var spare sortBuffers
		for b := range sortQ {
			b.sortRows(&spare)
			b.buildRuns(grants)
			for _, q := range queues {
				q <- b
			}
		}
		for _, q := range queues {
			close(q)
		}
	}()
	closeAll := func() {
		close(sortQ)
		<-distributed
		wg.Wait()
	}
	batches := 0
	for {
		var b *sharedBatch
		select {
		case b = <-free:
		case <-ctx.Done():
			closeAll()
			return ctx.Err()
		}
		if !fillBatch(r, &b.EventBatch, &tmp, rows) {
			break
		}
		b.values, b.numUsers = snapshot(r), r.NumUsers()
		b.pending.Store(int32(workers))
		sortQ <- b
		batches++
		if progress != nil {
			progress(batches)
		}
	}
	closeAll()
	return r.Err()
}

// decoders is the number of goroutines that decode Parquet row groups for
// a run on workers goroutines: decoding is the largest stage, two share it
// (more than two gain little against the stages after it). The batches come
// out in the file's order either way (see datasets.EventSpec.Decoders).
func decoders(workers int) int { return min(max(workers, 1), 2) }

// feedRows is the rows per batch fed to the metrics. Big batches: each is
// sorted by user before it is fed (see feedAll), and the more rows a batch
// holds, the closer feeding it comes to one sequential sweep over the
// per-user state (playback-daily at 10M/2M: 17.3 CPU-s with batches of
// 128k rows, 14.4 with 256k). 512k rows saved another 7% of CPU at 2M
// users while each decoder could hold only one batch ahead; with room for
// more (datasets' decodeAheadRows) it saved about 3% there, cost 125 MiB
// of peak RSS at every size, and broke "memory follows users, not events"
// (playback-daily: 357 MiB at 1M events, 533 at 10M): not taken.
const feedRows = 256 << 10

// decodeRows is the rows per batch each decoder decodes; the reading
// goroutine joins them up to feedRows (see fillBatch). arrow-go allocates
// (and zeroes) about 17 bytes of scratch per row of a decoded batch for
// every dictionary column, afresh for every row group, and keeps a
// batch's worth of every column, so small decoded batches hold less
// memory for the same CPU (playback-daily at 10M/200k, 256k fed rows:
// 483 MiB peak RSS decoding 128k rows a batch, 303 MiB with 32k). They
// once cost the 2-metric job 8% of its wall time, because a decoder could
// hold only one batch ahead of the reader (see datasets' decodeAheadRows);
// with room for a row group's worth ahead, 32k-row batches are the
// fastest measured: the 2-metric job at 10M/200k 1.40 → 1.22 s, at 10M/2M
// 2.20 → 1.78 s, playback-daily 3.19 → 3.13 s and 4.87 → 4.56 s, for
// 30-35 MiB more peak RSS than 64k rows without the room.
const decodeRows = 32 << 10

// snapshot returns the reader's dimension values as of now.
func snapshot(r *datasets.EventReader) [][]string {
	n := r.NumDimensions()
	out := make([][]string, n)
	for d := range n {
		out[d] = slices.Clip(r.DimValues(d))
	}
	return out
}

// sortByUser sorts the rows of users by user, stable (a user's rows keep
// their file order), by an LSD radix sort on the bits that numUsers (an
// upper bound on every user) needs, in as few passes of at most 11 bits as
// those bits allow. It returns the sorted keys, user<<32 | row, and the
// other buffer: keys and scratch are reused buffers. Each pass reads the
// keys in order (no indirection), and one read of users counts the digits
// of every pass.
func sortByUser(users []uint32, keys, scratch []uint64, numUsers int) ([]uint64, []uint64) {
	n := len(users)
	keys, scratch = resize(keys, n), resize(scratch, n)
	width := bits.Len(uint(max(numUsers-1, 0)))
	const maxDigit = 11
	passes := (width + maxDigit - 1) / maxDigit
	if passes == 0 {
		for i, u := range users {
			keys[i] = uint64(u)<<32 | uint64(i)
		}
		return keys, scratch
	}
	digit := (width + passes - 1) / passes
	mask := uint64(1)<<digit - 1
	var counts [3][1 << maxDigit]int // 32 bits: at most 3 passes
	for i, u := range users {
		k := uint64(u)<<32 | uint64(i)
		keys[i] = k
		for p := range passes {
			counts[p][(k>>(32+p*digit))&mask]++
		}
	}
	for p := range passes {
		c := &counts[p]
		sum := 0
		for d, v := range c {
			c[d] = sum
			sum += v
		}
		shift := 32 + p*digit
		for _, k := range keys {
			d := (k >> shift) & mask
			scratch[c[d]] = k
			c[d]++
		}
		keys, scratch = scratch, keys
	}
	return keys, scratch
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
