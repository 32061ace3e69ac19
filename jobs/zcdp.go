package jobs

import (
	"fmt"
	"math"
	"strings"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs/ledger"
	"github.com/dpstats/dpstats/reports"
)

// Zero-concentrated accounting (privacy.accounting: zcdp; docs/accounting.md
// has the whole argument).
//
// Under pure accounting (the default) a run's budget is ε and ε's add up in
// the ledger's window. Under zcdp a run's budget is ρ: privacy.rho, or, when
// it is not given, the ρ the ledger cap allows (dp.RhoForEpsilon at ε =
// cap_epsilon and δ = cap_delta minus the δ of the planned runs) split over
// privacy.runs_per_window runs (default: window_days, one run a day),
// rounded down to 3 significant digits and never above privacy.max_rho. It
// is split by weight over the metrics and the quality gate like ε is; each
// metric's Gaussian noise is then σ = L2 sensitivity/√(2ρ_metric). ρ's add
// up in the window and the total converts to (ε, δ) once, at the cap's δ.

// The privacy accountings.
const (
	AccountingPure = "pure"
	AccountingZCDP = "zcdp"
)

// defaultNoise is the noise of a spec without privacy.noise: Laplace under
// pure accounting (pure ε-DP), Gaussian under zcdp (whose ρ it spends
// best).
func defaultNoise(accounting string) string {
	if accounting == AccountingZCDP {
		return NoiseGaussian
	}
	return NoiseLaplace
}

// ZCDP reports whether s accounts its runs in zero-concentrated DP.
func (s *Spec) ZCDP() bool { return s.Privacy.Accounting == AccountingZCDP }

// PlannedRuns is privacy.runs_per_window, or window_days when it is not
// given (one run a day).
func (s *Spec) PlannedRuns() int {
	if s.Privacy.RunsPerWindow > 0 {
		return s.Privacy.RunsPerWindow
	}
	return s.Ledger.WindowDays
}

// CapRho returns the ρ the ledger cap allows in a window of runs that each
// charge privacy.delta: dp.RhoForEpsilon(cap_epsilon, cap_delta − runs·δ).
// 0 if no δ is left for the conversion.
func (s *Spec) CapRho(runs int) float64 {
	room := s.Ledger.CapDelta - float64(runs)*s.Privacy.Delta
	if !(room > 0) {
		return 0
	}
	return dp.RhoForEpsilon(s.Ledger.CapEpsilon, room)
}

// RunRho returns the run's ρ under zcdp accounting (0 under pure):
// privacy.rho, or the cap's ρ (CapRho) split over PlannedRuns, rounded down
// to 3 significant digits, at most privacy.max_rho.
func (s *Spec) RunRho() float64 {
	switch {
	case !s.ZCDP():
		return 0
	case s.Privacy.Rho > 0:
		return s.Privacy.Rho
	}
	return math.Min(floorSig(s.CapRho(s.PlannedRuns())/float64(s.PlannedRuns()), 3), s.Privacy.MaxRho)
}

// RhoDerived reports whether the run's ρ is derived from the cap (no
// privacy.rho).
func (s *Spec) RhoDerived() bool { return s.ZCDP() && s.Privacy.Rho == 0 }

// floorSig rounds f > 0 down to n significant digits (the ledger then
// stores a short number, and n runs of it stay within what was divided).
func floorSig(f float64, n int) float64 {
	if !(f > 0) || math.IsInf(f, 0) {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(f))-float64(n-1))
	r := math.Floor(f/p) * p
	for r > f {
		r = math.Nextafter(r, 0)
	}
	// Print it short: the decimal of n digits, never above f.
	short, _ := parseShort(r, n)
	if short <= f {
		return short
	}
	return r
}

func parseShort(f float64, n int) (float64, error) {
	var out float64
	_, err := fmt.Sscanf(fmt.Sprintf("%.*g", n, f), "%g", &out)
	return out, err
}

// Charge returns what a run of s charges the ledger: its ε and δ (pure),
// or its ρ and δ (zcdp; δ is then that of partition selection).
func (s *Spec) Charge() ledger.Spend {
	if s.ZCDP() {
		return ledger.Spend{Rho: s.RunRho(), Delta: s.Privacy.Delta}
	}
	return ledger.Spend{Epsilon: s.Privacy.Epsilon, Delta: s.Privacy.Delta}
}

// GateCharge returns what a run the quality gate withholds charges the
// ledger: the gate's share of the run's budget.
func (s *Spec) GateCharge() ledger.Spend {
	g := s.GateShare()
	if s.ZCDP() {
		return ledger.Spend{Rho: s.GateRho(), Delta: g.Delta}
	}
	return ledger.Spend{Epsilon: g.Epsilon, Delta: g.Delta}
}

// Alone returns the (ε, δ) guarantee of a release of ρ (with δ0 spent by
// partition selection) on its own, stated at the ledger cap's δ: what one
// zCDP run, or one statistic of it, promises by itself.
func (s *Spec) Alone(rho, delta0 float64) (eps, delta float64) {
	room := s.Ledger.CapDelta - delta0
	if rho == 0 {
		return 0, delta0
	}
	if !(room > 0) {
		return math.Inf(1), s.Ledger.CapDelta
	}
	return dp.EpsilonForRho(rho, room), s.Ledger.CapDelta
}

// minShareRho is the smallest ρ a metric or gate count can be given: a
// metric's ρ is halved for partition selection and again inside a mean,
// and dp calibrates no noise below 2^-80.
const minShareRho = 0x1p-76

// zcdpPrivacy validates the keys of zcdp accounting.
func (v *validator) zcdpPrivacy() {
	s := v.s
	p := &s.Privacy
	l := &s.Ledger
	switch p.Accounting {
	case AccountingPure, "": // "": a Spec built in code, pure by default
		if p.Rho != 0 {
			v.fail("privacy.rho", "is only used with privacy.accounting: zcdp (this spec accounts pure ε)")
		}
		if p.RunsPerWindow != 0 {
			v.fail("privacy.runs_per_window", "is only used with privacy.accounting: zcdp (this spec accounts pure ε)")
		}
		return
	case AccountingZCDP:
	default:
		v.fail("privacy.accounting", "must be %q or %q, got %q", AccountingPure, AccountingZCDP, p.Accounting)
		return
	}
	bad := false
	if !(p.MaxRho > 0) || math.IsInf(p.MaxRho, 0) {
		v.fail("privacy.max_rho", "must be > 0 and finite, got %s (default: privacy.max_epsilon²/2)", formatNumber(p.MaxRho))
		bad = true
	}
	switch {
	case p.Rho == 0:
	case !(p.Rho > 0) || math.IsInf(p.Rho, 0):
		v.fail("privacy.rho", "must be > 0 and finite, got %s (leave it out to derive ρ from the ledger cap)", formatNumber(p.Rho))
		bad = true
	case p.Rho > p.MaxRho:
		v.fail("privacy.rho", "must be ≤ privacy.max_rho = %s, got %s", formatNumber(p.MaxRho), formatNumber(p.Rho))
		bad = true
	}
	if p.RunsPerWindow < 0 || p.RunsPerWindow > 100000 {
		v.fail("privacy.runs_per_window", "must be between 1 and 100000, got %d", p.RunsPerWindow)
		bad = true
	}
	if !(l.CapDelta > 0) {
		e := v.fail("ledger.cap_delta", "must be > 0 under zcdp accounting: the window's total ρ is stated as (ε, δ) at this δ, got %s", formatNumber(l.CapDelta))
		e.Hint = "set ledger.cap_delta, e.g. 1e-5"
		return
	}
	if !(p.MaxDelta < l.CapDelta) {
		e := v.fail("privacy.max_delta", "must be < ledger.cap_delta = %s under zcdp accounting (the rest of the cap's δ converts ρ to ε), got %s",
			formatNumber(l.CapDelta), formatNumber(p.MaxDelta))
		e.Hint = "lower privacy.max_delta (0 unless a metric selects its partitions)"
		return
	}
	if bad {
		return
	}
	if eps, _ := s.Alone(p.MaxRho, p.MaxDelta); eps > l.CapEpsilon {
		e := v.fail("privacy.max_rho", "%s is too large for the ledger cap: one run at it would alone be (ε = %s, δ = %s)-DP, above ledger.cap_epsilon = %s",
			formatNumber(p.MaxRho), short(eps), formatNumber(l.CapDelta), formatNumber(l.CapEpsilon))
		e.Hint = fmt.Sprintf("set privacy.max_rho ≤ %s (or raise the cap)", short(dp.RhoForEpsilon(l.CapEpsilon, l.CapDelta-p.MaxDelta)))
		return
	}
	if p.Rho == 0 {
		runs := s.PlannedRuns()
		if !(float64(runs)*p.Delta < l.CapDelta) {
			e := v.fail("privacy.delta", "%s is too large to derive ρ: %d runs (privacy.runs_per_window) of it reach ledger.cap_delta = %s and leave no δ to convert ρ",
				formatNumber(p.Delta), runs, formatNumber(l.CapDelta))
			e.Hint = "lower privacy.delta, or give privacy.rho"
			return
		}
		if !(s.RunRho() >= minShareRho) {
			v.fail("privacy.runs_per_window", "%d runs leave each a ρ too small to calibrate any noise", runs)
		}
	}
}

// rhoShares checks that the run's ρ, split by weight, gives every metric and
// every count of the quality gate a ρ the noise can be calibrated for.
func (v *validator) rhoShares() {
	s := v.s
	cats := float64(max(1, len(s.ConsentCategories())))
	for i, rho := range s.rhoParts() {
		name := ""
		if i < len(s.Metrics) {
			name = "metric " + s.Metrics[i].Name
		} else {
			rho /= cats
			name = "the quality gate's count of users per consent category"
		}
		if !(rho >= minShareRho) {
			e := v.fail("privacy.rho", "ρ = %s is too small: split by weight, %s would get ρ = %.3g, below the %.3g the noise can be calibrated for",
				formatNumber(s.RunRho()), name, rho, minShareRho)
			e.Hint = "give the metrics and the quality gate weights of comparable size, or a larger ρ"
			return
		}
	}
}

// WithAccounting returns a copy of s with the accounting, ρ and planned runs
// replaced by the non-nil arguments (flags or the environment): it lets an
// analyst see in `dpstats plan` what zcdp accounting gives before changing
// the spec. ρ is never allowed above privacy.max_rho (ErrCeiling). Noise the
// spec does not set follows the accounting (Laplace for pure, Gaussian for
// zcdp). The copy is validated.
func (s *Spec) WithAccounting(accounting *string, rho *float64, runs *int) (*Spec, error) {
	c := s.clone()
	c.overrides = map[string]string{}
	for k, v := range s.overrides {
		c.overrides[k] = v
	}
	if accounting != nil {
		a := strings.TrimSpace(*accounting)
		if a != AccountingPure && a != AccountingZCDP {
			return nil, fmt.Errorf("accounting must be %q or %q, got %q", AccountingPure, AccountingZCDP, a)
		}
		c.Privacy.Accounting = a
		c.overrides["privacy.accounting"] = "accounting override"
		if !c.Privacy.noiseSet {
			c.Privacy.Noise = defaultNoise(a)
		}
	}
	if rho != nil {
		r := *rho
		switch {
		case !(r > 0) || math.IsInf(r, 0):
			return nil, fmt.Errorf("rho must be > 0 and finite, got %s", formatNumber(r))
		case r > c.Privacy.MaxRho:
			return nil, fmt.Errorf("%w: rho %s is above privacy.max_rho = %s. Try: pass a rho ≤ %s, or raise privacy.max_rho in the job spec",
				ErrCeiling, formatNumber(r), formatNumber(c.Privacy.MaxRho), formatNumber(c.Privacy.MaxRho))
		}
		c.Privacy.Rho = r
		c.overrides["privacy.rho"] = "rho override"
	}
	if runs != nil {
		c.Privacy.RunsPerWindow = *runs
		c.overrides["privacy.runs_per_window"] = "runs-per-window override"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// zcdpLedgerSummary restates the report's ledger summary when the window
// (or the ledger) holds a zCDP release: ε and δ are then the guarantees
// at the cap's δ, and ρ totals are added.
func zcdpLedgerSummary(l *reports.LedgerSummary, after ledger.Summary, c ledger.Cap) {
	l.EpsilonSpent, l.DeltaSpent = after.Guarantee(c)
	l.EpsilonAllTime, l.DeltaAllTime = after.AllTimeGuarantee(c)
	l.ZCDP = &reports.LedgerZCDP{RhoSpent: after.Rho, RhoCap: dp.RhoForEpsilon(c.Epsilon, c.Delta), RhoAllTime: after.RhoAllTime}
}

// zcdpReport restates a report of a zcdp run: what it and each of its
// statistics spent in ρ, and what each promises on its own.
func zcdpReport(r *reports.Report, spec *Spec, released []*dp.Released) {
	if !spec.ZCDP() {
		return
	}
	rho := spec.RunRho()
	r.ZCDP = &reports.ZCDP{Rho: rho, Delta: spec.Privacy.Delta}
	r.Epsilon, r.Delta = spec.Alone(rho, spec.Privacy.Delta)
	for i := range r.Metrics {
		if i >= len(released) {
			break
		}
		rel := released[i]
		m := &r.Metrics[i]
		m.ZCDP = &reports.ZCDP{Rho: rel.Rho, Delta: rel.Delta}
		m.Epsilon, m.Delta = spec.Alone(rel.Rho, rel.Delta)
	}
}

// zcdpPopulation restates a gate count of a zcdp run the same way.
func zcdpPopulation(p *reports.PopulationCount, spec *Spec, rel *dp.Released) {
	if !spec.ZCDP() {
		return
	}
	p.ZCDP = &reports.ZCDP{Rho: rel.Rho, Delta: rel.Delta}
	p.Epsilon, p.Delta = spec.Alone(rel.Rho, rel.Delta)
}

// zcdpStatistics fills, under zcdp accounting, each statistic's ρ and its
// share of the run's ρ (in place of ε, which zcdp does not split).
func (s *Spec) zcdpStatistics(out []Statistic) {
	rho := s.RunRho()
	if rho == 0 {
		return
	}
	byName := map[string]float64{}
	for i, r := range s.RhoShares() {
		byName[s.Metrics[i].Name] = r
	}
	for _, o := range s.GateOptions(nil) {
		byName[o.Name] = o.Rho
	}
	for i := range out {
		out[i].Rho = byName[out[i].Name]
		out[i].EpsilonShare = out[i].Rho / rho
	}
}
