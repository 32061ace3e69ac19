package datasets

import (
	"fmt"
	"strconv"
)

// Generalizer coarsens a raw number at read time, so that raw bitrates and
// durations never leave the reader: the value is rounded to the nearest
// multiple of Step (halves round up), then clamped to [Min, Max]. Edges, if
// set, name the buckets a metric reports (see Bucket and Label).
//
// Example: duration to the minute, clamped to 0–4 h, bucketed by
// 0–10 min, 10–30 min, 30–60 min, ≥ 60 min:
//
//	Generalizer{Step: 60, Min: 0, Max: 14400, Edges: []int64{0, 600, 1800, 3600}}
type Generalizer struct {
	// Step is the rounding unit; 0 or 1 means no rounding. Must be ≥ 0.
	Step int64
	// Edges are the ascending lower edges of the buckets: bucket i holds
	// [Edges[i], Edges[i+1]); the last bucket is open above. Optional.
	Edges []int64
	// Min and Max bound the generalized value. Required: Min < Max (so the
	// zero Generalizer, which would map everything to 0, is invalid).
	Min, Max int64
}

// Validate checks the rules documented on the fields.
func (g Generalizer) Validate() error {
	if g.Step < 0 {
		return fmt.Errorf("Step = %d, must be ≥ 0", g.Step)
	}
	if g.Min >= g.Max {
		return fmt.Errorf("Min = %d, Max = %d, need Min < Max", g.Min, g.Max)
	}
	for i := 1; i < len(g.Edges); i++ {
		if g.Edges[i] <= g.Edges[i-1] {
			return fmt.Errorf("Edges must be strictly increasing, got %d after %d", g.Edges[i], g.Edges[i-1])
		}
	}
	if len(g.Edges) > 0 && g.Min < g.Edges[0] {
		return fmt.Errorf("Min = %d is below the first edge %d; every value must fall in a bucket", g.Min, g.Edges[0])
	}
	return nil
}

// Apply returns the generalized value of v: rounded to Step, clamped to
// [Min, Max]. It never overflows.
func (g Generalizer) Apply(v int64) int64 {
	if g.Step > 1 {
		v = roundTo(v, g.Step)
	}
	return min(max(v, g.Min), g.Max)
}

// roundTo rounds v to the nearest multiple of step (halves up), saturating
// instead of overflowing.
func roundTo(v, step int64) int64 {
	q, r := v/step, v%step
	if r < 0 { // floor division
		q--
		r += step
	}
	if r >= step-r { // r ≥ step/2, without overflow
		q++
	}
	if q > 0 && q > (1<<63-1)/step {
		return 1<<63 - 1
	}
	if q < 0 && q < (-1<<63)/step {
		return -1 << 63
	}
	return q * step
}

// NumBuckets returns len(Edges).
func (g Generalizer) NumBuckets() int { return len(g.Edges) }

// Bucket returns the index of the bucket holding v (usually a value Apply
// returned): the largest i with Edges[i] ≤ v, or -1 if v is below every edge
// or there are no edges.
func (g Generalizer) Bucket(v int64) int {
	lo, hi := 0, len(g.Edges) // find first edge > v
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g.Edges[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// Label returns a human label for bucket i with the caller's unit, e.g.
// "0–999 kbps", "1000–2999 kbps", "≥ 8000 kbps" (integer buckets, upper end
// inclusive). unit may be empty. An index out of range gives "other".
func (g Generalizer) Label(i int, unit string) string {
	if i < 0 || i >= len(g.Edges) {
		return "other"
	}
	var s string
	if i == len(g.Edges)-1 {
		s = "≥ " + strconv.FormatInt(g.Edges[i], 10)
	} else {
		s = strconv.FormatInt(g.Edges[i], 10) + "–" + strconv.FormatInt(g.Edges[i+1]-1, 10)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// Labels returns Label(i, unit) for every bucket.
func (g Generalizer) Labels(unit string) []string {
	out := make([]string, len(g.Edges))
	for i := range out {
		out[i] = g.Label(i, unit)
	}
	return out
}
