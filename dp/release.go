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
}

// ReleasedPartition is one partition of a release.
type ReleasedPartition struct {
	Name string
	// Value is the noisy value and [Lower, Upper] its confidence interval at
	// the release's confidence level, from the library (count, users, sum,
	// mean). Zero for quantiles, which use Quantiles instead.
	Value, Lower, Upper float64
	// Quantiles holds the noisy quantiles (quantiles kind), in Ranks order.
	// The library offers no confidence interval for quantiles.
	Quantiles []QuantileValue
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
}

// QuantileValue is one noisy quantile.
type QuantileValue struct{ Rank, Value float64 }

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
		linf := int64(pa.opt.linf())
		q, r := st.total[p]/linf, st.total[p]%linf
		for i := int64(0); i < q; i++ {
			if err := pa.isum.Add(linf); err != nil {
				return err
			}
		}
		return pa.isum.Add(r)
	}
	for _, v := range st.values[p] {
		var err error
		switch pa.opt.Kind {
		case KindSum:
			err = pa.fsum.Add(v)
		case KindMean:
			err = pa.mean.Add(v)
		case KindQuantiles:
			err = pa.quant.Add(v)
		}
		if err != nil {
			return err
		}
	}
	return nil
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
		for _, rank := range pa.opt.Ranks {
			v, err := pa.quant.Result(rank)
			if err != nil {
				return err
			}
			r.Quantiles = append(r.Quantiles, QuantileValue{Rank: rank, Value: v})
		}
		return nil
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
	st := a.preNoise()
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
		cands = append(cands, cand{len(o.Partitions), last})
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
	clamped := 0
	for _, c := range cands {
		pa, err := newPartitionAgg(o)
		if err != nil {
			return nil, err
		}
		if err := pa.feed(st, c.idx); err != nil {
			return nil, err
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
	return rel, nil
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
