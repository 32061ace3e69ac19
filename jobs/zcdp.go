package jobs

import (
	"fmt"
	"math"
	"strings"
	"text/tabwriter"

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
// metric's ρ loses a tenth to the caps-cut estimate, is halved for
// partition selection and again inside a mean, and a quantiles metric
// gives a tenth of its noise's part to the count of values; dp calibrates no
// noise below 2^-80.
const minShareRho = 0x1p-72

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
		if c := m.CapsCut; c != nil && rel.CapsCut != nil && rel.CapsCut.Rho > 0 {
			c.Rho = rel.CapsCut.Rho
			c.Epsilon, c.Delta = spec.Alone(c.Rho, 0)
		}
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
	splits := map[string]dp.BudgetSplit{}
	for _, o := range s.MetricOptions(nil) {
		splits[o.Name] = o.RhoSplit()
	}
	for i := range out {
		st := &out[i]
		st.Rho = byName[st.Name]
		st.EpsilonShare = st.Rho / rho
		// The ε of the parts are only the library's calibration under zcdp.
		st.CapsCutEpsilon, st.CapsCutDelta, st.ValueCountEpsilon, st.ValueCountDelta = 0, 0, 0, 0
		if sp, ok := splits[st.Name]; ok {
			st.CapsCutRho, st.ValueCountRho = sp.CapsCut.Epsilon, sp.ValueCount.Epsilon
		}
	}
}

// explainZCDP is the privacy tab's account of zcdp accounting.
type explainZCDP struct {
	Rho           float64 `json:"rho"`
	RhoDerived    bool    `json:"rho_derived"`
	RunsPerWindow int     `json:"runs_per_window"`
	MaxRho        float64 `json:"max_rho"`
	CapRho        float64 `json:"cap_rho"`
	// AloneEpsilon and AloneDelta are what one run promises on its own;
	// WindowEpsilon what RunsPerWindow runs promise together (at the cap's δ).
	AloneEpsilon  float64 `json:"alone_epsilon"`
	AloneDelta    float64 `json:"alone_delta"`
	WindowEpsilon float64 `json:"window_epsilon"`
	// FromEpsilon is the ε override ρ came from (ρ = ε²/2), if any.
	FromEpsilon float64 `json:"from_epsilon,omitempty"`
}

func (s *Spec) explainZCDP() *explainZCDP {
	if !s.ZCDP() {
		return nil
	}
	rho, runs := s.RunRho(), s.PlannedRuns()
	z := &explainZCDP{Rho: rho, RhoDerived: s.RhoDerived(), RunsPerWindow: runs, MaxRho: s.Privacy.MaxRho, CapRho: s.CapRho(0), FromEpsilon: s.rhoFromEpsilon}
	z.AloneEpsilon, z.AloneDelta = s.Alone(rho, s.Privacy.Delta)
	z.WindowEpsilon, _ = s.Alone(float64(runs)*rho, float64(runs)*s.Privacy.Delta)
	return z
}

// zcdpSummary is the privacy tab's header under zcdp accounting.
func (e *explanation) zcdpSummary() [][2]string {
	z := e.ZCDP
	origin := fmt.Sprintf("privacy.rho; the cap allows %s runs of it", runsAt(z.Rho, z.CapRho))
	switch {
	case z.RhoDerived:
		origin = fmt.Sprintf("derived: the ledger cap is ρ = %s in total, over %d planned runs (privacy.runs_per_window)", short(z.CapRho), z.RunsPerWindow)
	case z.FromEpsilon > 0:
		origin = fmt.Sprintf("from the epsilon override %s, counted as ρ = ε²/2; the cap allows %s runs of it", short(z.FromEpsilon), runsAt(z.Rho, z.CapRho))
	}
	return [][2]string{
		{"Privacy unit", fmt.Sprintf("one user (%s): all of a user's events in one %s run are protected together", e.PrivacyUnit, e.Period)},
		{"Accounting", "zero-concentrated differential privacy (zCDP, privacy.accounting: zcdp): each run spends ρ; ρ's add up over runs and jobs, and the total is stated as (ε, δ) once, which for many runs is far tighter than adding ε's (docs/accounting.md)"},
		{"Budget per run", fmt.Sprintf("ρ = %s (%s), δ = %s for partition selection, %s noise, %s confidence intervals",
			short(z.Rho), origin, formatNumber(e.Delta), e.Noise, formatNumber(100*e.Confidence)+"%")},
		{"What a run promises", fmt.Sprintf("on its own (ε = %s, δ = %s); %d runs in %s together (ε = %s, δ = %s)",
			short(z.AloneEpsilon), formatNumber(z.AloneDelta), z.RunsPerWindow, plural(e.Ledger.WindowDays, "day", "days"), short(z.WindowEpsilon), formatNumber(e.Ledger.CapDelta))},
		{"Charged to the ledger", fmt.Sprintf("ρ = %s, δ = %s per run", formatNumber(z.Rho), formatNumber(e.ChargedDelta))},
		{"Per-run ceiling", fmt.Sprintf("ρ ≤ %s, δ ≤ %s (overrides cannot exceed it)", formatNumber(z.MaxRho), formatNumber(e.MaxDelta))},
		{"Ledger cap", fmt.Sprintf("ε ≤ %s, δ ≤ %s over all releases in any %s, that is ρ ≤ %s in total (releases accounted in ε count ε²/2; δ spent lowers it)",
			formatNumber(e.Ledger.CapEpsilon), formatNumber(e.Ledger.CapDelta), plural(e.Ledger.WindowDays, "day", "days"), short(z.CapRho))},
		{"Consent categories", strings.Join(e.ConsentCategories, ", ") + " (opt-in, looking forward: an event counts for a statistic only if its category was granted when the event was recorded and still is at the run; a withdrawal counts whatever its date)"},
		{"Columns read", strings.Join(e.ColumnsRead, ", ")},
		{"Never read", strings.Join(e.ForbiddenColumns, ", ")},
	}
}

// runsAt is how many runs of ρ fit in a cap of capRho.
func runsAt(rho, capRho float64) string {
	if rho <= 0 {
		return "unlimited"
	}
	return fmt.Sprint(int(math.Floor(capRho/rho + 1e-9)))
}

// rhoBudget is Statistic.budget under zcdp accounting.
func (st *Statistic) rhoBudget() string {
	b := fmt.Sprintf("ρ = %s (%s of the run's ρ, weight %s), δ = %s", short(st.Rho), percent(st.EpsilonShare), formatNumber(st.Weight), short(st.Delta))
	var of []string
	if st.CapsCutRho > 0 {
		of = append(of, fmt.Sprintf("ρ = %s estimates how many users the per-user caps cut", short(st.CapsCutRho)))
	}
	if st.ValueCountRho > 0 {
		of = append(of, fmt.Sprintf("ρ = %s counts the values in each partition, from which the quantiles' intervals are derived", short(st.ValueCountRho)))
	}
	if len(of) > 0 {
		b += "; of which " + joinWords(of)
	}
	return b
}

// spendAttrs are the log attributes of a charge: epsilon and delta, or rho
// and delta under zcdp (public parameters, never data).
func spendAttrs(c ledger.Spend) []any {
	if c.ZCDP() {
		return []any{"rho", c.Rho, "delta", c.Delta}
	}
	return []any{"epsilon", c.Epsilon, "delta", c.Delta}
}

// writeZCDPPlanHeader opens `dpstats plan` under zcdp accounting: the
// run's ρ, where it comes from, and what it promises, in words.
func (s *Spec) writeZCDPPlanHeader(b *strings.Builder) {
	rho, runs := s.RunRho(), s.PlannedRuns()
	capRho := s.CapRho(0)
	fmt.Fprintf(b, "%s: zero-concentrated accounting (privacy.accounting: zcdp), %s noise.\n", s.Name, s.Privacy.Noise)
	if s.RhoDerived() {
		fmt.Fprintf(b, "One run spends ρ = %s, δ = %s: derived from the ledger cap (ε = %s, δ = %s per %d days is ρ = %s in total%s) over %d planned runs\n"+
			"(privacy.runs_per_window or --runs-per-window; default window_days). Set privacy.rho or --rho to fix it instead.\n",
			short(rho), short(s.Privacy.Delta), short(s.Ledger.CapEpsilon), short(s.Ledger.CapDelta), s.Ledger.WindowDays,
			short(s.CapRho(runs)), deltaNote(s.Privacy.Delta), runs)
	} else {
		origin := "privacy.rho or --rho"
		if s.rhoFromEpsilon > 0 {
			origin = fmt.Sprintf("from --epsilon %s: under zcdp an ε override counts as ρ = ε²/2, what a pure run of ε is charged", short(s.rhoFromEpsilon))
		}
		fmt.Fprintf(b, "One run spends ρ = %s, δ = %s (%s); the ledger cap (ε = %s, δ = %s per %d days) is ρ = %s in total: %s runs at this ρ.\n"+
			"Planning %d runs per window instead would give each ρ = %s (leave privacy.rho out to use that).\n",
			short(rho), short(s.Privacy.Delta), origin, short(s.Ledger.CapEpsilon), short(s.Ledger.CapDelta), s.Ledger.WindowDays,
			short(capRho), runsAt(rho, capRho), runs, short(floorSig(s.CapRho(runs)/float64(runs), 3)))
	}
	alone, aloneDelta := s.Alone(rho, s.Privacy.Delta)
	window, _ := s.Alone(float64(runs)*rho, float64(runs)*s.Privacy.Delta)
	fmt.Fprintf(b, "What it promises: one run on its own is (ε = %s, δ = %s)-DP; %d runs in %d days add up to ρ = %s, together (ε = %s, δ = %s)-DP.\n"+
		"ρ's add up over runs and jobs; only the total is turned into (ε, δ), which for many runs is far tighter than adding ε's.\n",
		short(alone), short(aloneDelta), runs, s.Ledger.WindowDays, short(float64(runs)*rho), short(window), short(s.Ledger.CapDelta))
}

func deltaNote(delta float64) string {
	if delta == 0 {
		return ""
	}
	return ", after the planned runs' δ"
}

// PureEquivalent returns s under pure accounting with the same ledger cap
// split over the same planned runs (ε = cap_epsilon/runs each, the same δ,
// Laplace noise): what `dpstats plan` compares zcdp with.
func (s *Spec) PureEquivalent() (*Spec, error) {
	c := s.clone()
	c.overrides = nil
	c.Privacy.Accounting = AccountingPure
	c.Privacy.Rho, c.Privacy.RunsPerWindow = 0, 0
	c.Privacy.Noise, c.Privacy.noiseSet = NoiseLaplace, false
	c.Privacy.Epsilon = s.Ledger.CapEpsilon / float64(s.PlannedRuns())
	c.Privacy.MaxEpsilon = math.Max(c.Privacy.MaxEpsilon, c.Privacy.Epsilon)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("the pure equivalent of %s: %w", s.Name, err)
	}
	return c, nil
}

// writeZCDPComparison shows what zcdp accounting buys: each metric's 95%
// half-width next to the one pure accounting gives under the same cap and
// the same planned runs.
func (s *Spec) writeZCDPComparison(b *strings.Builder, po PlanOptions, rows []PlanRow) error {
	pure, err := s.PureEquivalent()
	if err != nil {
		return err
	}
	pureRows, err := PlanFor(pure, po)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "\nWhat zCDP buys: the same cap over the same %d runs under pure accounting would give each run ε = %s (Laplace noise):\n\n",
		s.PlannedRuns(), short(pure.Privacy.Epsilon))
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "METRIC\t±95% ZCDP\t±95% PURE\tNARROWER")
	for i, r := range rows {
		p := pureRows[i]
		z, q, unit := r.Error.HalfWidth95, p.Error.HalfWidth95, r.Unit
		if r.Error.RankHalfWidthPP > 0 {
			z, q, unit = r.Error.RankHalfWidthPP, p.Error.RankHalfWidthPP, "percentiles"
		}
		if !(z > 0) || !(q > 0) {
			continue
		}
		fmt.Fprintf(tw, "%s\t±%s %s\t±%s %s\t%.1f×\n", r.Metric, short(z), unit, short(q), unit, q/z)
	}
	return tw.Flush()
}

// epsilonAsRho applies an ε override (--epsilon, DPSTATS_EPSILON) to a zcdp
// spec: the run spends ρ = ε²/2, the ρ a pure run of ε is charged in a
// ledger that holds zCDP releases. A schedule that pins its ε (the shipped
// CronJob's ConfigMap does) thus keeps working when the spec switches to
// zcdp, and never spends more than it was charged before; --rho and
// --runs-per-window say it directly. ε is checked against
// privacy.max_epsilon, and its ρ against privacy.max_rho, as overrides are.
func (c *Spec) epsilonAsRho(e float64, where func(string) string) error {
	switch {
	case !(e > 0) || math.IsInf(e, 0):
		return fmt.Errorf("epsilon must be > 0 and finite, got %s", formatNumber(e))
	case c.overrides["privacy.rho"] != "":
		return fmt.Errorf("an epsilon override and a rho override were both given; under zcdp accounting give --rho (or --epsilon, which counts as ρ = ε²/2), not both")
	case c.Privacy.MaxEpsilon > 0 && e > c.Privacy.MaxEpsilon:
		return fmt.Errorf("%w: epsilon %s is above privacy.max_epsilon = %s%s. Try: pass an epsilon ≤ %s, or --rho (at most privacy.max_rho = %s)",
			ErrCeiling, formatNumber(e), formatNumber(c.Privacy.MaxEpsilon), where("privacy.max_epsilon"),
			formatNumber(c.Privacy.MaxEpsilon), formatNumber(c.Privacy.MaxRho))
	}
	rho := dp.PureRho(e)
	if rho > c.Privacy.MaxRho {
		return fmt.Errorf("%w: epsilon %s counts as ρ = ε²/2 = %s under zcdp accounting, above privacy.max_rho = %s%s",
			ErrCeiling, formatNumber(e), formatNumber(rho), formatNumber(c.Privacy.MaxRho), where("privacy.max_rho"))
	}
	c.Privacy.Rho = rho
	c.rhoFromEpsilon = e
	c.overrides["privacy.rho"] = "epsilon override, as ρ = ε²/2"
	return nil
}
