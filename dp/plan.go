package dp

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// ExpectedError is the data-independent error model of one released value
// of a metric, used by `dpstats plan` before any data is read.
type ExpectedError struct {
	// StdDev is the standard deviation of a released value's noise (for
	// mean: of the released mean of a partition holding its even part of
	// Users × EventsPerUser values, in the worst case of a mean at a bound).
	StdDev float64
	// HalfWidth95 is the half-width of the 95% interval of that noise.
	HalfWidth95 float64
	// ShareHalfWidthPP is the 95% half-width, in percentage points, of a
	// partition's share (count and users), assuming Users users who each
	// contribute PlanInput.EventsPerUser events (count) or one partition
	// (users), spread evenly over the public partitions (or a small
	// partition when partitions are discovered).
	ShareHalfWidthPP float64
	// EventsPerUser is the bounded contribution per user the share and mean
	// figures assume (events for count, values for mean, partitions for
	// users).
	EventsPerUser float64
	// RankHalfWidthPP is, for quantiles, the 95% half-width in percentiles
	// of the rank error of a released quantile due to the tree's noise, at
	// Users × EventsPerUser values in a partition (what the released
	// intervals are made of, before they are widened to the tree's grid).
	RankHalfWidthPP float64
	// CapsCutHalfWidthPP is the 95% half-width, in percentage points, of the
	// released share of users the caps cut (worst case, share near 0 or 1),
	// at Users users; 0 when no caps-cut estimate is released.
	CapsCutHalfWidthPP float64
	// Note explains what the figures mean when there is no closed form.
	Note string
}

// sigma is the standard deviation of the library's noise for these
// sensitivities and budget.
func sigma(n NoiseKind, l0 int64, lInf, eps, del float64) float64 {
	if n == NoiseGaussian {
		return noise.SigmaForGaussian(l0, lInf, eps, del)
	}
	return math.Sqrt2 * float64(l0) * lInf / eps
}

// PlanInput is what PlanErrorFor assumes about the data.
type PlanInput struct {
	// Users is the number of users who contribute to the metric, ≥ 1.
	Users int
	// EventsPerUser is the expected number of events (count) or values
	// (sum, mean, quantiles) one user contributes to the metric in a period,
	// after the caps; it is capped at MaxPartitions × MaxPerPartition. 0
	// means MaxPerPartition: users who each fill the cap of one partition.
	// Past releases tell it: a count metric's total / its caps-cut
	// contributing users. Users metrics ignore it.
	EventsPerUser float64
	// PartitionsPerUser is, for users metrics, the expected number of
	// partitions one user counts in, capped at MaxPartitions; 0 means 1. A
	// past release tells it the same way: total / contributing users.
	PartitionsPerUser float64
	// Population is, for users metrics, the options of the released count
	// of the metric's consent category's users (the quality gate's count)
	// that its shares are divided by (ShareOfUsers); nil gives no share
	// error for a users metric.
	Population *MetricOptions
}

// PlanError returns the expected error of a metric's released values for an
// assumed number of users, each contributing MaxPerPartition events or
// values (PlanInput's default). It reads no data and spends no budget.
func PlanError(opt MetricOptions, users int) (ExpectedError, error) {
	return PlanErrorFor(opt, PlanInput{Users: users})
}

// PlanErrorFor returns the expected error of a metric's released values
// under in. It reads no data and spends no budget.
func PlanErrorFor(opt MetricOptions, in PlanInput) (ExpectedError, error) {
	users := in.Users
	if err := opt.Validate(); err != nil {
		return ExpectedError{}, fmt.Errorf("PlanError: %w", err)
	}
	if users < 1 {
		return ExpectedError{}, fmt.Errorf("PlanError: metric %q: users = %d, must be ≥ 1", opt.Name, users)
	}
	for _, e := range []float64{in.EventsPerUser, in.PartitionsPerUser} {
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 {
			return ExpectedError{}, fmt.Errorf("PlanError: metric %q: events or partitions per user = %v, must be ≥ 0", opt.Name, e)
		}
	}
	eps, del, _, _ := opt.split()
	n := opt.noiseKind()
	l0 := int64(opt.MaxPartitions)
	linf := float64(opt.linf())
	var e ExpectedError
	e.EventsPerUser = 1
	if opt.Kind == KindUsers && in.PartitionsPerUser > 0 {
		e.EventsPerUser = math.Min(in.PartitionsPerUser, float64(l0))
	}
	if opt.Kind != KindUsers {
		e.EventsPerUser = linf
		if in.EventsPerUser > 0 {
			e.EventsPerUser = math.Min(in.EventsPerUser, float64(l0)*linf)
		}
	}
	// total is the expected sum of the bounded contributions (count: events;
	// users: users; mean, quantiles: values), spread evenly over the k
	// published partitions (1 when they are discovered).
	total := float64(users) * e.EventsPerUser
	k := 1.0
	if !opt.SelectPartitions {
		k = float64(len(opt.Partitions))
		if !opt.NoOther {
			k++
		}
	}
	perPartition := total / k
	switch opt.Kind {
	case KindCount, KindUsers, KindSum:
		lInf := linf
		if opt.Kind == KindSum {
			lInf *= math.Max(math.Abs(opt.Lower), math.Abs(opt.Upper))
		}
		e.StdDev = sigma(n, l0, lInf, eps, del)
		ci, err := opt.noise().ComputeConfidenceIntervalFloat64(0, l0, lInf, eps, del, 0.05)
		if err != nil {
			return ExpectedError{}, fmt.Errorf("PlanError: metric %q: %w", opt.Name, err)
		}
		e.HalfWidth95 = ci.UpperBound
		switch {
		case opt.Kind == KindCount:
			s := 0.0 // a small discovered partition
			if !opt.SelectPartitions {
				s = 1 / k
			}
			e.ShareHalfWidthPP = 100 * e.HalfWidth95 * math.Sqrt((1-s)*(1-s)+s*s*(k-1)) / total
		case opt.Kind == KindUsers && in.Population != nil:
			// ShareOfUsers: [X₋/T₊, X₊/T₋], both counts' intervals at
			// level 1 − α/2, with X the partition's users and T = Users.
			half, err := userShareHalfWidth(opt, *in.Population, perPartition, float64(users))
			if err != nil {
				return ExpectedError{}, fmt.Errorf("PlanError: metric %q: %w", opt.Name, err)
			}
			e.ShareHalfWidthPP = 100 * half
		}
	case KindMean:
		// mean = (noisy normalized sum)/(noisy count) + midpoint, each half of ε
		// (and δ). At C values with the mean at a bound (distance h from the
		// midpoint), first order: sd ≈ √(σ_sum² + h²σ_count²) / C.
		h := (opt.Upper - opt.Lower) / 2
		sc := sigma(n, l0, linf, eps/2, del/2)
		ss := sigma(n, l0, linf*h, eps/2, del/2)
		e.StdDev = math.Sqrt(ss*ss+h*h*sc*sc) / perPartition
		e.HalfWidth95 = 1.96 * e.StdDev
		e.Note = "mean: first-order error with the values spread evenly over the partitions, mean at a bound (worst case)"
	case KindQuantiles:
		// The rank error of one released quantile, |F(Q̂(r)) − r|, is a sum
		// over the tree's levels of sibling noise divided by the values in
		// the partition (see quantci.go): ≈ 1.96·σ·√K/N with K ≈ 4, the
		// sum of squared coefficients measured on generated data
		// (TestPlanErrorQuantiles). The released intervals are wider: they
		// hold the bounded quantile on both sides at once, and add the
		// tree's grid and the filter's bias.
		bp := opt.parts()
		tn := treeNoise(opt.noiseKind(), l0, linf, bp.noiseEps, bp.noiseDel)
		e.RankHalfWidthPP = 100 * 1.96 * tn.sigma * 2 / perPartition
		e.Note = "quantiles: ± is the rank error of a released quantile (e.g. the median lands between the 47th and 53rd percentile for ±3); its interval in values depends on the data's spread"
	}
	if opt.CapsCutFraction > 0 {
		bp := opt.parts()
		ci, err := opt.noise().ComputeConfidenceIntervalFloat64(0, 1, 1, bp.capsEps, bp.capsDel, 0.05)
		if err != nil {
			return ExpectedError{}, fmt.Errorf("PlanError: metric %q: %w", opt.Name, err)
		}
		e.CapsCutHalfWidthPP = 100 * ci.UpperBound / float64(users)
	}
	if opt.SelectPartitions {
		if e.Note != "" {
			e.Note += "; "
		}
		e.Note += "discovered partitions with few users are dropped by partition selection"
	}
	return e, nil
}

// userShareHalfWidth is half the width of the interval ShareOfUsers gives a
// share of x users out of a population count of t, both released without
// noise in this expectation: (X₊/T₋ − X₋/T₊)/2, each count's interval at
// level 1 − α/2 (the union bound ShareOfUsers uses).
func userShareHalfWidth(part, population MetricOptions, x, t float64) (float64, error) {
	level := part.ConfidenceLevel
	if level == 0 {
		level = DefaultConfidenceLevel
	}
	alpha := (1 - level) / 2
	hx, err := part.countHalfWidth(alpha)
	if err != nil {
		return 0, err
	}
	ht, err := population.countHalfWidth(alpha)
	if err != nil {
		return 0, err
	}
	lo := math.Max(0, x-hx) / (t + ht)
	hi := 1.0
	if t > ht {
		hi = math.Min(1, (x+hx)/(t-ht))
	}
	return (hi - lo) / 2, nil
}

// countHalfWidth is the half-width of the library's interval, at level
// 1 − alpha, of a count of users released with o.
func (o MetricOptions) countHalfWidth(alpha float64) (float64, error) {
	eps, del, _, _ := o.split()
	ci, err := o.noise().ComputeConfidenceIntervalFloat64(0, int64(o.MaxPartitions), 1, eps, del, alpha)
	if err != nil {
		return 0, err
	}
	return ci.UpperBound, nil
}
