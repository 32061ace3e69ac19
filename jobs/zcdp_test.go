package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// accountings are the privacy accountings the release protocol's key tests
// run under (table-driven, not duplicated).
var accountings = []string{AccountingPure, AccountingZCDP}

// specIn is specWith under accounting a. Under zcdp a run spends ρ = ε²/2
// (what a pure run of ε counts as in ρ), with Gaussian noise, the same
// ledger cap.
func specIn(t testing.TB, a string, eps, capEps float64) *Spec {
	t.Helper()
	if a == AccountingPure {
		return specWith(t, eps, capEps)
	}
	rho := eps * eps / 2
	text := strings.NewReplacer("CAP", fmt.Sprint(capEps), "EPS", fmt.Sprint(eps)).Replace(runSpecYAML)
	text = strings.Replace(text, "noise: laplace}", fmt.Sprintf("noise: gaussian, accounting: zcdp, rho: %v, max_rho: %v}", rho, rho), 1)
	s, err := ParseSpec("run-test.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if !s.ZCDP() {
		t.Fatal("specIn: the spec is not zcdp")
	}
	return s
}

// chargedOf is what an entry charged in its accounting's unit: ε or ρ.
func chargedOf(e ledger.Entry) float64 { return e.Epsilon + e.Rho }

// runCharge is what a run of s charges in its accounting's unit.
func runCharge(s *Spec) float64 {
	c := s.Charge()
	return c.Epsilon + c.Rho
}

// windowSpent is the window's spend in the unit of its accounting: Σε
// while all its releases are pure, the total ρ otherwise.
func windowSpent(w ledger.Summary) float64 {
	if w.ZCDP > 0 {
		return w.Rho
	}
	return w.Epsilon
}

// shippedIn is the shipped spec with privacy.accounting switched to a (the
// one key a user changes), and extra privacy keys after it.
func shippedIn(t testing.TB, a string, extra ...string) (*Spec, error) {
	t.Helper()
	data, ok := BuiltinSpec("playback-daily")
	if !ok {
		t.Fatal("no playback-daily")
	}
	text := string(data)
	if !strings.Contains(text, "\n  accounting: pure\n") {
		t.Fatal("the shipped spec has no privacy.accounting: pure line")
	}
	repl := "\n  accounting: " + a + "\n"
	for _, e := range extra {
		repl += "  " + e + "\n"
	}
	text = strings.Replace(text, "\n  accounting: pure\n", repl, 1)
	return ParseSpec("playback-daily.yaml", strings.NewReader(text))
}

func mustShipped(t testing.TB, a string, extra ...string) *Spec {
	t.Helper()
	s, err := shippedIn(t, a, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestZCDPSpec: the keys of zcdp accounting, their defaults, the ρ a run
// gets (given, or derived from the cap over the planned runs), and every
// rule that refuses a spec, with the field and line it names.
func TestZCDPSpec(t *testing.T) {
	pure := mustShipped(t, AccountingPure)
	if pure.ZCDP() || pure.Privacy.Noise != NoiseLaplace || pure.RunRho() != 0 || pure.Charge() != (ledger.Spend{Epsilon: 0.3}) {
		t.Errorf("shipped spec: accounting %q, noise %q, ρ %v, charge %+v; want pure, laplace, 0, ε = 0.3",
			pure.Privacy.Accounting, pure.Privacy.Noise, pure.RunRho(), pure.Charge())
	}
	z := mustShipped(t, AccountingZCDP)
	capRho := dp.RhoForEpsilon(10, 1e-5)
	if z.Privacy.Noise != NoiseGaussian || !z.RhoDerived() || z.PlannedRuns() != 30 || z.Privacy.MaxRho != 0.5 {
		t.Errorf("zcdp: noise %q, derived %v, runs %d, max_rho %v; want gaussian, derived, 30, 0.5", z.Privacy.Noise, z.RhoDerived(), z.PlannedRuns(), z.Privacy.MaxRho)
	}
	if got := z.RunRho(); got != 0.0594 || got*30 > capRho {
		t.Errorf("derived ρ = %v, want 0.0594 (the cap's ρ %v over 30 runs, 3 digits, rounded down)", got, capRho)
	}
	if eps, delta := z.Spend(); z.Charge() != (ledger.Spend{Rho: 0.0594}) || eps != 0 || delta != 0 {
		t.Errorf("zcdp charge %+v, spend (%v, %v); want ρ = 0.0594 and no ε", z.Charge(), eps, delta)
	}
	var sum float64
	for _, r := range z.RhoShares() {
		sum += r
	}
	if sum += z.GateRho(); sum > z.RunRho() || sum < z.RunRho()*(1-1e-12) {
		t.Errorf("metric and gate ρ's add up to %v, want the run's %v", sum, z.RunRho())
	}
	if given := mustShipped(t, AccountingZCDP, "rho: 0.05"); given.RunRho() != 0.05 || given.RhoDerived() {
		t.Errorf("rho: 0.05 gives ρ = %v (derived %v)", given.RunRho(), given.RhoDerived())
	}
	if r60 := mustShipped(t, AccountingZCDP, "runs_per_window: 60").RunRho(); r60 != 0.0297 {
		t.Errorf("60 planned runs give ρ = %v, want 0.0297", r60)
	}
	for _, tc := range []struct {
		a     string
		extra []string
		want  string
	}{
		{AccountingPure, []string{"rho: 0.05"}, "playback-daily.yaml:67: privacy.rho: is only used with privacy.accounting: zcdp"},
		{AccountingPure, []string{"runs_per_window: 30"}, "privacy.runs_per_window: is only used with privacy.accounting: zcdp"},
		{"zCDP", nil, `privacy.accounting: must be "pure" or "zcdp", got "zCDP"`},
		{AccountingZCDP, []string{"rho: 0.9"}, "privacy.rho: must be ≤ privacy.max_rho = 0.5, got 0.9"},
		{AccountingZCDP, []string{"rho: -1"}, "privacy.rho: must be > 0 and finite, got -1"},
		{AccountingZCDP, []string{"max_rho: 5"}, "privacy.max_rho: 5 is too large for the ledger cap: one run at it would alone be (ε = "},
		{AccountingZCDP, []string{"runs_per_window: 10", "max_delta: 1e-6", "delta: 1e-6"}, ""}, // duplicate keys: refused as such
		{AccountingZCDP, []string{"runs_per_window: -3"}, "privacy.runs_per_window: must be between 1 and 100000, got -3"},
	} {
		_, err := shippedIn(t, tc.a, tc.extra...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want an error containing %q", tc.a, tc.extra, err, tc.want)
		}
	}
	// δ that leaves no room to convert ρ, and caps without δ.
	for _, tc := range []struct{ from, to, want string }{
		{"  delta: 0\n", "  delta: 1e-6\n  runs_per_window: 11\n", "privacy.delta: 1e-06 is too large to derive ρ: 11 runs"},
		{"  max_delta: 1e-6 ", "  max_delta: 1e-5 ", "privacy.max_delta: must be < ledger.cap_delta = 1e-05 under zcdp accounting"},
		{"  cap_delta: 1e-5\n", "  cap_delta: 0\n", "ledger.cap_delta: must be > 0 under zcdp accounting"},
	} {
		data, _ := BuiltinSpec("playback-daily")
		text := strings.Replace(strings.Replace(string(data), "\n  accounting: pure\n", "\n  accounting: zcdp\n", 1), tc.from, tc.to, 1)
		if _, err := ParseSpec("p.yaml", strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q → %q: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}

// TestZCDPOverrides: --accounting, --rho and --runs-per-window, within the
// spec's ceiling; --epsilon means nothing under zcdp and is refused.
func TestZCDPOverrides(t *testing.T) {
	pure := mustShipped(t, AccountingPure)
	zcdp, rho, runs := AccountingZCDP, 0.04, 15
	z, err := pure.WithAccounting(&zcdp, nil, nil)
	if err != nil || !z.ZCDP() || z.Privacy.Noise != NoiseGaussian || z.RunRho() != 0.0594 {
		t.Fatalf("--accounting zcdp = %+v, %v; want zcdp, gaussian, ρ = 0.0594", z.Privacy, err)
	}
	if z2, err := pure.WithAccounting(&zcdp, &rho, nil); err != nil || z2.RunRho() != 0.04 {
		t.Errorf("--rho 0.04: %v, %v", z2.RunRho(), err)
	}
	if z3, err := pure.WithAccounting(&zcdp, nil, &runs); err != nil || z3.RunRho() != 0.118 {
		t.Errorf("--runs-per-window 15: ρ = %v, %v; want 0.118", z3.RunRho(), err)
	}
	big := 0.6
	if _, err := pure.WithAccounting(&zcdp, &big, nil); !errors.Is(err, ErrCeiling) || !strings.Contains(err.Error(), "privacy.max_rho = 0.5") {
		t.Errorf("--rho above max_rho: %v, want ErrCeiling naming privacy.max_rho", err)
	}
	// An ε override (a CronJob's DPSTATS_EPSILON) counts as ρ = ε²/2 under
	// zcdp, within both ceilings; with --rho as well it is ambiguous.
	eps := 0.3
	ze, err := z.WithOverrides(&eps, nil, nil)
	if err != nil || ze.RunRho() != 0.045 || ze.RhoDerived() || ze.Charge() != (ledger.Spend{Rho: 0.045}) {
		t.Errorf("--epsilon 0.3 under zcdp: ρ = %v, %v; want 0.045", ze.RunRho(), err)
	}
	var plan strings.Builder
	if err := WritePlan(&plan, ze, 1000); err != nil || !strings.Contains(plan.String(), "from --epsilon 0.3: under zcdp an ε override counts as ρ = ε²/2") {
		t.Errorf("plan does not say where ρ came from (%v):\n%s", err, plan.String())
	}
	big = 1.5
	if _, err := z.WithOverrides(&big, nil, nil); !errors.Is(err, ErrCeiling) || !strings.Contains(err.Error(), "max_epsilon") {
		t.Errorf("--epsilon 1.5 under zcdp: %v, want ErrCeiling", err)
	}
	zr, _ := z.WithAccounting(nil, &rho, nil)
	if _, err := zr.WithOverrides(&eps, nil, nil); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("--rho and --epsilon under zcdp: %v, want a refusal", err)
	}
	laplace := NoiseLaplace
	zl, err := pure.WithOverrides(nil, nil, &laplace)
	if err != nil {
		t.Fatal(err)
	}
	if zl, err = zl.WithAccounting(&zcdp, nil, nil); err != nil || zl.Privacy.Noise != NoiseLaplace {
		t.Errorf("an explicit noise stays under --accounting zcdp: %q, %v", zl.Privacy.Noise, err)
	}
	back := AccountingPure
	if p, err := z.WithAccounting(&back, nil, nil); err != nil || p.ZCDP() || p.Privacy.Noise != NoiseLaplace || p.Charge() != pure.Charge() {
		t.Errorf("--accounting pure on a zcdp spec = %+v, %v; want the pure spec back", p.Privacy, err)
	}
}

// TestZCDPFillsTheCap: the derived ρ lets exactly the planned 30 runs into
// a 30-day window of the cap (the 31st is refused), and the window then
// promises (ε ≤ 10, δ = 1e-5): what plan said.
func TestZCDPFillsTheCap(t *testing.T) {
	z := mustShipped(t, AccountingZCDP)
	l, _, err := ledger.Init(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := l.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Unlock()
	c := z.LedgerCap()
	start := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	for i := range 31 {
		now := start.Add(time.Duration(i) * time.Hour)
		err := ledger.CheckSpend(tx, c, now, z.Charge())
		if i == 30 {
			var be *ledger.BudgetError
			if !errors.As(err, &be) || !be.ZCDP {
				t.Errorf("run 31: %v, want a zCDP budget refusal", err)
			}
			break
		}
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if err := tx.Append(ledger.Entry{Job: z.Name, Period: fmt.Sprint(i), Rho: z.RunRho(), Time: now}); err != nil {
			t.Fatal(err)
		}
	}
	es, _ := tx.Entries()
	s := ledger.Summarize(es, start.Add(31*time.Hour), c.Window, z.Name)
	if eps, delta := s.Guarantee(c); eps > 10 || eps < 9.9 || delta != 1e-5 {
		t.Errorf("30 runs promise (ε = %v, δ = %v), want just under (10, 1e-5)", eps, delta)
	}
}

// TestZCDPPlanTarget is the target: with the same 30-day cap
// (ε = 10, δ = 1e-5) and 30 planned runs, plan for playback-daily under
// zcdp shows count half-widths at least 4× narrower than under pure
// accounting, both the shipped pure plan (ε = 0.3 a run) and pure with the
// cap over the same 30 runs (ε = 1/3 a run).
func TestZCDPPlanTarget(t *testing.T) {
	z := mustShipped(t, AccountingZCDP)
	pureEq, err := z.PureEquivalent()
	if err != nil {
		t.Fatal(err)
	}
	po := PlanOptions{Users: 100_000}
	zr, err := PlanFor(z, po)
	if err != nil {
		t.Fatal(err)
	}
	for _, pure := range []*Spec{mustShipped(t, AccountingPure), pureEq} {
		pr, err := PlanFor(pure, po)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range zr {
			p := pr[i]
			if r.Kind != KindCount && r.Kind != KindUsers {
				continue
			}
			ratio := p.Error.HalfWidth95 / r.Error.HalfWidth95
			t.Logf("%-32s pure ε = %.4g: ±%.4g; zcdp ρ = %.4g: ±%.4g; %.1f× narrower", r.Metric, pure.Privacy.Epsilon, p.Error.HalfWidth95, r.Rho, r.Error.HalfWidth95, ratio)
			if !(ratio >= 4) {
				t.Errorf("%s: zcdp ±%v vs pure (ε = %v) ±%v: only %.2f× narrower, want ≥ 4", r.Metric, r.Error.HalfWidth95, pure.Privacy.Epsilon, p.Error.HalfWidth95, ratio)
			}
		}
	}
	var out strings.Builder
	if err := WritePlanFor(&out, z, po); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"playback-daily: zero-concentrated accounting (privacy.accounting: zcdp), gaussian noise.",
		"One run spends ρ = 0.0594, δ = 0: derived from the ledger cap (ε = 10, δ = 1e-05 per 30 days is ρ = 1.783 in total) over 30 planned runs",
		"What it promises: one run on its own is (ε = 1.437, δ = 1e-05)-DP; 30 runs in 30 days add up to ρ = 1.782, together (ε = 9.998, δ = 1e-05)-DP.",
		"METRIC                          KIND       ρ ",
		"What zCDP buys: the same cap over the same 30 runs under pure accounting would give each run ε = 0.3333 (Laplace noise):",
		"counted with ρ = 0.001856 each",
		"Raise ρ (--rho, up to 0.5)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
}

// TestZCDPReleasesMatchPlan: real releases of the shipped spec under zcdp
// have the spread plan predicts. For three metrics and the quality gate's
// count, R releases of a fixed population whose contributions the caps
// leave whole (so every pre-noise value is known) give R × partitions noise
// draws; their standard deviation over plan's StdDev must be 1.00 ± 0.05.
// Its standard error is 1/√(2N) ≤ 0.0087 for N ≥ 6600 (Gaussian noise): ±
// 0.05 is ≥ 5.7 of them, a false-failure rate < 2e-8 per metric, < 1e-7 in
// all. The σ itself is checked against √l0·l∞/√(2ρ) of the metric's ρ.
func TestZCDPReleasesMatchPlan(t *testing.T) {
	z := mustShipped(t, AccountingZCDP)
	rows, err := PlanFor(z, PlanOptions{Users: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	opts := z.MetricOptions(nil)
	type target struct {
		opt  dp.MetricOptions
		plan float64
	}
	var targets []target
	for i, r := range rows {
		switch r.Metric {
		case "device_type_share", "users_by_device_type", "bitrate_distribution":
			targets = append(targets, target{opts[i], r.Error.StdDev})
		}
	}
	gate := z.GateOptions(nil)[0]
	ge, err := dp.PlanError(gate, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	targets = append(targets, target{gate, ge.StdDev})
	for _, tg := range targets {
		o := tg.opt
		parts := len(o.Partitions) + 1
		if o.NoOther {
			parts--
		}
		R := (6600 + parts - 1) / parts // N ≥ 6600 draws
		per := int64(o.MaxPerPartition)
		if o.Kind == dp.KindUsers {
			per = 1
		}
		// Enough users per partition that the true value is 6.5 planned σ
		// above 0, where a release would be clamped: P(a draw is clamped)
		// = Φ(−6.5) ≈ 4e-11, under 3e-7 for the test's ~26,000 draws.
		// (100 users each was 2.8σ for bitrate_distribution: a clamp in
		// about one run in ten.)
		perPart := max(100, int(math.Ceil(6.5*tg.plan/float64(per))))
		var sq float64
		n := 0
		for range R {
			a, err := dp.NewAggregator(o)
			if err != nil {
				t.Fatal(err)
			}
			for u := range parts * perPart {
				a.AddEvents(uint32(u), int32(u%parts), int(per))
			}
			rel, err := a.Release(nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rel.Partitions) != parts {
				t.Fatalf("%s: %d partitions released, want %d", o.Name, len(rel.Partitions), parts)
			}
			for _, p := range rel.Partitions {
				want := float64(perPart) * float64(per)
				if p.Clamped {
					t.Fatalf("%s: a value was clamped: the test's population is too small", o.Name)
				}
				sq += (p.Value - want) * (p.Value - want)
				n++
			}
		}
		sd := math.Sqrt(sq / float64(n))
		ideal := dp.GaussianSigma(int64(o.MaxPartitions), float64(per), o.Rho*(1-CapsCutFraction))
		if o.Kind == dp.KindUsers && strings.HasPrefix(o.Name, PopulationPrefix) {
			ideal = dp.GaussianSigma(1, 1, o.Rho*(1-o.CapsCutFraction))
		}
		t.Logf("%s: measured sd %.4g over %d draws, plan %.4g, σ from ρ %.4g: ratio %.4f", o.Name, sd, n, tg.plan, ideal, sd/tg.plan)
		if r := sd / tg.plan; math.Abs(r-1) > 0.05 {
			t.Errorf("%s: measured sd %v, plan predicts %v: ratio %.4f, want 1.00 ± 0.05", o.Name, sd, tg.plan, r)
		}
		if r := tg.plan / ideal; r < 1 || r > 1.01 {
			t.Errorf("%s: plan's σ %v vs the σ ρ allows %v: ratio %v, want in [1, 1.01]", o.Name, tg.plan, ideal, r)
		}
	}
}

// TestZCDPRunReport: a zcdp run records ρ in the ledger and publishes a
// report whose every figure is accounted in ρ: the report's ρ is the run's,
// the metrics' and the gate's ρ's add up to it, and each (ε, δ) is what that
// ρ promises on its own at the cap's δ.
func TestZCDPRunReport(t *testing.T) {
	h := newHarness(t)
	evs, gs := population(300)
	spec := specIn(t, AccountingZCDP, 1, 10)
	res, data := h.release(spec, evs, gs)
	e := h.entries()[0]
	if !e.ZCDP() || e.Rho != 0.5 || e.Epsilon != 0 || e.Delta != 1e-9 || res.Rho != 0.5 || res.Epsilon != 0 {
		t.Errorf("ledger entry %+v, result ρ %v ε %v; want ρ = 0.5, δ = 1e-9, no ε", e, res.Rho, res.Epsilon)
	}
	var r struct {
		Epsilon, Delta float64
		ZCDP           *struct{ Rho, Delta float64 }
		Ledger         struct {
			EpsilonSpent float64 `json:"epsilon_spent"`
			DeltaSpent   float64 `json:"delta_spent"`
			ZCDP         *struct {
				RhoSpent float64 `json:"rho_spent"`
				RhoCap   float64 `json:"rho_cap"`
			}
		}
		Metrics []struct {
			Name           string
			Epsilon, Delta float64
			ZCDP           *struct{ Rho, Delta float64 }
		}
		Population []struct {
			Epsilon float64
			ZCDP    *struct{ Rho, Delta float64 }
		}
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Abs(b) } // report.json keeps 6 digits
	alone, _ := spec.Alone(0.5, 1e-9)
	if r.ZCDP == nil || r.ZCDP.Rho != 0.5 || r.ZCDP.Delta != 1e-9 || !near(r.Epsilon, alone) || r.Delta != 1e-6 {
		t.Errorf("report: ε %v, δ %v, zcdp %+v; want ρ = 0.5, δ = 1e-9, alone (%v, 1e-6)", r.Epsilon, r.Delta, r.ZCDP, alone)
	}
	if l := r.Ledger; l.ZCDP == nil || l.ZCDP.RhoSpent != 0.5 || !near(l.EpsilonSpent, alone) || l.DeltaSpent != 1e-6 || !near(l.ZCDP.RhoCap, dp.RhoForEpsilon(10, 1e-6)) {
		t.Errorf("report's ledger = %+v (zcdp %+v)", l, l.ZCDP)
	}
	var sum float64
	for i, m := range r.Metrics {
		if m.ZCDP == nil || !near(m.ZCDP.Rho, spec.RhoShares()[i]) {
			t.Errorf("%s: zcdp %+v, want ρ = %v", m.Name, m.ZCDP, spec.RhoShares()[i])
			continue
		}
		sum += m.ZCDP.Rho
		if a, _ := spec.Alone(m.ZCDP.Rho, m.ZCDP.Delta); !near(m.Epsilon, a) {
			t.Errorf("%s: ε %v, want %v (its ρ alone)", m.Name, m.Epsilon, a)
		}
	}
	for _, p := range r.Population {
		if p.ZCDP == nil {
			t.Fatalf("population count without zcdp")
		}
		sum += p.ZCDP.Rho
	}
	if !near(sum, 0.5) {
		t.Errorf("metrics and gate spent ρ = %v in all, want the run's 0.5", sum)
	}
	page, err := os.ReadFile(filepath.Join(res.Dir, "index.html"))
	if err != nil || !bytes.Contains(page, []byte("zero-concentrated differential privacy")) {
		t.Errorf("index.html does not explain zCDP (%v)", err)
	}
}

// TestZCDPExplain: the privacy tab under zcdp says ρ per run, where it comes
// from and what it promises, each statistic's ρ, and its JSON carries them;
// the pure tab of the same spec has none of it.
func TestZCDPExplain(t *testing.T) {
	var text, js, pure strings.Builder
	z := mustShipped(t, AccountingZCDP)
	if err := Explain(&text, z, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Accounting:",
		"zero-concentrated differential privacy",
		"ρ = 0.0594 (derived: the ledger cap is ρ = 1.783 in total, over 30 planned runs",
		"on its own (ε = 1.437, δ = 1e-05); 30 runs in 30 days together (ε = 9.998, δ = 1e-05)",
		"Charged to the ledger:  ρ = 0.0594, δ = 0 per run",
		"ρ = 0.003713 (6.2% of the run's ρ, weight 1), δ = 0; of which ρ = 0.0003713 estimates how many users the per-user caps cut",
	} {
		if !strings.Contains(strings.Join(strings.Fields(text.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("explain text lacks %q:\n%s", want, text.String())
		}
	}
	if err := Explain(&js, z, "json"); err != nil {
		t.Fatal(err)
	}
	var e struct {
		ZCDP *struct {
			Rho           float64 `json:"rho"`
			WindowEpsilon float64 `json:"window_epsilon"`
		} `json:"zcdp"`
		Statistics []struct {
			Rho          float64 `json:"rho"`
			EpsilonShare float64 `json:"epsilon_share"`
		} `json:"statistics"`
	}
	if err := json.Unmarshal([]byte(js.String()), &e); err != nil {
		t.Fatal(err)
	}
	if e.ZCDP == nil || e.ZCDP.Rho != 0.0594 || e.ZCDP.WindowEpsilon > 10 || e.Statistics[0].Rho == 0 || math.Abs(e.Statistics[0].EpsilonShare-1.0/16) > 1e-12 {
		t.Errorf("explain json zcdp = %+v, statistics[0] = %+v", e.ZCDP, e.Statistics[0])
	}
	if err := Explain(&pure, mustShipped(t, AccountingPure), "json"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pure.String(), "rho") || strings.Contains(pure.String(), "zcdp") {
		t.Error("the pure privacy tab mentions rho or zcdp")
	}
}
