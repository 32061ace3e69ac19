package reports

import "math"

// The arithmetic of the history across days (index.html and history.csv
// under OUT/<job>/). It is post-processing of released values only: it
// reads nothing but what the daily reports published, and spends no budget.
//
// Every daily release draws fresh, independent noise, so two days' errors
// are independent. Write h for the half-width of a day's interval at its
// confidence level (e.g. 95 %).
//
//   - The average of n daily values has the half-width sqrt(Σ h_i²) / n:
//     independent errors add in variance, so the average of 7 days of equal
//     noise is √7 ≈ 2.6 times narrower than one day.
//   - The difference of two days has the half-width sqrt(h_1² + h_2²); a
//     change is marked as larger than the noise when |difference| exceeds it.
//
// For Gaussian noise both are exact (a sum of independent Gaussians is
// Gaussian, and h scales with the standard deviation). For Laplace noise,
// dpstats' default, they are conservative: a sum of independent Laplace
// variables has lighter tails than a Laplace variable of the same variance,
// so the combined interval covers at least as often as the level says
// (TestCombinedIntervalCoverage measures it). A day's h is the larger side
// of its interval: intervals are clipped at bounds (a count at 0, a share at
// 0 and 1), which shortens one side only. For quantiles, whose intervals
// come from the rank error rather than from additive noise, the same
// combination is an approximation.

// estimate is one released number and its confidence interval.
type estimate struct {
	V, Lo, Hi float64
	// CI says the interval is known. A quantile released without an
	// interval has none, and neither does anything derived from it.
	CI bool
}

// halfWidth is the half-width of the noise interval: the larger side, since
// clipping at a bound shortens one side only.
func (e estimate) halfWidth() float64 {
	return math.Max(0, math.Max(e.V-e.Lo, e.Hi-e.V))
}

// average returns the mean of independent noisy estimates. Its interval,
// when every estimate has one, is mean ± sqrt(Σ h_i²)/n, clipped to
// [floor, ceil] (the range the true value can take). ok is false for no
// estimates.
func average(es []estimate, floor, ceil float64) (avg estimate, ok bool) {
	if len(es) == 0 {
		return estimate{}, false
	}
	var sum, sq float64
	ci := true
	for _, e := range es {
		sum += e.V
		h := e.halfWidth()
		sq += h * h
		ci = ci && e.CI
	}
	n := float64(len(es))
	avg.V = sum / n
	if !ci {
		return avg, true
	}
	h := math.Sqrt(sq) / n
	avg.CI = true
	avg.Lo = math.Max(avg.V-h, floor)
	avg.Hi = math.Min(avg.V+h, ceil)
	return avg, true
}

// change compares a later estimate with an earlier one.
type change struct {
	Diff float64 // after − before
	// Noise is the half-width of the difference's interval,
	// sqrt(h_before² + h_after²); zero without intervals.
	Noise float64
	// CI says both estimates had an interval, so Exceeds means something.
	CI bool
	// Exceeds: |Diff| > Noise. With no real change this happens with
	// probability at most 1 − the confidence level (5 % at 95 %).
	Exceeds bool
}

// compare returns the change from before to after.
func compare(before, after estimate) change {
	c := change{Diff: after.V - before.V, CI: before.CI && after.CI}
	if !c.CI {
		return c
	}
	hb, ha := before.halfWidth(), after.halfWidth()
	c.Noise = math.Sqrt(hb*hb + ha*ha)
	c.Exceeds = math.Abs(c.Diff) > c.Noise
	return c
}
