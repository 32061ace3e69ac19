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
	// mean: of the released mean at Users users each giving one value, in the
	// worst case of a mean at a bound).
	StdDev float64
	// HalfWidth95 is the half-width of the 95% interval of that noise.
	HalfWidth95 float64
	// ShareHalfWidthPP is the 95% half-width, in percentage points, of a
	// partition's share (count and users), assuming Users users who each
	// contribute one unit, spread evenly over the public partitions (or a
	// small partition when partitions are discovered).
	ShareHalfWidthPP float64
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

// PlanError returns the expected error of a metric's released values for an
// assumed number of users. It reads no data and spends no budget.
func PlanError(opt MetricOptions, users int) (ExpectedError, error) {
	if err := opt.Validate(); err != nil {
		return ExpectedError{}, fmt.Errorf("PlanError: %w", err)
	}
	if users < 1 {
		return ExpectedError{}, fmt.Errorf("PlanError: metric %q: users = %d, must be ≥ 1", opt.Name, users)
	}
	eps, del, _, _ := opt.split()
	n := opt.noiseKind()
	l0 := int64(opt.MaxPartitions)
	linf := float64(opt.linf())
	var e ExpectedError
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
		if opt.Kind != KindSum {
			s, k := 0.0, 1.0
			if !opt.SelectPartitions {
				k = float64(len(opt.Partitions) + 1)
				s = 1 / k
			}
			e.ShareHalfWidthPP = 100 * e.HalfWidth95 * math.Sqrt((1-s)*(1-s)+s*s*(k-1)) / float64(users)
		}
	case KindMean:
		// mean = (noisy normalized sum)/(noisy count) + midpoint, each half of ε
		// (and δ). At C values with the mean at a bound (distance h from the
		// midpoint), first order: sd ≈ √(σ_sum² + h²σ_count²) / C.
		h := (opt.Upper - opt.Lower) / 2
		sc := sigma(n, l0, linf, eps/2, del/2)
		ss := sigma(n, l0, linf*h, eps/2, del/2)
		e.StdDev = math.Sqrt(ss*ss+h*h*sc*sc) / float64(users)
		e.HalfWidth95 = 1.96 * e.StdDev
		e.Note = "mean: first-order error at the given users, one value each, mean at a bound (worst case)"
	case KindQuantiles:
		e.Note = "quantiles: no closed-form error model; the noise is added to a tree of counts over [lower, upper]"
	}
	if opt.SelectPartitions {
		if e.Note != "" {
			e.Note += "; "
		}
		e.Note += "discovered partitions with few users are dropped by partition selection"
	}
	return e, nil
}
