package dp

import (
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// Zero-concentrated differential privacy (zCDP, Bun and Steinke 2016).
//
// A mechanism is ρ-zCDP when the Rényi divergence of order α between its
// outputs on neighbouring inputs is at most ρα, for every α > 1. ρ's add up
// under composition, and a total converts to (ε, δ)-DP once, which for many
// releases is far tighter than adding ε's. A mechanism is δ-approximately
// ρ-zCDP, "(ρ, δ)-zCDP" here, when it is ρ-zCDP once events of probability at
// most δ are set aside; ρ's and δ's both add up under composition, and the
// total converts to (ε(ρ, δ'), δ + δ')-DP for any δ' > 0.
//
// How every part of a release is accounted (docs/accounting.md has the
// argument in full):
//
//   - The Gaussian mechanism with L2 sensitivity Δ₂ and standard deviation σ
//     is exactly Δ₂²/(2σ²)-zCDP. count, users and sum are one Gaussian
//     mechanism over all partitions (L2 sensitivity √l0·l∞); mean is two
//     (the library's count and normalized sum, each given half of ρ);
//     quantiles one over the library's tree of counts (L2 sensitivity
//     √(l0·height)·l∞). The library calibrates σ from an (ε, δ) pair: this
//     file maps the σ a ρ needs to a pair whose σ is at least that, and at
//     most 0.1% more (libraryGaussian).
//   - A pure ε-DP part (Laplace noise) is ε²/2-zCDP: under zCDP a Laplace
//     part gets ε = √(2ρ).
//   - DP partition selection is (ε, δ)-DP, hence (ε²/2, δ)-zCDP: it gets
//     ε = √(2ρ_selection) and all of the metric's δ, which stays charged as δ.

// PureRho returns the ρ a pure ε-DP release counts as under zCDP: ε²/2
// (Bun and Steinke 2016, Proposition 1.4).
func PureRho(epsilon float64) float64 { return epsilon * epsilon / 2 }

// convSlack is the relative amount by which EpsilonForRho rounds up and
// RhoForEpsilon rounds down, so that floating-point error in the conversion
// can never understate a privacy loss.
const convSlack = 1e-10

// EpsilonForRho returns an ε such that a ρ-zCDP release is (ε, δ)-DP, by the
// conversion of Canonne, Kamath and Steinke ("The Discrete Gaussian for
// Differential Privacy", 2020, Corollary 13):
//
//	ε = min over α > 1 of  αρ + (ln(1/δ) + (α−1)·ln(1−1/α) − ln α) / (α−1).
//
// It is never larger than the simpler ρ + 2√(ρ·ln(1/δ)) (SimpleEpsilonForRho).
// Every α gives a valid ε, so a minimum found only approximately is still
// valid; the result is rounded up by a relative 1e-10. ρ = 0 gives 0; δ ≤ 0
// with ρ > 0 gives +Inf.
func EpsilonForRho(rho, delta float64) float64 {
	switch {
	case math.IsNaN(rho) || math.IsNaN(delta) || rho < 0:
		return math.NaN()
	case rho == 0 || delta >= 1:
		return 0
	case delta <= 0 || math.IsInf(rho, 1):
		return math.Inf(1)
	}
	logInvDelta := -math.Log(delta)
	f := func(u float64) float64 { // u = ln(α−1)
		am1 := math.Exp(u)
		a := 1 + am1
		return a*rho + (logInvDelta+am1*math.Log1p(-1/a)-math.Log(a))/am1
	}
	eps := minimize(f)
	return math.Max(0, eps*(1+convSlack))
}

// SimpleEpsilonForRho is the conversion of Bun and Steinke (2016,
// Proposition 1.3): ρ-zCDP implies (ρ + 2√(ρ·ln(1/δ)), δ)-DP. It is looser
// than EpsilonForRho; dpstats shows it for comparison only.
func SimpleEpsilonForRho(rho, delta float64) float64 {
	if rho == 0 {
		return 0
	}
	return rho + 2*math.Sqrt(rho*math.Log(1/delta))
}

// RhoForEpsilon returns the largest ρ (rounded down by a relative 1e-10)
// whose EpsilonForRho at δ is at most ε: the ρ budget an (ε, δ) cap allows.
// It is 0 when δ ≤ 0 or ε ≤ 0.
func RhoForEpsilon(epsilon, delta float64) float64 {
	switch {
	case math.IsNaN(epsilon) || math.IsNaN(delta) || epsilon <= 0 || delta <= 0:
		return 0
	case delta >= 1 || math.IsInf(epsilon, 1):
		return math.Inf(1)
	}
	logInvDelta := -math.Log(delta)
	// ε(ρ) ≤ ε ⇔ some α has αρ + c(α) ≤ ε ⇔ ρ ≤ max over α of (ε − c(α))/α.
	g := func(u float64) float64 {
		am1 := math.Exp(u)
		a := 1 + am1
		c := (logInvDelta + am1*math.Log1p(-1/a) - math.Log(a)) / am1
		return -(epsilon - c) / a
	}
	rho := -minimize(g)
	if !(rho > 0) {
		return 0
	}
	rho *= 1 - convSlack
	for rho > 0 && EpsilonForRho(rho, delta) > epsilon {
		rho = math.Nextafter(rho*(1-convSlack), 0)
	}
	return rho
}

// minimize returns the (near) minimum of f over u in [-30, 40] (α − 1 from
// 1e-13 to 2e17): a grid of step 0.01, then golden-section search around
// the best grid point.
func minimize(f func(float64) float64) float64 {
	const lo, hi, step = -30.0, 40.0, 0.01
	bestU, best := lo, math.Inf(1)
	for u := lo; u <= hi; u += step {
		if v := f(u); v < best {
			bestU, best = u, v
		}
	}
	a, b := bestU-step, bestU+step
	phi := (math.Sqrt(5) - 1) / 2
	c, d := b-phi*(b-a), a+phi*(b-a)
	fc, fd := f(c), f(d)
	for range 80 {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - phi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + phi*(b-a)
			fd = f(d)
		}
	}
	return math.Min(best, math.Min(fc, fd))
}

// GaussianSigma is the standard deviation of Gaussian noise that makes a
// release of L2 sensitivity √l0·lInf exactly ρ-zCDP: √l0·lInf/√(2ρ).
func GaussianSigma(l0 int64, lInf, rho float64) float64 {
	return math.Sqrt(float64(l0)) * lInf / math.Sqrt(2*rho)
}

// sigmaMargin makes the σ that libraryGaussian asks for a relative 1e-6
// larger than the ρ needs, so that rounding in the library's search can
// never give less noise than ρ allows.
const sigmaMargin = 1e-6

// minRho is the smallest ρ a metric's part can be given: below it the
// library's Gaussian calibration loses precision (and the noise is
// astronomically large anyway).
const minRho = 0x1p-80

// maxRho is the largest ρ a part can be given: above it the (ε, δ) pair of
// the library's calibration overflows.
const maxRho = 100

// libraryGaussian returns the (ε, δ) to give the library's Gaussian noise so
// that, for every sensitivity, the σ it uses (noise.SigmaForGaussian) is at
// least the σ that makes the release ρ-zCDP, and at most 0.1% (the
// library's search accuracy) more.
//
// The tight δ of the Gaussian mechanism at (σ, ε) (Balle and Wang 2018,
// Theorem 8; the formula the library searches with) depends on σ/Δ₂ only:
// with s = σ/Δ₂, a = 1/(2s) and b = εs, δ = Φ(a−b) − e^ε·Φ(−a−b). Fixing
// b − a = 2 gives ε = (2 + a)/s and δ = Φ(−2) − e^ε·Φ(−2−2a), a pair for
// which the smallest σ the library accepts is s·Δ₂. The pair means nothing
// on its own: the release is accounted by ρ.
func libraryGaussian(rho float64) (eps, delta float64, err error) {
	if !(rho >= minRho && rho <= maxRho) {
		return 0, 0, fmt.Errorf("ρ = %v is outside [%g, %g]", rho, minRho, float64(maxRho))
	}
	want := 1 / math.Sqrt(2*rho)
	s := want * (1 + sigmaMargin)
	a := 1 / (2 * s)
	eps = (2 + a) / s
	delta = stdNormalCDF(-2) - math.Exp(eps)*stdNormalCDF(-2-2*a)
	for range 100 {
		if !(delta > 0 && delta < 1) || math.IsInf(eps, 0) {
			return 0, 0, fmt.Errorf("ρ = %v: no Gaussian calibration (ε = %v, δ = %v)", rho, eps, delta)
		}
		if noise.SigmaForGaussian(1, 1, eps, delta) >= want {
			return eps, delta, nil
		}
		delta *= 1 - 1e-6 // cannot happen with the margin above; err towards more noise
	}
	return 0, 0, fmt.Errorf("ρ = %v: the library's σ stays below %v", rho, want)
}

// stdNormalCDF is Φ, the standard normal distribution function.
func stdNormalCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// zcdp reports whether the options account in ρ.
func (o MetricOptions) zcdp() bool { return o.Rho > 0 }

// rhoParts is how a zCDP metric's ρ is divided among its mechanisms, like
// budgetParts divides ε: first CapsCutFraction of ρ for the caps-cut
// estimate, then half of the rest for partition selection if asked, and of
// the noise's part, for quantiles, QuantileCountFraction for the count of
// values. The parts add up to at most ρ. All of δ goes to selection: the
// Gaussian mechanisms are ρ-zCDP without δ.
type rhoParts struct {
	noise, sel, caps, count float64
}

// minusRho is minus for ρ's: a−b rounded down so that (a−b)+b ≤ a.
func minusRho(a, b float64) float64 { return minus(a, b) }

func (o MetricOptions) rhoParts() rhoParts {
	var p rhoParts
	rest := o.Rho
	if o.CapsCutFraction > 0 {
		p.caps = o.Rho * o.CapsCutFraction
		rest = minusRho(o.Rho, p.caps)
	}
	p.noise = rest
	if o.SelectPartitions {
		p.sel = rest / 2
		p.noise = minusRho(rest, p.sel)
	}
	if o.Kind == KindQuantiles {
		p.count = p.noise * QuantileCountFraction
		p.noise = minusRho(p.noise, p.count)
	}
	return p
}

// rhoSplit returns the ρ of the metric's noise (for mean, both of its
// Gaussian mechanisms together) and of partition selection.
func (o MetricOptions) rhoSplit() (rhoNoise, rhoSel float64) {
	p := o.rhoParts()
	return p.noise, p.sel
}

// pairFor returns the library's (ε, δ) for a part of ρ: the Gaussian
// calibration (libraryGaussian), or ε = √(2ρ) for Laplace noise (pure
// ε-DP counts ε²/2). A ρ of 0 gives (0, 0); one that cannot be calibrated
// comes back as NaN, which the library refuses (Validate reports it first).
func (o MetricOptions) pairFor(rho float64) (eps, delta float64) {
	if rho == 0 {
		return 0, 0
	}
	if o.noiseKind() == NoiseLaplace {
		return math.Sqrt(2 * rho), 0
	}
	e, d, err := libraryGaussian(rho)
	if err != nil {
		return math.NaN(), math.NaN()
	}
	return e, d
}

// zcdpParts is parts under zCDP: the library's (ε, δ) for each mechanism.
func (o MetricOptions) zcdpParts() budgetParts {
	r := o.rhoParts()
	var p budgetParts
	p.capsEps, p.capsDel = o.pairFor(r.caps)
	p.countEps, p.countDel = o.pairFor(r.count)
	if o.SelectPartitions {
		p.selEps, p.selDel = math.Sqrt(2*r.sel), o.Delta
	}
	if o.Kind == KindMean && o.noiseKind() == NoiseGaussian {
		// The library's mean gives half of (ε, δ) to each of its count and
		// normalized sum: each gets the pair for ρ/2.
		e, d := o.pairFor(r.noise / 2)
		p.noiseEps, p.noiseDel = 2*e, 2*d
	} else {
		// Laplace: the mean halves ε internally, each half (ε/2)²/2 and
		// together no more than ε²/2.
		p.noiseEps, p.noiseDel = o.pairFor(r.noise)
	}
	return p
}

// RhoSplit is how a zCDP metric's ρ is divided among its mechanisms (the
// counterpart of Split, whose (ε, δ) under zCDP are only the library's
// calibration): Aggregation, Selection, CapsCut and ValueCount hold ρ in
// their Epsilon field and δ in Delta.
func (o MetricOptions) RhoSplit() BudgetSplit {
	r := o.rhoParts()
	var sel Budget
	if o.SelectPartitions {
		sel = Budget{r.sel, o.Delta}
	}
	return BudgetSplit{Aggregation: Budget{Epsilon: r.noise}, Selection: sel, CapsCut: Budget{Epsilon: r.caps}, ValueCount: Budget{Epsilon: r.count}}
}

// gaussianParts lists the Gaussian mechanisms of a zCDP metric: the
// sensitivities the library is given and the ρ each must not exceed.
func (o MetricOptions) gaussianParts() []gaussianPart {
	if !o.zcdp() || o.noiseKind() != NoiseGaussian {
		return nil
	}
	r := o.rhoParts()
	p := o.zcdpParts()
	l0, linf := int64(o.MaxPartitions), float64(o.linf())
	var out []gaussianPart
	switch o.Kind {
	case KindSum:
		out = append(out, gaussianPart{l0, linf * math.Max(math.Abs(o.Lower), math.Abs(o.Upper)), p.noiseEps, p.noiseDel, r.noise})
	case KindMean:
		h := (o.Upper - o.Lower) / 2
		out = append(out, gaussianPart{l0, linf, p.noiseEps / 2, p.noiseDel / 2, r.noise / 2},
			gaussianPart{l0, linf * h, p.noiseEps / 2, p.noiseDel / 2, r.noise / 2})
	case KindQuantiles:
		out = append(out, gaussianPart{l0 * treeHeight, linf, p.noiseEps, p.noiseDel, r.noise},
			gaussianPart{l0, linf, p.countEps, p.countDel, r.count})
	default:
		out = append(out, gaussianPart{l0, linf, p.noiseEps, p.noiseDel, r.noise})
	}
	if r.caps > 0 {
		// Two counts, users cut and users not: each user is in one of them.
		out = append(out, gaussianPart{1, 1, p.capsEps, p.capsDel, r.caps})
	}
	return out
}

// gaussianPart is one Gaussian mechanism of a zCDP metric.
type gaussianPart struct {
	l0       int64
	lInf     float64
	eps, del float64 // what the library is given
	rho      float64 // what is charged for it
}

// checkZCDP checks, before any data is read, that the σ the library will
// use for each Gaussian part is at least the σ its ρ needs: the accounting
// never charges less than is spent.
func (o MetricOptions) checkZCDP() error {
	for _, p := range o.gaussianParts() {
		got := noise.SigmaForGaussian(p.l0, p.lInf, p.eps, p.del)
		if want := GaussianSigma(p.l0, p.lInf, p.rho); !(got >= want) {
			return fmt.Errorf("the library's Gaussian σ = %v is below the σ = %v that ρ = %v needs", got, want, p.rho)
		}
	}
	return nil
}

// validateRho checks a zCDP metric's ρ: every part it is split into must be
// within what the library's calibration handles.
func (o MetricOptions) validateRho() error {
	r := o.rhoParts()
	noise := r.noise
	if o.Kind == KindMean && o.noiseKind() == NoiseGaussian {
		noise /= 2
	}
	for _, part := range []struct {
		name string
		rho  float64
		need bool
	}{{"its noise", noise, true}, {"partition selection", r.sel, o.SelectPartitions}, {"the caps-cut estimate", r.caps, o.CapsCutFraction > 0},
		{"the count of values", r.count, o.Kind == KindQuantiles}} {
		if !part.need {
			continue
		}
		if !(part.rho >= minRho && part.rho <= maxRho) {
			return fmt.Errorf("rho = %v gives %s ρ = %v, outside [%g, %g] where noise can be calibrated", o.Rho, part.name, part.rho, minRho, float64(maxRho))
		}
		if o.noiseKind() == NoiseGaussian && part.name != "partition selection" {
			if _, _, err := libraryGaussian(part.rho); err != nil {
				return err
			}
		}
	}
	return nil
}
