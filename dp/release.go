package dp

import (
	"fmt"
	"math"
	"sort"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// Released is the noisy, publishable result of one metric. Nothing in it is
// computed from the data except through the library's noise.
type Released struct {
	Name            string
	Kind            Kind
	Epsilon, Delta  float64 // the metric's whole share (noise plus selection), as charged
	Noise           NoiseKind
	ConfidenceLevel float64
	MaxPartitions   int
	MaxPerPartition int
	Lower, Upper    float64 // value bounds (sum/mean/quantiles)
	// Partitions: public ones in spec order, then "other" (or the single
	// "total"), every one released even if empty; discovered ones that passed
	// selection, sorted by name.
	Partitions []ReleasedPartition
	// Warnings about the release; they only depend on the noisy output.
	Warnings []string
	// Rho is the metric's ρ share under zero-concentrated accounting (then
	// Epsilon is 0 and Delta is the δ of partition selection); 0 otherwise.
	Rho float64

	opt MetricOptions // the options released with, for post-processing (ShareOfUsers)
	// CapsCut estimates how many of the metric's users the per-user caps
	// cut; nil when MetricOptions.CapsCutFraction is 0.
	CapsCut *CapsCut
}

// CapsCut is a DP estimate of how much a metric's per-user caps
// (MaxPartitions, MaxPerPartition) cut. Every user who contributed to the
// metric is in exactly one of two disjoint groups: cut (they touched more
// than MaxPartitions partitions, or gave more than MaxPerPartition events
// or values to one of them; for sum, their sum in a partition left
// MaxPerPartition×[Lower, Upper]) or not cut. Each group's size is a
// dpagg.Count (sensitivity 1: a user is in one group, once); the groups are
// disjoint, so both counts together spend the estimate's ε once (parallel
// composition). Clamping each value to [Lower, Upper] is not a per-user cap
// and is not counted.
type CapsCut struct {
	Epsilon, Delta float64 // spent on the estimate (part of the metric's share)
	// Rho is spent on the estimate instead under zero-concentrated
	// accounting (then Epsilon and Delta are 0).
	Rho float64
	// Users is the noisy number of users who were cut, clamped at 0, and
	// [UsersLower, UsersUpper] its confidence interval from the library.
	Users, UsersLower, UsersUpper float64
	// Contributing is the noisy number of users who contributed (cut plus
	// not cut), with an interval that holds when both counts' intervals at
	// half the error rate hold (union bound).
	Contributing, ContributingLower, ContributingUpper float64
	// Share is Users/Contributing, and [ShareLower, ShareUpper] the range of
	// cut/(cut+not cut) over the two counts' intervals at half the error
	// rate each: it holds the true share with at least the confidence level.
	Share, ShareLower, ShareUpper float64
}

// ReleasedPartition is one partition of a release.
type ReleasedPartition struct {
	Name string
	// Value is the noisy value and [Lower, Upper] its confidence interval at
	// the release's confidence level, from the library (count, users, sum,
	// mean). Zero for quantiles, which use Quantiles instead.
	Value, Lower, Upper float64
	// Quantiles holds the noisy quantiles (quantiles kind), in Ranks order,
	// each with an interval derived by post-processing (quantci.go).
	Quantiles []QuantileValue
	// Values is the noisy number of values in the partition (quantiles
	// kind: the per-user sampled values the tree received), clamped at 0,
	// and [ValuesLower, ValuesUpper] its interval. It costs
	// QuantileCountFraction of the metric's noise budget and is what the
	// quantile intervals are derived from.
	Values, ValuesLower, ValuesUpper float64
	// Share of the partition in the total (count only), derived by
	// post-processing: noisy values clamped at 0 and normalized by their sum
	// T. (A users metric counts one user in up to MaxPartitions partitions,
	// so its partitions do not add up to its users: see ShareOfUsers.) [ShareLower, ShareUpper] is a first-order (delta-method) interval:
	// with h the half-width of one value's noise interval at the confidence
	// level and k partitions, share ± h·√((1−s)² + s²(k−1)) / T, clipped to
	// [0, 1]. It is approximate when T is not large compared with h.
	Share, ShareLower, ShareUpper float64
	// Clamped is set when a negative noisy count or non-negative sum was
	// shown as 0.
	Clamped bool
	// NoInterval, when set, says why Value has no confidence interval
	// (Lower = Upper = Value then). Only releases made outside this
	// package (ReleaseExternal) have partitions without one.
	NoInterval string
}

// QuantileValue is one noisy quantile. [Lower, Upper] is a confidence
// interval at the release's level for the quantile at Rank of the bounded
// values (those the tree received), or, when NoInterval is set, there is
// none and NoInterval says why for people (Lower = Upper = Value then).
type QuantileValue struct {
	Rank, Value  float64
	Lower, Upper float64
	NoInterval   string
}

func (o MetricOptions) noise() noise.Noise {
	if o.noiseKind() == NoiseGaussian {
		return noise.Gaussian()
	}
	return noise.Laplace()
}

// partitionAgg holds the library aggregation of one partition.
type partitionAgg struct {
	opt   MetricOptions
	count *dpagg.Count
	isum  *dpagg.BoundedSumInt64
	fsum  *dpagg.BoundedSumFloat64
	mean  *dpagg.BoundedMean
	quant *dpagg.BoundedQuantiles
	qn    *dpagg.BoundedSumInt64 // quantiles: number of values
}

func newPartitionAgg(o MetricOptions) (*partitionAgg, error) {
	eps, del, _, _ := o.split()
	l0, linf := int64(o.MaxPartitions), int64(o.linf())
	pa := &partitionAgg{opt: o}
	var err error
	switch o.Kind {
	case KindUsers:
		pa.count, err = dpagg.NewCount(&dpagg.CountOptions{Epsilon: eps, Delta: del, MaxPartitionsContributed: l0, Noise: o.noise()})
	case KindCount:
		// Per-user totals clamped to [0, l∞] and summed: a bounded sum.
		pa.isum, err = dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{Epsilon: eps, Delta: del, MaxPartitionsContributed: l0, Lower: 0, Upper: linf, Noise: o.noise()})
	case KindSum:
		// One summand per user and partition: the user's sum, clamped to l∞×[lower, upper].
		pa.fsum, err = dpagg.NewBoundedSumFloat64(&dpagg.BoundedSumFloat64Options{Epsilon: eps, Delta: del, MaxPartitionsContributed: l0, Lower: float64(linf) * o.Lower, Upper: float64(linf) * o.Upper, Noise: o.noise()})
	case KindMean:
		pa.mean, err = dpagg.NewBoundedMean(&dpagg.BoundedMeanOptions{Epsilon: eps, Delta: del, MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf, Lower: o.Lower, Upper: o.Upper, Noise: o.noise()})
	case KindQuantiles:
		pa.quant, err = dpagg.NewBoundedQuantiles(&dpagg.BoundedQuantilesOptions{Epsilon: eps, Delta: del, MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf, Lower: o.Lower, Upper: o.Upper, Noise: o.noise()})
		if err == nil {
			// A user gives at most l∞ values to each of at most l0 partitions.
			bp := o.parts()
			pa.qn, err = dpagg.NewBoundedSumInt64(&dpagg.BoundedSumInt64Options{Epsilon: bp.countEps, Delta: bp.countDel, MaxPartitionsContributed: l0, Lower: 0, Upper: linf, Noise: o.noise()})
		}
	default:
		err = fmt.Errorf("kind %q is unknown", o.Kind)
	}
	if err != nil {
		return nil, err
	}
	return pa, nil
}

func newSelector(o MetricOptions) (*dpagg.PreAggSelectPartition, error) {
	_, _, eps, del := o.split()
	return dpagg.NewPreAggSelectPartition(&dpagg.PreAggSelectPartitionOptions{Epsilon: eps, Delta: del, MaxPartitionsContributed: int64(o.MaxPartitions)})
}

// feed adds partition p's bounded pre-noise state.
func (pa *partitionAgg) feed(st preAgg, p int) error {
	switch pa.opt.Kind {
	case KindUsers:
		return pa.count.IncrementBy(st.users[p])
	case KindCount:
		return addTotal(pa.isum, st.total[p], int64(pa.opt.linf()))
	case KindQuantiles:
		if err := addTotal(pa.qn, int64(len(st.values[p])), int64(pa.opt.linf())); err != nil {
			return err
		}
	}
	for _, v := range st.values[p] {
		if err := pa.add(v); err != nil {
			return err
		}
	}
	return nil
}

// add adds one value of the pre-noise state (sum, mean, quantiles).
func (pa *partitionAgg) add(v float64) error {
	switch pa.opt.Kind {
	case KindSum:
		return pa.fsum.Add(v)
	case KindMean:
		return pa.mean.Add(v)
	case KindQuantiles:
		return pa.quant.Add(v)
	}
	return nil
}

// streamed reports whether a release feeds the values to the library
// straight from the per-user state (eachValue), to every partition's
// aggregation at once, instead of first collecting them per partition
// (8 bytes a value, at the end of the run when the per-user state is at
// its largest). Sum and mean aggregations are a few words each; a
// quantiles tree can hold thousands of counts, so those are not all kept
// at once: see streamedEach.
func (o MetricOptions) streamed() bool { return o.Kind == KindSum || o.Kind == KindMean }

// maxPassPartitions is the most partitions whose quantiles are fed by one
// pass over the per-user state each (streamedEach).
const maxPassPartitions = 64

// streamedEach reports whether a quantiles release over nPart partitions
// feeds each partition's tree straight from the per-user state, one pass
// (and one tree) at a time, instead of first collecting the values: for
// few partitions, where the passes cost less than the collected values.
func (o MetricOptions) streamedEach(nPart int) bool {
	return o.Kind == KindQuantiles && nPart <= maxPassPartitions
}

// feedFrom adds partition p's values straight from the per-user state b,
// with one pass over it (see streamedEach).
func (pa *partitionAgg) feedFrom(b *bounder, nPart, p int) error {
	var n int64
	err := b.eachValue(nPart, p, func(_ int, v float64) error {
		n++
		return pa.add(v)
	})
	if err != nil {
		return err
	}
	if pa.opt.Kind == KindQuantiles {
		return addTotal(pa.qn, n, int64(pa.opt.linf()))
	}
	return nil
}

// addTotal adds total to a bounded sum whose summands are in [0, linf], in
// summands of linf: the sum is the same as adding each user's part, and the
// noise depends only on the options.
func addTotal(s *dpagg.BoundedSumInt64, total, linf int64) error {
	q, r := total/linf, total%linf
	for i := int64(0); i < q; i++ {
		if err := s.Add(linf); err != nil {
			return err
		}
	}
	return s.Add(r)
}

// result draws the noise and fills r.
func (pa *partitionAgg) result(r *ReleasedPartition) error {
	alpha := 1 - pa.opt.confidence()
	var ci noise.ConfidenceInterval
	var err error
	switch pa.opt.Kind {
	case KindUsers:
		var v int64
		if v, err = pa.count.Result(); err == nil {
			r.Value = float64(v)
			ci, err = pa.count.ComputeConfidenceInterval(alpha)
		}
	case KindCount:
		var v int64
		if v, err = pa.isum.Result(); err == nil {
			r.Value = float64(v)
			ci, err = pa.isum.ComputeConfidenceInterval(alpha)
		}
	case KindSum:
		if r.Value, err = pa.fsum.Result(); err == nil {
			ci, err = pa.fsum.ComputeConfidenceInterval(alpha)
		}
	case KindMean:
		if r.Value, err = pa.mean.Result(); err == nil {
			ci, err = pa.mean.ComputeConfidenceInterval(alpha)
		}
	case KindQuantiles:
		return pa.quantiles(r)
	}
	if err != nil {
		return err
	}
	r.Lower, r.Upper = ci.LowerBound, ci.UpperBound
	nonNeg := pa.opt.Kind == KindCount || pa.opt.Kind == KindUsers || (pa.opt.Kind == KindSum && pa.opt.Lower >= 0)
	if nonNeg && r.Value < 0 {
		r.Value, r.Clamped = 0, true
	}
	return nil
}

// quantiles releases the count of values and the quantiles, each with its
// interval.
func (pa *partitionAgg) quantiles(r *ReleasedPartition) error {
	o := pa.opt
	alpha := 1 - o.confidence()
	n, err := pa.qn.Result()
	if err != nil {
		return err
	}
	ci, err := pa.qn.ComputeConfidenceInterval(alpha)
	if err != nil {
		return err
	}
	r.Values, r.ValuesLower, r.ValuesUpper = math.Max(0, float64(n)), float64(ci.LowerBound), float64(ci.UpperBound)
	bp := o.parts()
	in := qciInput{
		lower: o.Lower, upper: o.Upper,
		nHat: float64(n), nLow: float64(ci.LowerBound), nUp: float64(ci.UpperBound),
		noise: treeNoise(o.noiseKind(), int64(o.MaxPartitions), float64(o.linf()), bp.noiseEps, bp.noiseDel),
		alpha: alpha,
	}
	for _, rank := range o.Ranks {
		v, err := pa.quant.Result(rank)
		if err != nil {
			return err
		}
		qv := QuantileValue{Rank: rank, Value: v, Lower: v, Upper: v}
		lo, hi, reason, err := quantileInterval(pa.quant.Result, rank, in)
		if err != nil {
			return err
		}
		if reason != "" {
			qv.NoInterval = reason
		} else {
			qv.Lower, qv.Upper = lo, hi
		}
		r.Quantiles = append(r.Quantiles, qv)
	}
	return nil
}

// halfWidth is the half-width of one value's noise interval at confidence
// level c, for count, users and sum.
func (o MetricOptions) halfWidth(c float64) (float64, error) {
	eps, del, _, _ := o.split()
	lInf := float64(o.linf())
	if o.Kind == KindSum {
		lInf *= math.Max(math.Abs(o.Lower), math.Abs(o.Upper))
	}
	ci, err := o.noise().ComputeConfidenceIntervalFloat64(0, int64(o.MaxPartitions), lInf, eps, del, 1-c)
	if err != nil {
		return 0, err
	}
	return ci.UpperBound, nil
}

// Release adds noise and returns the released values. names maps discovered
// partition indexes to names (nil for public partitions). An Aggregator is
// released at most once: releasing again with fresh noise would let an
// observer average the noise away.
func (a *Aggregator) Release(names []string) (*Released, error) {
	o := a.opt
	switch {
	case a.merged:
		return nil, fmt.Errorf("Release: metric %q: aggregator was merged into another one; release that one", o.Name)
	case a.released:
		return nil, fmt.Errorf("Release: metric %q: already released; a second release with fresh noise would let an observer average it away", o.Name)
	case a.public() && names != nil:
		return nil, fmt.Errorf("Release: metric %q: names are only for discovered partitions; public partitions are named by the options", o.Name)
	case !a.public() && len(names) < a.numPartitions():
		return nil, fmt.Errorf("Release: metric %q: names must name every partition index passed to Add", o.Name)
	}
	a.released = true
	rel, err := a.release(names)
	if err != nil {
		return nil, fmt.Errorf("Release: metric %q: %w", o.Name, err)
	}
	return rel, nil
}

// release does the work of Release without the once-only guard; tests call
// it many times on the same pre-noise state.
func (a *Aggregator) release(names []string) (*Released, error) {
	o := a.opt
	each := o.streamedEach(a.numPartitions())
	st := a.b.aggregate(a.numPartitions(), !o.streamed() && !each)
	rel := &Released{
		Name: o.Name, Kind: o.Kind, Epsilon: o.Epsilon, Delta: o.Delta, Rho: o.Rho, Noise: o.noiseKind(),
		ConfidenceLevel: o.confidence(), MaxPartitions: o.MaxPartitions, MaxPerPartition: o.linf(),
		opt: o,
	}
	if o.numeric() {
		rel.Lower, rel.Upper = o.Lower, o.Upper
	}
	type cand struct {
		idx  int
		name string
	}
	var cands []cand
	if a.public() {
		for i, n := range o.Partitions {
			cands = append(cands, cand{i, n})
		}
		last := OtherName
		if len(o.Partitions) == 0 {
			last = TotalName
		}
		if !o.NoOther {
			cands = append(cands, cand{len(o.Partitions), last})
		}
	} else {
		for p := 0; p < a.numPartitions(); p++ {
			if st.users[p] == 0 {
				continue
			}
			sel, err := newSelector(o)
			if err != nil {
				return nil, err
			}
			if err := sel.IncrementBy(st.users[p]); err != nil {
				return nil, err
			}
			keep, err := sel.ShouldKeepPartition()
			if err != nil {
				return nil, err
			}
			if keep {
				cands = append(cands, cand{p, names[p]})
			}
		}
		// Index order may follow the order of first appearance in the data:
		// publish in name order instead.
		sort.Slice(cands, func(i, j int) bool { return cands[i].name < cands[j].name })
	}
	pas := make([]*partitionAgg, len(cands))
	if o.streamed() {
		byIdx := make([]*partitionAgg, a.numPartitions())
		for i, c := range cands {
			pa, err := newPartitionAgg(o)
			if err != nil {
				return nil, err
			}
			pas[i], byIdx[c.idx] = pa, pa
		}
		err := a.b.eachValue(len(byIdx), -1, func(p int, v float64) error {
			if pa := byIdx[p]; pa != nil {
				return pa.add(v)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	clamped := 0
	for i, c := range cands {
		pa := pas[i]
		if pa == nil {
			var err error
			if pa, err = newPartitionAgg(o); err != nil {
				return nil, err
			}
			if each {
				err = pa.feedFrom(a.b, a.numPartitions(), c.idx)
			} else {
				err = pa.feed(st, c.idx)
			}
			if err != nil {
				return nil, err
			}
		}
		rp := ReleasedPartition{Name: c.name}
		if err := pa.result(&rp); err != nil {
			return nil, err
		}
		if rp.Clamped {
			clamped++
		}
		rel.Partitions = append(rel.Partitions, rp)
	}
	if clamped > 0 {
		rel.Warnings = append(rel.Warnings, clampedWarning(clamped))
	}
	if o.Kind == KindCount {
		if err := a.shares(rel); err != nil {
			return nil, err
		}
	}
	if o.CapsCutFraction > 0 {
		cc, err := a.capsCut()
		if err != nil {
			return nil, err
		}
		rel.CapsCut = cc
	}
	return rel, nil
}

// capsCut releases the caps-cut estimate (see CapsCut).
func (a *Aggregator) capsCut() (*CapsCut, error) {
	o := a.opt
	bp := o.parts()
	cut, kept := a.b.capsCut()
	alpha := 1 - o.confidence()
	release := func(n int64) (v int64, full, half noise.ConfidenceInterval, err error) {
		c, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: bp.capsEps, Delta: bp.capsDel, MaxPartitionsContributed: 1, Noise: o.noise()})
		if err != nil {
			return 0, full, half, err
		}
		if err = c.IncrementBy(n); err != nil {
			return 0, full, half, err
		}
		if v, err = c.Result(); err != nil {
			return 0, full, half, err
		}
		if full, err = c.ComputeConfidenceInterval(alpha); err != nil {
			return 0, full, half, err
		}
		half, err = c.ComputeConfidenceInterval(alpha / 2)
		return v, full, half, err
	}
	c, cFull, cHalf, err := release(cut)
	if err != nil {
		return nil, err
	}
	k, _, kHalf, err := release(kept)
	if err != nil {
		return nil, err
	}
	pos := func(x float64) float64 { return math.Max(0, x) }
	cc := &CapsCut{
		Epsilon: bp.capsEps, Delta: bp.capsDel,
		Rho:   o.rhoParts().caps,
		Users: pos(float64(c)), UsersLower: pos(cFull.LowerBound), UsersUpper: pos(cFull.UpperBound),
		Contributing:      pos(float64(c)) + pos(float64(k)),
		ContributingLower: pos(cHalf.LowerBound) + pos(kHalf.LowerBound),
		ContributingUpper: pos(cHalf.UpperBound) + pos(kHalf.UpperBound),
		ShareUpper:        1,
	}
	if o.zcdp() {
		cc.Epsilon, cc.Delta = 0, 0 // only the library's calibration: ρ is what was spent
	}
	if cc.Contributing > 0 {
		cc.Share = cc.Users / cc.Contributing
	}
	// cut/(cut+kept) grows with cut and falls with kept.
	if lo, d := pos(cHalf.LowerBound), pos(cHalf.LowerBound)+pos(kHalf.UpperBound); d > 0 {
		cc.ShareLower = lo / d
	}
	if hi, d := pos(cHalf.UpperBound), pos(cHalf.UpperBound)+pos(kHalf.LowerBound); d > 0 {
		cc.ShareUpper = hi / d
	}
	return cc, nil
}

// shares post-processes the noisy counts into shares (no privacy cost).
func (a *Aggregator) shares(rel *Released) error {
	var total float64
	for _, p := range rel.Partitions {
		total += math.Max(0, p.Value)
	}
	k := float64(len(rel.Partitions))
	if total == 0 {
		for i := range rel.Partitions {
			rel.Partitions[i].ShareUpper = 1
		}
		if len(rel.Partitions) > 0 {
			rel.Warnings = append(rel.Warnings, "all noisy values are 0 or less: shares are undefined and shown as 0 with interval [0, 1]")
		}
		return nil
	}
	h, err := a.opt.halfWidth(a.opt.confidence())
	if err != nil {
		return err
	}
	for i := range rel.Partitions {
		p := &rel.Partitions[i]
		s := math.Max(0, p.Value) / total
		w := h * math.Sqrt((1-s)*(1-s)+s*s*(k-1)) / total
		p.Share, p.ShareLower, p.ShareUpper = s, math.Max(0, s-w), math.Min(1, s+w)
	}
	if total < 3*h*math.Sqrt(k) {
		rel.Warnings = append(rel.Warnings, "the noisy total is small compared with the noise: share intervals are rough")
	}
	return nil
}

// clampedWarning says that n partitions had a negative noisy value.
func clampedWarning(n int) string {
	if n == 1 {
		return "1 partition had a negative noisy value, shown as 0"
	}
	return fmt.Sprintf("%d partitions had a negative noisy value, shown as 0", n)
}
