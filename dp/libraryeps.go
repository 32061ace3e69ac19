package dp

import (
	"fmt"
	"math"
)

// MaxGaussianEpsilon is the largest ε dpstats hands to one Gaussian
// mechanism of the DP library (github.com/google/differential-privacy/go/v3
// v3.0.0). Above ε ≈ 709.436 the library's σ search (noise.SigmaForGaussian)
// overflows exp(ε) and returns σ = 0, and its Gaussian sampler then loops
// forever on a NaN: a dpagg.Count, BoundedSum, BoundedMean or
// BoundedQuantiles with Gaussian noise never returns from its constructor,
// and neither does partition selection with MaxPartitions > 3, which the
// library decides with a Gaussian count at the whole selection ε (whatever
// the metric's noise). The cliff does not depend on δ, l0 or l∞
// (TestGaussianEpsilonCliff measures it); 500 leaves a margin of 30%, far
// from any float64 overflow (e^500 ≈ 10^217). Laplace noise and selection
// with MaxPartitions ≤ 3 compute at any finite ε and have no such bound.
const MaxGaussianEpsilon = 500

// GaussianEpsilon returns the largest ε o hands to a library mechanism that
// cannot compute above MaxGaussianEpsilon (see there), and which mechanism
// it is, in words for people; (0, "") when o uses none. It is the library's
// (ε, δ) under either accounting: under zCDP the calibrated pair.
func (o MetricOptions) GaussianEpsilon() (eps float64, mechanism string) {
	p := o.parts()
	consider := func(e float64, what string) {
		if e > eps || math.IsNaN(e) {
			eps, mechanism = e, what
		}
	}
	if o.noiseKind() == NoiseGaussian {
		if o.Kind == KindMean {
			// The library's mean gives half to each of its count and sum.
			consider(p.noiseEps/2, "Gaussian noise")
		} else {
			consider(p.noiseEps, "Gaussian noise")
		}
		if o.Kind == KindQuantiles {
			consider(p.countEps, "Gaussian noise (count of values)")
		}
		if o.CapsCutFraction > 0 {
			consider(p.capsEps, "Gaussian noise (caps-cut estimate)")
		}
	}
	if o.SelectPartitions && o.MaxPartitions > 3 {
		consider(p.selEps, "partition selection (max_partitions > 3)")
	}
	return eps, mechanism
}

// EpsilonScale returns the largest factor o.Epsilon can be multiplied by
// and still hand no Gaussian mechanism more than MaxGaussianEpsilon:
// MaxGaussianEpsilon over GaussianEpsilon, +Inf when o uses no such
// mechanism. Under pure accounting every part is a fixed fraction of
// o.Epsilon, so the scale is exact up to rounding (under zCDP the parts are
// not linear in ρ; the scale is then only a guide).
func (o MetricOptions) EpsilonScale() float64 {
	eps, _ := o.GaussianEpsilon()
	if eps == 0 {
		return math.Inf(1)
	}
	return MaxGaussianEpsilon / eps
}

// checkGaussianEpsilon refuses options that would hang the library.
func (o MetricOptions) checkGaussianEpsilon() error {
	eps, what := o.GaussianEpsilon()
	if !(eps <= MaxGaussianEpsilon) {
		return fmt.Errorf("%s would be given ε = %.4g, above the %d the noise library can compute for (above ε ≈ 709 it never returns)", what, eps, MaxGaussianEpsilon)
	}
	return nil
}

// MaxPartRho is the largest ρ one mechanism of a zCDP metric can be given
// (see Validate): above it the library's Gaussian calibration overflows.
const MaxPartRho = maxRho

// RhoScale returns the largest factor o.Rho can be multiplied by and still
// give no mechanism more than MaxPartRho (the parts Validate checks), +Inf
// when o does not account in ρ. The parts are fixed fractions of o.Rho.
func (o MetricOptions) RhoScale() float64 {
	if !o.zcdp() {
		return math.Inf(1)
	}
	r := o.rhoParts()
	noise := r.noise
	if o.Kind == KindMean && o.noiseKind() == NoiseGaussian {
		noise /= 2
	}
	most := math.Max(math.Max(noise, r.sel), math.Max(r.caps, r.count))
	if !(most > 0) {
		return math.Inf(1)
	}
	return MaxPartRho / most
}
