package jobs

import (
	"fmt"
	"math"

	"github.com/dpstats/dpstats/dp"
)

// libraryLimits refuses a run whose budget, split by weight, would hand one
// of the noise library's mechanisms more than it can compute for: Gaussian
// noise, and partition selection with max_partitions > 3, never return at
// ε above about 709 (dp.MaxGaussianEpsilon allows 500), and under zcdp no
// mechanism's ρ may exceed dp.MaxPartRho. It runs once every other check
// passed, so that the shares are well defined.
func (v *validator) libraryLimits() {
	s := v.s
	opts := append(s.MetricOptions(nil), s.GateOptions(nil)...)
	name := func(i int) string {
		if i < len(s.Metrics) {
			return "metric " + s.Metrics[i].Name
		}
		return "the quality gate's count of users per consent category"
	}
	if s.ZCDP() {
		worst, scale := worstScale(opts, dp.MetricOptions.RhoScale)
		if scale < 1 {
			e := v.fail("privacy.rho", "%s is too large: split by weight, %s would give one of its mechanisms ρ = %.4g, above the %g the noise library can be calibrated for",
				formatNumber(s.RunRho()), name(worst), dp.MaxPartRho/scale, float64(dp.MaxPartRho))
			e.Hint = fmt.Sprintf("this job needs ρ ≤ %s", short(floorSig(s.RunRho()*scale*(1-1e-9), 3)))
			return
		}
	}
	worst, scale := worstScale(opts, dp.MetricOptions.EpsilonScale)
	if scale >= 1 {
		return
	}
	eps, what := opts[worst].GaussianEpsilon()
	field, total := "privacy.epsilon", s.Privacy.Epsilon
	if s.ZCDP() {
		field, total = "privacy.rho", s.RunRho()
	}
	e := v.fail(field, "%s is too large: split across the job's %d metrics and its quality gate by weight, %s would give its %s ε = %.4g, "+
		"and the noise library never returns above ε ≈ 709 (dpstats allows at most %d there)",
		formatNumber(total), len(s.Metrics), name(worst), what, eps, dp.MaxGaussianEpsilon)
	if !s.ZCDP() {
		e.Hint = fmt.Sprintf("this job needs ε ≤ %s", short(floorSig(total*scale*(1-1e-9), 3)))
	}
}

// worstScale returns the option with the smallest scale and that scale
// (+Inf when there are none).
func worstScale(opts []dp.MetricOptions, scale func(dp.MetricOptions) float64) (int, float64) {
	worst, least := 0, math.Inf(1)
	for i, o := range opts {
		if sc := scale(o); sc < least {
			worst, least = i, sc
		}
	}
	return worst, least
}
