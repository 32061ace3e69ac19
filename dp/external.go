package dp

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Releases computed outside this package: another engine (Privacy on Beam,
// in bin/dpstats-beam) bounds the contributions and draws the library's
// noise itself, with the parameters of MetricOptions.Split, and hands over
// only noisy per-partition values. ReleaseExternal turns them into a
// *Released with the same post-processing as Aggregator.Release (clamping,
// shares, caps-cut shares) and with the confidence intervals that follow
// from the public noise parameters alone, where they are exactly those of
// the noise the engine added. Nothing here sees private data.

// ExternalPartition is one partition's noisy result, as drawn by the
// engine: unclamped.
type ExternalPartition struct {
	Name string
	// Value is the noisy count, users count, sum or mean.
	Value float64
	// Quantiles are the noisy quantiles (quantiles kind), in Ranks order.
	Quantiles []float64
	// Values is the noisy number of values (quantiles kind), drawn with
	// Split().ValueCount; HasValues says whether the engine released it.
	Values    float64
	HasValues bool
}

// ExternalCapsCut is the engine's caps-cut estimate: the noisy numbers of
// users who were cut and who were not, each a count of users with one
// contribution per user, drawn with Split().CapsCut.
type ExternalCapsCut struct {
	Cut, Kept float64
}

// ExternalRelease is everything an engine hands over for one metric.
type ExternalRelease struct {
	Partitions []ExternalPartition
	// CapsCut is nil when the engine did not release the estimate; then
	// CapsCutNote must say why (it becomes a warning of the release).
	CapsCut     *ExternalCapsCut
	CapsCutNote string
	// MeanNoInterval says why a mean has no confidence interval (required
	// for the mean kind: its interval needs the noisy count and sum inside
	// the library's BoundedMean, which an external engine does not expose).
	MeanNoInterval string
	// QuantileNoInterval says why the quantiles have no interval (required
	// for the quantiles kind: the interval is derived from the tree at
	// other ranks than the released ones).
	QuantileNoInterval string
}

// ReleaseExternal builds the release of a metric from an engine's noisy
// results. With public partitions, every public partition (and "other" or
// "total") must be present, once; with selected partitions, any set of
// distinct non-empty names is taken, published in name order.
func ReleaseExternal(opt MetricOptions, ext ExternalRelease) (*Released, error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("external release: %w", err)
	}
	if opt.zcdp() {
		return nil, fmt.Errorf("external release: metric %q: zCDP accounting is not supported for external engines", opt.Name)
	}
	switch {
	case opt.Kind == KindMean && ext.MeanNoInterval == "":
		return nil, fmt.Errorf("external release: metric %q: a mean needs the reason it has no interval", opt.Name)
	case opt.Kind == KindQuantiles && ext.QuantileNoInterval == "":
		return nil, fmt.Errorf("external release: metric %q: quantiles need the reason they have no interval", opt.Name)
	case opt.CapsCutFraction > 0 && ext.CapsCut == nil && ext.CapsCutNote == "":
		return nil, fmt.Errorf("external release: metric %q: the caps-cut estimate is missing and no reason is given", opt.Name)
	}
	opt.Partitions = slices.Clone(opt.Partitions)
	opt.Ranks = slices.Clone(opt.Ranks)
	parts, err := externalOrder(opt, ext.Partitions)
	if err != nil {
		return nil, fmt.Errorf("external release: metric %q: %w", opt.Name, err)
	}
	rel := &Released{
		Name: opt.Name, Kind: opt.Kind, Epsilon: opt.Epsilon, Delta: opt.Delta, Noise: opt.noiseKind(),
		ConfidenceLevel: opt.confidence(), MaxPartitions: opt.MaxPartitions, MaxPerPartition: opt.linf(),
		opt: opt,
	}
	if opt.numeric() {
		rel.Lower, rel.Upper = opt.Lower, opt.Upper
	}
	clamped := 0
	for _, p := range parts {
		rp, err := externalPartition(opt, p, ext)
		if err != nil {
			return nil, fmt.Errorf("external release: metric %q: partition %q: %w", opt.Name, p.Name, err)
		}
		if rp.Clamped {
			clamped++
		}
		rel.Partitions = append(rel.Partitions, rp)
	}
	if clamped > 0 {
		rel.Warnings = append(rel.Warnings, clampedWarning(clamped))
	}
	if opt.Kind == KindCount {
		a := &Aggregator{opt: opt}
		if err := a.shares(rel); err != nil {
			return nil, fmt.Errorf("external release: metric %q: %w", opt.Name, err)
		}
	}
	if opt.CapsCutFraction > 0 {
		if ext.CapsCut == nil {
			rel.Warnings = append(rel.Warnings, ext.CapsCutNote)
		} else if rel.CapsCut, err = externalCapsCut(opt, *ext.CapsCut); err != nil {
			return nil, fmt.Errorf("external release: metric %q: %w", opt.Name, err)
		}
	}
	return rel, nil
}

// externalOrder checks the partitions and puts them in release order.
func externalOrder(opt MetricOptions, in []ExternalPartition) ([]ExternalPartition, error) {
	byName := make(map[string]ExternalPartition, len(in))
	for _, p := range in {
		if _, dup := byName[p.Name]; dup {
			return nil, fmt.Errorf("partition %q given twice", p.Name)
		}
		if p.Name == "" {
			return nil, errors.New("a partition has no name")
		}
		if opt.Kind == KindQuantiles && len(p.Quantiles) != len(opt.Ranks) {
			return nil, fmt.Errorf("partition %q has %d quantiles, want %d", p.Name, len(p.Quantiles), len(opt.Ranks))
		}
		byName[p.Name] = p
	}
	if opt.SelectPartitions {
		out := slices.Clone(in)
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	}
	names := slices.Clone(opt.Partitions)
	switch {
	case len(opt.Partitions) == 0:
		names = append(names, TotalName)
	case !opt.NoOther:
		names = append(names, OtherName)
	}
	if len(in) != len(names) {
		return nil, fmt.Errorf("%d partitions given, want the %d public ones", len(in), len(names))
	}
	out := make([]ExternalPartition, len(names))
	for i, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("public partition %q is missing", n)
		}
		out[i] = p
	}
	return out, nil
}

// noiseInterval is the library's confidence interval of a noisy value
// drawn with (l0, l∞, ε, δ), trimmed like dpagg's for sums whose bounds do
// not straddle 0 (lower, upper: the per-summand bounds).
func noiseInterval(o MetricOptions, v float64, integer bool, l0 int64, linf, lower, upper, eps, del, alpha float64) (noise.ConfidenceInterval, error) {
	var ci noise.ConfidenceInterval
	var err error
	if integer {
		ci, err = o.noise().ComputeConfidenceIntervalInt64(int64(math.Round(v)), l0, int64(linf), eps, del, alpha)
	} else {
		ci, err = o.noise().ComputeConfidenceIntervalFloat64(v, l0, linf, eps, del, alpha)
	}
	if err != nil {
		return ci, err
	}
	if lower >= 0 {
		ci.LowerBound, ci.UpperBound = math.Max(0, ci.LowerBound), math.Max(0, ci.UpperBound)
	}
	if upper <= 0 {
		ci.LowerBound, ci.UpperBound = math.Min(0, ci.LowerBound), math.Min(0, ci.UpperBound)
	}
	return ci, nil
}

func externalPartition(o MetricOptions, p ExternalPartition, ext ExternalRelease) (ReleasedPartition, error) {
	r := ReleasedPartition{Name: p.Name}
	bp := o.parts()
	alpha := 1 - o.confidence()
	l0 := int64(o.MaxPartitions)
	linf := float64(o.linf())
	var ci noise.ConfidenceInterval
	var err error
	switch o.Kind {
	case KindUsers:
		// dpagg.Count: l∞ 1.
		r.Value = math.Round(p.Value)
		ci, err = noiseInterval(o, r.Value, true, l0, 1, 0, 1, bp.noiseEps, bp.noiseDel, alpha)
	case KindCount:
		// dpagg.BoundedSumInt64 over per-user totals in [0, l∞].
		r.Value = math.Round(p.Value)
		ci, err = noiseInterval(o, r.Value, true, l0, linf, 0, linf, bp.noiseEps, bp.noiseDel, alpha)
	case KindSum:
		// dpagg.BoundedSumFloat64 over per-user sums in l∞×[lower, upper].
		lo, hi := linf*o.Lower, linf*o.Upper
		r.Value = p.Value
		ci, err = noiseInterval(o, r.Value, false, l0, math.Max(math.Abs(lo), math.Abs(hi)), lo, hi, bp.noiseEps, bp.noiseDel, alpha)
	case KindMean:
		r.Value = p.Value
		r.NoInterval = ext.MeanNoInterval
		r.Lower, r.Upper = r.Value, r.Value
		return r, nil
	case KindQuantiles:
		if p.HasValues {
			n := math.Round(p.Values)
			vci, err := noiseInterval(o, n, true, l0, linf, 0, linf, bp.countEps, bp.countDel, alpha)
			if err != nil {
				return r, err
			}
			r.Values, r.ValuesLower, r.ValuesUpper = math.Max(0, n), vci.LowerBound, vci.UpperBound
		}
		for i, rank := range o.Ranks {
			v := p.Quantiles[i]
			r.Quantiles = append(r.Quantiles, QuantileValue{Rank: rank, Value: v, Lower: v, Upper: v, NoInterval: ext.QuantileNoInterval})
		}
		return r, nil
	}
	if err != nil {
		return r, err
	}
	r.Lower, r.Upper = ci.LowerBound, ci.UpperBound
	nonNeg := o.Kind == KindCount || o.Kind == KindUsers || (o.Kind == KindSum && o.Lower >= 0)
	if nonNeg && r.Value < 0 {
		r.Value, r.Clamped = 0, true
	}
	return r, nil
}

// externalCapsCut is capsCut's post-processing of two noisy user counts
// (dpagg.Count, l0 = 1, drawn with Split().CapsCut).
func externalCapsCut(o MetricOptions, ext ExternalCapsCut) (*CapsCut, error) {
	bp := o.parts()
	alpha := 1 - o.confidence()
	intervals := func(v float64) (full, half noise.ConfidenceInterval, err error) {
		if full, err = noiseInterval(o, v, true, 1, 1, 0, 1, bp.capsEps, bp.capsDel, alpha); err != nil {
			return full, half, err
		}
		half, err = noiseInterval(o, v, true, 1, 1, 0, 1, bp.capsEps, bp.capsDel, alpha/2)
		return full, half, err
	}
	c, k := math.Round(ext.Cut), math.Round(ext.Kept)
	cFull, cHalf, err := intervals(c)
	if err != nil {
		return nil, err
	}
	_, kHalf, err := intervals(k)
	if err != nil {
		return nil, err
	}
	return capsCutOf(bp, c, k, cFull, cHalf, kHalf), nil
}

// capsCutOf is the post-processing of the two noisy counts into a CapsCut.
func capsCutOf(bp budgetParts, c, k float64, cFull, cHalf, kHalf noise.ConfidenceInterval) *CapsCut {
	pos := func(x float64) float64 { return math.Max(0, x) }
	cc := &CapsCut{
		Epsilon: bp.capsEps, Delta: bp.capsDel,
		Users: pos(c), UsersLower: pos(cFull.LowerBound), UsersUpper: pos(cFull.UpperBound),
		Contributing:      pos(c) + pos(k),
		ContributingLower: pos(cHalf.LowerBound) + pos(kHalf.LowerBound),
		ContributingUpper: pos(cHalf.UpperBound) + pos(kHalf.UpperBound),
		ShareUpper:        1,
	}
	if cc.Contributing > 0 {
		cc.Share = cc.Users / cc.Contributing
	}
	if lo, d := pos(cHalf.LowerBound), pos(cHalf.LowerBound)+pos(kHalf.UpperBound); d > 0 {
		cc.ShareLower = lo / d
	}
	if hi, d := pos(cHalf.UpperBound), pos(cHalf.UpperBound)+pos(kHalf.LowerBound); d > 0 {
		cc.ShareUpper = hi / d
	}
	return cc
}
