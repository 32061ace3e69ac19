package dp

import (
	"fmt"
	"math"
)

// NoiseKind names the noise distribution of a metric.
type NoiseKind string

// Noise kinds. The empty string means NoiseLaplace.
const (
	NoiseLaplace  NoiseKind = "laplace"
	NoiseGaussian NoiseKind = "gaussian"
)

// Kind names what a metric computes per partition.
type Kind string

// Metric kinds.
const (
	KindCount     Kind = "count"     // events per partition (per-user totals clamped to MaxPerPartition)
	KindUsers     Kind = "users"     // distinct users per partition
	KindSum       Kind = "sum"       // sum of a numeric value
	KindMean      Kind = "mean"      // mean of a numeric value
	KindQuantiles Kind = "quantiles" // quantiles of a numeric value
)

// OtherName is the name of the extra partition that collects every value
// outside a metric's public partition list. TotalName is the name of the
// single partition of a metric that has no partition list at all.
const (
	OtherName = "other"
	TotalName = "total"
)

// DefaultConfidenceLevel is used when MetricOptions.ConfidenceLevel is 0.
const DefaultConfidenceLevel = 0.95

// MetricOptions describes one metric: what it computes, its share of the
// privacy budget and how each user's contributions are bounded.
type MetricOptions struct {
	// Name of the metric, used in errors and in the release. Required.
	Name string
	// Kind of aggregation. Required.
	Kind Kind
	// This metric's share of the run's budget. Epsilon is required (> 0).
	// Delta must be in [0, 1); it must be > 0 with Gaussian noise or with
	// partition selection. With Laplace noise and no selection, δ is not
	// needed by the mechanism (the metric is pure ε-DP); it is still reported
	// as charged.
	Epsilon, Delta float64
	// Rho, when > 0, accounts the metric in zero-concentrated DP instead
	// (Epsilon must then be 0): the metric is ρ-zCDP, or (ρ, δ)-zCDP when it
	// selects partitions, and its noise is calibrated from ρ (see zcdp.go).
	// Gaussian noise then needs no δ; Delta is only for partition selection.
	Rho float64
	// Noise distribution. Defaults to Laplace.
	Noise NoiseKind
	// MaxPartitions (l0) bounds the partitions a user contributes to; they are
	// chosen uniformly at random among the user's partitions. Required, ≥ 1.
	MaxPartitions int
	// MaxPerPartition (l∞) bounds a user's contribution to one partition:
	// count: the user's event total is clamped to it; users: ignored (1);
	// sum: the user's sum of clamped values is clamped to
	// [MaxPerPartition×Lower, MaxPerPartition×Upper];
	// mean/quantiles: at most this many of the user's values, sampled
	// uniformly at random, are used. Required (≥ 1) except for users.
	MaxPerPartition int
	// Lower and Upper clamp each value of sum/mean/quantiles. Required for
	// those kinds: finite, Lower < Upper.
	Lower, Upper float64
	// Ranks of the quantiles kind, each in (0, 1), e.g. 0.5, 0.9, 0.99.
	Ranks []float64
	// Partitions is the public partition list. Partition index
	// len(Partitions) is "other" (or "total" when the list is empty and no
	// selection is asked for). Must be empty when SelectPartitions is set.
	Partitions []string
	// NoOther says that the public partitions cover every value (bucketed
	// numeric dimensions): there is no "other" partition, and an Add to an
	// index outside the list is dropped. Needs a non-empty Partitions.
	NoOther bool
	// SelectPartitions asks for partitions discovered from the data; each
	// passes DP partition selection (dpagg.PreAggSelectPartition). The
	// metric's budget is then split: ε/2 for selection and ε/2 for noise; with
	// Laplace noise all of δ goes to selection, with Gaussian noise δ/2 each.
	SelectPartitions bool
	// ConfidenceLevel of the released intervals, in (0, 1). Defaults to 0.95.
	ConfidenceLevel float64
	// CapsCutFraction is the part of the metric's ε (and δ with Gaussian
	// noise) spent on estimating how many of its users the per-user caps
	// (MaxPartitions, MaxPerPartition) cut: a noisy count of the users who
	// were cut and of those who were not (see Released.CapsCut). 0 turns the
	// estimate off. In [0, 0.5].
	CapsCutFraction float64
	// Seed is a TEST-ONLY hook that makes the random choice of partitions and
	// values reproducible. Leave nil in production: the choice then uses keys
	// from crypto/rand. Noise never depends on it: it always comes from the
	// library's secure samplers.
	Seed *int64
}

func (o MetricOptions) noiseKind() NoiseKind {
	if o.Noise == "" {
		return NoiseLaplace
	}
	return o.Noise
}

func (o MetricOptions) confidence() float64 {
	if o.ConfidenceLevel == 0 {
		return DefaultConfidenceLevel
	}
	return o.ConfidenceLevel
}

// linf is the effective per-partition bound (1 for users).
func (o MetricOptions) linf() int {
	if o.Kind == KindUsers {
		return 1
	}
	return o.MaxPerPartition
}

func (o MetricOptions) numeric() bool {
	return o.Kind == KindSum || o.Kind == KindMean || o.Kind == KindQuantiles
}

// QuantileCountFraction is the part of a quantiles metric's noise budget
// (after the caps-cut estimate and partition selection took theirs) spent on
// a noisy count of the values in each partition. The quantile tree gets the
// rest. The count is what turns the tree's noise into a rank error, and so
// into an interval for each released quantile (see quantci.go).
const QuantileCountFraction = 0.1

// budgetParts is how a metric's (ε, δ) is split among its mechanisms. By
// basic composition the parts sum to at most the metric's share.
type budgetParts struct {
	noiseEps, noiseDel float64 // the aggregation (the quantile tree for quantiles)
	selEps, selDel     float64 // partition selection
	capsEps, capsDel   float64 // the caps-cut estimate
	countEps, countDel float64 // quantiles: the noisy count of values per partition
}

// minus returns a−b, rounded down if needed so that (a−b)+b ≤ a.
func minus(a, b float64) float64 {
	r := a - b
	for r > 0 && r+b > a {
		r = math.Nextafter(r, 0)
	}
	return max(r, 0)
}

// parts splits the metric's budget: first the caps-cut estimate's share
// (CapsCutFraction of ε, and of δ with Gaussian noise), then, of the rest,
// half for partition selection if asked (with Laplace noise all of δ goes to
// selection, with Gaussian noise δ/2 each), and for quantiles
// QuantileCountFraction of the noise part for the count of values.
func (o MetricOptions) parts() budgetParts {
	if o.zcdp() {
		return o.zcdpParts()
	}
	gauss := o.noiseKind() == NoiseGaussian
	var p budgetParts
	eps, del := o.Epsilon, o.Delta
	if o.CapsCutFraction > 0 {
		p.capsEps = o.Epsilon * o.CapsCutFraction
		eps = minus(o.Epsilon, p.capsEps)
		if gauss {
			p.capsDel = o.Delta * o.CapsCutFraction
			del = minus(o.Delta, p.capsDel)
		}
	}
	switch {
	case !o.SelectPartitions && gauss:
		p.noiseEps, p.noiseDel = eps, del
	case !o.SelectPartitions:
		p.noiseEps = eps
	case gauss:
		p.noiseEps, p.noiseDel, p.selEps, p.selDel = eps/2, del/2, eps/2, del/2
	default:
		p.noiseEps, p.selEps, p.selDel = eps/2, eps/2, del
	}
	if o.Kind == KindQuantiles {
		p.countEps = p.noiseEps * QuantileCountFraction
		p.noiseEps = minus(p.noiseEps, p.countEps)
		if gauss {
			p.countDel = p.noiseDel * QuantileCountFraction
			p.noiseDel = minus(p.noiseDel, p.countDel)
		}
	}
	return p
}

// split returns the (ε, δ) used for noise and for partition selection.
func (o MetricOptions) split() (epsNoise, delNoise, epsSel, delSel float64) {
	p := o.parts()
	return p.noiseEps, p.noiseDel, p.selEps, p.selDel
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Validate checks the options before any data is read. Errors name the
// metric, the bad value and the rule.
func (o MetricOptions) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("Validate: metric %q: %s", o.Name, fmt.Sprintf(format, args...))
	}
	if o.Name == "" {
		return bad("name is empty; every metric needs a name")
	}
	switch o.Kind {
	case KindCount, KindUsers, KindSum, KindMean, KindQuantiles:
	default:
		return bad("kind %q is unknown; use count, users, sum, mean or quantiles", o.Kind)
	}
	switch {
	case o.Rho != 0 && (!finite(o.Rho) || o.Rho < 0):
		return bad("rho = %v, must be finite and > 0", o.Rho)
	case o.Rho > 0 && o.Epsilon != 0:
		return bad("epsilon = %v and rho = %v: give one (pure accounting: epsilon; zCDP: rho)", o.Epsilon, o.Rho)
	case o.Rho > 0:
		if err := o.validateRho(); err != nil {
			return bad("%v", err)
		}
	case !finite(o.Epsilon) || o.Epsilon <= 0:
		return bad("epsilon = %v, must be finite and > 0", o.Epsilon)
	}
	if math.IsNaN(o.Delta) || o.Delta < 0 || o.Delta >= 1 {
		return bad("delta = %v, must be in [0, 1)", o.Delta)
	}
	switch o.noiseKind() {
	case NoiseLaplace:
	case NoiseGaussian:
		if o.Delta == 0 && !o.zcdp() {
			return bad("gaussian noise needs delta > 0 (got 0); use laplace noise for pure ε-DP")
		}
	default:
		return bad("noise %q is unknown; use laplace or gaussian", o.Noise)
	}
	if o.MaxPartitions < 1 {
		return bad("max_partitions = %d, must be ≥ 1", o.MaxPartitions)
	}
	if o.Kind != KindUsers && o.MaxPerPartition < 1 {
		return bad("max_per_partition = %d, must be ≥ 1", o.MaxPerPartition)
	}
	if o.numeric() {
		if !finite(o.Lower) || !finite(o.Upper) {
			return bad("bounds [%v, %v] must be finite", o.Lower, o.Upper)
		}
		if o.Lower >= o.Upper {
			return bad("lower = %v must be < upper = %v", o.Lower, o.Upper)
		}
	}
	if o.Kind == KindQuantiles {
		if len(o.Ranks) == 0 {
			return bad("quantiles need at least one rank, e.g. 0.5")
		}
		for _, r := range o.Ranks {
			if math.IsNaN(r) || r <= 0 || r >= 1 {
				return bad("rank %v must be in (0, 1)", r)
			}
		}
	}
	if o.SelectPartitions {
		if len(o.Partitions) > 0 {
			return bad("select_partitions is set together with %d public partitions; use one or the other", len(o.Partitions))
		}
		if o.Delta == 0 {
			return bad("partition selection needs delta > 0 (got 0)")
		}
	}
	if o.NoOther && len(o.Partitions) == 0 {
		return bad("no_other needs a public partition list that covers every value")
	}
	seen := make(map[string]bool, len(o.Partitions))
	for _, p := range o.Partitions {
		if p == OtherName {
			return bad("partition name %q is reserved for values outside the list", p)
		}
		if seen[p] {
			return bad("partition %q is listed twice", p)
		}
		seen[p] = true
	}
	if f := o.CapsCutFraction; math.IsNaN(f) || f < 0 || f > 0.5 {
		return bad("caps-cut fraction = %v, must be in [0, 0.5]", f)
	}
	if c := o.ConfidenceLevel; c != 0 && (math.IsNaN(c) || c <= 0 || c >= 1) {
		return bad("confidence level = %v, must be in (0, 1)", c)
	}
	if err := o.checkGaussianEpsilon(); err != nil {
		return bad("%v", err)
	}
	return nil
}

// BudgetSplit is how a metric's (ε, δ) share is divided among the
// mechanisms that spend it; the parts sum to at most the share.
type BudgetSplit struct {
	// Aggregation is the metric's own noise (for quantiles: the tree).
	Aggregation Budget
	// Selection is DP partition selection (SelectPartitions).
	Selection Budget
	// CapsCut is the estimate of how many users the caps cut.
	CapsCut Budget
	// ValueCount is, for quantiles, the noisy count of values per partition
	// their intervals are derived from.
	ValueCount Budget
}

// Split returns how the metric's budget is divided (see MetricOptions).
func (o MetricOptions) Split() BudgetSplit {
	p := o.parts()
	return BudgetSplit{
		Aggregation: Budget{p.noiseEps, p.noiseDel},
		Selection:   Budget{p.selEps, p.selDel},
		CapsCut:     Budget{p.capsEps, p.capsDel},
		ValueCount:  Budget{p.countEps, p.countDel},
	}
}
