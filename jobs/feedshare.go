package jobs

import (
	"fmt"
	"slices"
	"strings"
)

// shareFeeds groups the feeds whose contributions are exactly the same:
// the same consent category, the same partition source and mapping (the
// same dimension and public partitions, or the same buckets), and the same
// value column, or none (count and users: a count and a users metric of
// one dimension take the same runs of events). It returns the feeds that
// read the batches, each with the others of its group in shares; every
// aggregator still sees exactly the calls its own feed would have made.
func shareFeeds(feeds []*feed) []*feed {
	var leaders []*feed
	byKey := map[string]*feed{}
	for _, f := range feeds {
		f.shares = nil
		k := f.sourceKey()
		if l, ok := byKey[k]; ok {
			l.shares = append(l.shares, f)
			continue
		}
		byKey[k] = f
		leaders = append(leaders, f)
	}
	return leaders
}

// sourceKey identifies where f's contributions come from (see shareFeeds).
func (f *feed) sourceKey() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%q dim=%d bucket=%d value=%d other=%d selected=%v", f.category, f.dim, f.bucketNum, f.valueNum, f.other, f.selected)
	names := make([]string, 0, len(f.public))
	for name := range f.public {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(&sb, " %q=%d", name, f.public[name])
	}
	return sb.String()
}

// cost is a rough relative CPU cost of feeding a batch to f and its shares
// (from profiles of playback-daily: a value metric samples into a
// reservoir, about twice a count metric's work; a single-partition total
// adds one run per user).
func (f *feed) cost() float64 {
	per := func(g *feed) float64 {
		switch {
		case g.valueNum >= 0:
			return 1.2
		case g.dim < 0 && g.bucketNum < 0:
			return 0.1
		}
		return 0.5
	}
	c := 0.5 // reading the rows and finding the partitions
	switch {
	case f.dim < 0 && f.bucketNum < 0 && f.valueNum < 0:
		c = 0.1
	case f.bucketNum >= 0:
		c = 0.7
	}
	c += per(f)
	for _, g := range f.shares {
		c += per(g)
	}
	return c
}

// splitFeeds assigns the feeds to workers lists by cost, so that no worker
// waits long on another: the costliest first, each to the least loaded
// worker so far (ties: the lowest). Deterministic; each feed goes to
// exactly one worker, in which the feeds keep their order.
func splitFeeds(feeds []*feed, workers int) [][]int {
	order := make([]int, len(feeds))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ca, cb := feeds[a].cost(), feeds[b].cost()
		switch {
		case ca > cb:
			return -1
		case ca < cb:
			return 1
		}
		return 0
	})
	load := make([]float64, workers)
	out := make([][]int, workers)
	for _, i := range order {
		w := 0
		for v := 1; v < workers; v++ {
			if load[v] < load[w] {
				w = v
			}
		}
		load[w] += feeds[i].cost()
		out[w] = append(out[w], i)
	}
	for _, l := range out {
		slices.Sort(l)
	}
	return out
}
