package jobs

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// CapsCutFraction is the part of every metric's ε share (and δ share with
// Gaussian noise) spent on the DP estimate of how many of its users the
// per-user caps cut (dp.CapsCut). It is inside the metric's share: the run's
// ε and δ do not change.
const CapsCutFraction = 0.1

// MetricOptions returns the dp options of every metric of s, in metric
// order: its share of the run's budget (Spec.Shares), its bounds and its
// public partitions. seed is a test-only hook (see dp.MetricOptions.Seed);
// production passes nil.
func (s *Spec) MetricOptions(seed *int64) []dp.MetricOptions {
	shares := s.Shares()
	rhos := s.RhoShares()
	opts := make([]dp.MetricOptions, len(s.Metrics))
	for i := range s.Metrics {
		m := &s.Metrics[i]
		o := dp.MetricOptions{
			Name:             m.Name,
			Kind:             dp.Kind(m.Kind),
			Epsilon:          shares[i].Epsilon,
			Delta:            shares[i].Delta,
			Rho:              rhos[i],
			Noise:            dp.NoiseKind(s.Privacy.Noise),
			MaxPartitions:    m.MaxPartitions,
			MaxPerPartition:  m.MaxPerPartition,
			Partitions:       m.PartitionList(),
			SelectPartitions: m.SelectPartitions,
			ConfidenceLevel:  s.Privacy.Confidence,
			Ranks:            slices.Clone(m.Ranks),
			CapsCutFraction:  CapsCutFraction,
			// Buckets cover every value: there is nothing for "other".
			NoOther: m.Buckets != nil,
		}
		if m.Kind.HasValue() {
			o.Lower, o.Upper = m.Lower, m.Upper
		}
		if m.Kind == KindUsers {
			o.MaxPerPartition = 1
		}
		if seed != nil {
			v := *seed + int64(i)
			o.Seed = &v
		}
		opts[i] = o
	}
	return opts
}

// feed is how one metric takes its contributions from a batch of events:
// which consent grant it needs, where its partition and value come from.
type feed struct {
	agg    *dp.Aggregator
	grants datasets.Grants

	// Partition source: a categorical dimension (dim ≥ 0), a bucketed
	// numeric column (bucketNum ≥ 0), or neither (a single total).
	dim       int
	bucketNum int
	buckets   datasets.Generalizer
	other     int32 // index of "other" (= number of public partitions), or of "total"
	selected  bool  // partitions discovered from the data: index = code
	public    map[string]int32
	codeToIdx []int32 // dimension code → partition index (-1: no value), filled lazily

	// Value source for sum, mean and quantiles, or -1.
	valueNum int

	// category is the consent the metric needs (grants are its grants
	// for the period); feeds of one category share their userRuns.
	category string
	// shares are metrics whose contributions are exactly this feed's (the
	// same consent, partition source and value: see shareFeeds): fed by
	// this feed, not on their own.
	shares []*feed
	out    *feedOut
}

// readPlan is the compiled form of a spec: what the reader projects and how
// each metric is fed.
type readPlan struct {
	events datasets.EventSpec
	feeds  []*feed
	// categories of the feeds, parallel to feeds: the consent each needs.
	categories []string
}

// compile turns s into the reader's projection and one feed per metric
// (aggregators not yet attached).
func (s *Spec) compile() (*readPlan, error) {
	p := &readPlan{events: datasets.EventSpec{User: s.Input.User, Time: s.Input.Time}}
	dims := map[string]int{}
	dim := func(col string) int {
		if i, ok := dims[col]; ok {
			return i
		}
		dims[col] = len(p.events.Dimensions)
		p.events.Dimensions = append(p.events.Dimensions, col)
		return dims[col]
	}
	type numKey struct {
		col  string
		step int64
		min  int64
		max  int64
		edge string
	}
	nums := map[numKey]int{}
	num := func(col string, g datasets.Generalizer) (int, error) {
		if err := g.Validate(); err != nil {
			return 0, fmt.Errorf("column %q: %w", col, err)
		}
		k := numKey{col, g.Step, g.Min, g.Max, fmt.Sprint(g.Edges)}
		if i, ok := nums[k]; ok {
			return i, nil
		}
		nums[k] = len(p.events.Numbers)
		p.events.Numbers = append(p.events.Numbers, datasets.NumberSpec{Column: col, Gen: g})
		return nums[k], nil
	}
	for i := range s.Metrics {
		m := &s.Metrics[i]
		f := &feed{dim: -1, bucketNum: -1, valueNum: -1}
		switch {
		case m.Dimension == "":
			f.other = 0 // the single "total" partition
		case m.Buckets != nil:
			edges := make([]int64, len(m.Buckets.Edges))
			for j, e := range m.Buckets.Edges {
				edges[j] = int64(e)
			}
			// Values below the first edge count in the first bucket.
			f.buckets = datasets.Generalizer{Edges: edges, Min: edges[0], Max: math.MaxInt64}
			n, err := num(m.Dimension, f.buckets)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			f.bucketNum = n
			f.other = int32(len(edges))
		default:
			f.dim = dim(m.Dimension)
			f.selected = m.SelectPartitions
			f.public = map[string]int32{}
			for j, name := range m.Partitions {
				f.public[name] = int32(j)
			}
			f.other = int32(len(m.Partitions))
		}
		if m.Kind.HasValue() {
			g := datasets.Generalizer{Min: int64(math.Floor(m.Lower)), Max: int64(math.Ceil(m.Upper))}
			if m.Generalize != nil {
				g.Step = int64(m.Generalize.Step)
			}
			n, err := num(m.Value, g)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			f.valueNum = n
		}
		f.category = m.Consent
		p.feeds = append(p.feeds, f)
		p.categories = append(p.categories, m.Consent)
	}
	return p, nil
}

// add feeds one batch to the metric, and to the metrics that share its
// contributions (shares), sorted by user. values holds the dimension
// values by code (EventReader.DimValues) for the feed's dimension; runs are
// the batch's runs of one user whose rows may count for the feed's consent
// (userRuns, computed once per batch for all the metrics of a category).
func (f *feed) add(b *datasets.EventBatch, values func(dim int) []string, runs *userRuns) {
	n := b.Len
	users := b.Users[:n]
	var codes []int32
	var codeToIdx []int32
	if f.dim >= 0 {
		codes = b.Codes[f.dim][:n]
		if vs := values(f.dim); len(f.codeToIdx) < len(vs) {
			f.mapCodes(vs) // every code of the batch is below len(vs)
		}
		codeToIdx = f.codeToIdx
	}
	var bucketVals []int64
	var bucketValid []bool
	if f.bucketNum >= 0 {
		bucketVals, bucketValid = b.Numbers[f.bucketNum][:n], b.NumberValid[f.bucketNum][:n]
	}
	edges := f.buckets.Edges
	var vals []int64
	var valid []bool
	if f.valueNum >= 0 {
		vals, valid = b.Numbers[f.valueNum][:n], b.NumberValid[f.valueNum][:n]
	}
	total := codes == nil && bucketVals == nil && vals == nil
	// Users whose grant began during the period count only their events
	// from that instant on (runs.from); times is then the events' times.
	times := b.Times
	if f.out == nil {
		f.out = new(feedOut)
	}
	out := f.out
	if vals == nil && !total && !f.selected && f.other < histParts {
		f.addCounts(users, codes, codeToIdx, bucketVals, bucketValid, edges, times, runs)
		if out.n > 0 {
			f.flush()
		}
		return
	}
	for k, r := range runs.spans {
		from := int64(math.MinInt64)
		if runs.from != nil {
			from = runs.from[k]
		}
		u := users[r.start]
		if total && from == math.MinInt64 {
			f.events(u, f.other, uint32(r.end-r.start)) // the single partition
			continue
		}
		var runPart int32
		run := uint32(0)
		for i := r.start; i < r.end; i++ {
			if from != math.MinInt64 && times[i] < from {
				continue
			}
			// An event whose dimension or value is null is not part of
			// the metric: "other" only holds values outside the public list.
			part := f.other // total, or "other" for an unlisted value
			switch {
			case codes != nil:
				c := codes[i]
				if c < 0 {
					continue
				}
				if part = codeToIdx[c]; part < 0 {
					continue // an empty string: no value, like a null
				}
			case bucketVals != nil:
				if !bucketValid[i] {
					continue
				}
				part = bucketOf(edges, bucketVals[i])
			}
			if vals != nil {
				if valid[i] {
					f.value(u, part, float64(vals[i]))
				}
				continue
			}
			// count and users: a user's events in one partition often
			// follow one another; add each run at once (exactly as many
			// Adds, see dp.Aggregator.AddEventRuns).
			if run > 0 && part != runPart {
				f.events(u, runPart, run)
				run = 0
			}
			runPart = part
			run++
		}
		if run > 0 {
			f.events(u, runPart, run)
		}
	}
	if out.n > 0 {
		f.flush()
	}
}

// histParts bounds the partitions (with "other") of a count or users
// metric that addCounts tallies per user in a small array.
const histParts = 16

// addCounts is add for a count or users metric of at most histParts
// partitions: it tallies each run of a user's rows by partition, without
// the branches of detecting runs of one partition, and hands over one
// count per partition the user touched in the run. The partitions a user
// keeps and their counts do not depend on the order of the events (see
// sortRows), so this is exactly what adding every event would give.
func (f *feed) addCounts(users []uint32, codes, codeToIdx []int32, bucketVals []int64, bucketValid []bool, edges, times []int64, runs *userRuns) {
	var hist [histParts]uint32
	for k, r := range runs.spans {
		from := int64(math.MinInt64)
		if runs.from != nil {
			from = runs.from[k]
		}
		var touched uint32
		for i := r.start; i < r.end; i++ {
			if from != math.MinInt64 && times[i] < from {
				continue
			}
			var part int32
			if codes != nil {
				c := codes[i]
				if c < 0 {
					continue // null
				}
				if part = codeToIdx[c]; part < 0 {
					continue // an empty string: no value, like a null
				}
			} else {
				if !bucketValid[i] {
					continue
				}
				part = bucketOf(edges, bucketVals[i])
			}
			if uint32(part) >= histParts {
				f.events(users[i], part, 1) // not a partition: the aggregator decides
				continue
			}
			hist[part]++
			touched |= 1 << part
		}
		for ; touched != 0; touched &= touched - 1 {
			p := bits.TrailingZeros32(touched)
			f.events(users[r.start], int32(p), hist[p])
			hist[p] = 0
		}
	}
}

// bucketOf is datasets.Generalizer.Bucket for edges in increasing order
// (Generalizer.Validate), without branches: a bucket search mispredicts
// on most rows, counting the edges at or below v does not.
func bucketOf(edges []int64, v int64) int32 {
	n := int32(-1)
	for _, e := range edges {
		n += b2i(e <= v)
	}
	return n
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// feedOut buffers a feed's contributions, to hand them to its aggregators
// some thousands at a time (dp.Aggregator.AddEventRuns, AddValues), in
// order: a few tens of KiB, which stay in cache.
type feedOut struct {
	n     int
	users [outChunk]uint32
	parts [outChunk]int32
	ns    [outChunk]uint32 // count and users
	vals  [outChunk]float64
}

const outChunk = 1024

// events adds n events of user u in part (count and users).
func (f *feed) events(u uint32, part int32, n uint32) {
	o := f.out
	k := o.n
	o.users[k], o.parts[k], o.ns[k] = u, part, n
	if o.n = k + 1; o.n == outChunk {
		f.flush()
	}
}

// value adds user u's value v in part (sum, mean and quantiles).
func (f *feed) value(u uint32, part int32, v float64) {
	o := f.out
	k := o.n
	o.users[k], o.parts[k], o.vals[k] = u, part, v
	if o.n = k + 1; o.n == outChunk {
		f.flush()
	}
}

// flush hands the buffered contributions to the feed's aggregator and to
// those of the metrics that share them.
func (f *feed) flush() {
	o := f.out
	users, parts := o.users[:o.n], o.parts[:o.n]
	for i := -1; i < len(f.shares); i++ {
		agg := f.agg
		if i >= 0 {
			agg = f.shares[i].agg
		}
		if f.valueNum >= 0 {
			agg.AddValues(users, parts, o.vals[:o.n])
		} else {
			agg.AddEventRuns(users, parts, o.ns[:o.n])
		}
	}
	o.n = 0
}

// mapCodes extends codeToIdx to every dimension value seen so far: the
// public partition's index, "other" for an unlisted value, the code itself
// for discovered partitions, and -1 for the empty string, which exports
// write for a missing value and which is no value at all.
func (f *feed) mapCodes(values []string) {
	for c := len(f.codeToIdx); c < len(values); c++ {
		var idx int32
		switch {
		case values[c] == "":
			idx = -1
		case f.selected:
			idx = int32(c)
		default:
			var ok bool
			if idx, ok = f.public[values[c]]; !ok {
				idx = f.other
			}
		}
		f.codeToIdx = append(f.codeToIdx, idx)
	}
}
