package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/dp"
)

// gateSpec is the runner's test job with the quality gate at min_users.
func gateSpec(t testing.TB, eps float64, minUsers string) *Spec {
	return gateSpecIn(t, AccountingPure, eps, minUsers)
}

// gateSpecIn is gateSpec under accounting a (see specIn).
func gateSpecIn(t testing.TB, a string, eps float64, minUsers string) *Spec {
	t.Helper()
	text := strings.Replace(strings.NewReplacer("CAP", "1e9", "EPS", formatNumber(eps)).Replace(runSpecYAML),
		"quality_gate: {min_users: 0}", "quality_gate: {min_users: "+minUsers+"}", 1)
	if a == AccountingZCDP {
		rho := formatNumber(eps * eps / 2)
		text = strings.Replace(text, "noise: laplace}", "noise: gaussian, accounting: zcdp, rho: "+rho+", max_rho: "+rho+"}", 1)
	}
	s, err := ParseSpec("gate-test.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func shippedSpec(t testing.TB) *Spec {
	t.Helper()
	data, ok := BuiltinSpec("playback-daily")
	if !ok {
		t.Fatal("no playback-daily")
	}
	s, err := ParseSpec("playback-daily.yaml", strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGateSpec(t *testing.T) {
	base := baseSpec(t)
	if got, want := mustParse(t, edit(base, nil)).Gate, DefaultQualityGate(); got != want {
		t.Errorf("Gate without quality_gate = %+v, want the defaults %+v", got, want)
	}
	text := edit(base, nil) + "quality_gate: {min_users: 0}\n"
	if got, want := mustParse(t, text).Gate, (QualityGate{Weight: DefaultGateWeight, MinUsers: 0}); got != want {
		t.Errorf("Gate with min_users only = %+v, want %+v", got, want)
	}
	text = edit(base, nil) + "quality_gate:\n  weight: 0.5\n  min_users: 150\n"
	if got, want := mustParse(t, text).Gate, (QualityGate{Weight: 0.5, MinUsers: 150}); got != want {
		t.Errorf("Gate = %+v, want %+v", got, want)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"quality_gate: {weight: 0}", "quality_gate.weight: must be > 0, got 0"},
		{"quality_gate: {weight: -1}", "quality_gate.weight: must be > 0, got -1"},
		{"quality_gate: {min_users: -5}", "quality_gate.min_users: must be between 0 and 1000000000, got -5"},
		{"quality_gate: {min_users: 2.5}", "quality_gate.min_users: must be a whole number"},
		{"quality_gate: {min_user: 5}", `quality_gate.min_user: unknown key (did you mean "min_users"?)`},
		{"quality_gate: 5", "quality_gate: must be a mapping"},
	} {
		_, err := parse(t, edit(base, nil)+tt.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
}

// TestGateNoiseScale checks the gate's budget at the shipped spec and the
// noise its counts really get. The shipped ε = 0.3 is split by weight over
// metrics of total weight 15 and the gate's 1: the gate gets 0.3/16, each
// of its 2 categories half of that, so each count has Laplace noise of
// scale b = 1/ε_count ≈ 106.7 (sensitivity 1).
func TestGateNoiseScale(t *testing.T) {
	s := shippedSpec(t)
	var metricEps float64
	for _, sh := range s.Shares() {
		metricEps += sh.Epsilon
	}
	gate := s.GateShare()
	if want := 0.3 / 16; math.Abs(gate.Epsilon-want) > 1e-15 {
		t.Errorf("GateShare().Epsilon = %v, want %v", gate.Epsilon, want)
	}
	if metricEps+gate.Epsilon > s.Privacy.Epsilon {
		t.Errorf("metrics (%v) and gate (%v) spend more than the run's ε %v", metricEps, gate.Epsilon, s.Privacy.Epsilon)
	}
	opts := s.GateOptions(nil)
	if got, want := len(opts), 2; got != want {
		t.Fatalf("%d gate counts, want %d", got, want)
	}
	var sum float64
	for i, o := range opts {
		if want := PopulationPrefix + s.ConsentCategories()[i]; o.Name != want || o.Kind != dp.KindUsers || o.MaxPartitions != 1 || len(o.Partitions) != 0 {
			t.Errorf("gate count %d = %+v, want %s: users, a single total, one partition per user", i, o, want)
		}
		sum += o.Epsilon
	}
	if sum > gate.Epsilon {
		t.Errorf("gate counts spend ε = %v > the gate's %v", sum, gate.Epsilon)
	}
	eps := opts[0].Epsilon
	b := 1 / eps
	if math.Abs(b-1/(0.3/32)) > 1e-6 {
		t.Fatalf("noise scale %v, want %v", b, 1/(0.3/32))
	}

	// Empirically: n releases of a count of 3000 users (noise below −3000
	// has probability ½e^{−28}: no clamping). |noise| is exponential with
	// mean b and standard deviation b, so the mean of n = 4000 draws is
	// within 6·b/√n of b except with probability < 1e-8. A scale off by a
	// factor of 2 (or √2) fails.
	const users, n = 3000, 4000
	var absSum float64
	for range n {
		a, err := dp.NewAggregator(opts[0])
		if err != nil {
			t.Fatal(err)
		}
		for u := range users {
			a.AddEvents(uint32(u), 0, 1+u%3)
		}
		r, err := a.Release(nil)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Partitions[0]
		absSum += math.Abs(p.Value - users)
		// The library's 95% interval of a Laplace count is ±b·ln(20).
		if hw := (p.Upper - p.Lower) / 2; math.Abs(hw-b*math.Log(20)) > 1 {
			t.Fatalf("interval half-width %v, want b·ln 20 = %v", hw, b*math.Log(20))
		}
	}
	mean := absSum / n
	if tol := 6 * b / math.Sqrt(n); math.Abs(mean-b) > tol {
		t.Errorf("mean |noise| = %.2f, want the scale b = %.2f ± %.2f", mean, b, tol)
	}
}

// TestRunWithheld: a population far below min_users is withheld: nothing
// is published, the gate's share is charged with Withheld set, a retry
// without Rerun reads and charges nothing, and Rerun runs (and charges)
// again.
func TestRunWithheld(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunWithheld(t, a) })
	}
}

func testRunWithheld(t *testing.T, a string) {
	h := newHarness(t)
	spec := gateSpecIn(t, a, 10, "100")
	evs, gs := population(50)
	// ε = 10 over weights 5 + 1: each of the 2 gate counts has ε = 10/12,
	// Laplace scale 1.2. 50 users pass 100 with probability ½e^{−50/1.2};
	// 200 users fail it with the same probability.
	res, err := Run(context.Background(), h.with(spec, evs, gs))
	var w *WithheldError
	if !errors.As(err, &w) {
		t.Fatalf("Run = %v, %v; want a *WithheldError", res, err)
	}
	if res == nil || res.Status != StatusWithheld {
		t.Fatalf("Result = %+v, want status withheld", res)
	}
	gate := spec.GateCharge()
	if res.Epsilon != gate.Epsilon || res.Delta != gate.Delta || res.Rho != gate.Rho {
		t.Errorf("Result charged ε = %v, δ = %v, ρ = %v, want the gate's %+v", res.Epsilon, res.Delta, res.Rho, gate)
	}
	if got := len(w.Failed); got != 2 {
		t.Errorf("%d categories failed, want 2: %v", got, w.Failed)
	}
	msg := err.Error()
	for _, want := range []string{"quality gate failed for run-test 2026-11-01: nothing was published", "playback_stats", "product_usage", "min_users = 100", "gate-test.yaml",
		"the period: 2026-11-01", "event_time", "consent categories", "user ids", "dpstats inspect", res.RunID} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"checkGate", "withhold", "Run:"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message names internal %q:\n%s", bad, msg)
		}
	}
	es := h.entries()
	if len(es) != 1 {
		t.Fatalf("ledger has %d entries, want 1", len(es))
	}
	e := es[0]
	if !e.Withheld || e.Epsilon != gate.Epsilon || e.Rho != gate.Rho || e.Delta != gate.Delta || e.RunID != res.RunID ||
		!slices.Equal(e.Metrics, []string{"population:playback_stats", "population:product_usage"}) {
		t.Errorf("ledger entry = %+v, want withheld, ε = %v, the gate's counts", e, gate.Epsilon)
	}
	if _, err := os.Stat(filepath.Join(h.out, "run-test", period)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("withheld period has an output directory (err %v)", err)
	}
	if windowSpent(res.Window) != gate.Epsilon+gate.Rho {
		t.Errorf("window spend %v, want the gate's %v", windowSpent(res.Window), gate.Epsilon+gate.Rho)
	}

	// A retry reads nothing: unreadable inputs prove it.
	res2, err := Run(context.Background(), h.config(spec, unreadable(), unreadable()))
	var w2 *WithheldError
	if !errors.As(err, &w2) || !w2.Earlier || res2 == nil || res2.Status != StatusWithheld || res2.Epsilon != 0 || res2.Rho != 0 {
		t.Fatalf("retry = %+v, %v; want withheld earlier, nothing charged", res2, err)
	}
	if !strings.Contains(err.Error(), "withheld at run "+res.RunID) || !strings.Contains(err.Error(), "charged nothing") {
		t.Errorf("retry message does not name the withheld run %s:\n%s", res.RunID, err)
	}
	if got := len(h.entries()); got != 1 {
		t.Errorf("retry left %d ledger entries, want 1", got)
	}

	// --rerun with enough users releases, charged the whole run.
	evs, gs = population(200)
	cfg := h.with(spec, evs, gs)
	cfg.Rerun = true
	res3, err := Run(context.Background(), cfg)
	if err != nil || res3.Status != StatusReleased {
		t.Fatalf("rerun = %+v, %v; want released", res3, err)
	}
	es = h.entries()
	if len(es) != 2 || es[1].Withheld || !es[1].Rerun || chargedOf(es[1]) != runCharge(spec) {
		t.Errorf("ledger after rerun = %+v, want a second, released entry charged %v", es, runCharge(spec))
	}
	if _, err := os.Stat(filepath.Join(res3.Dir, "report.json")); err != nil {
		t.Errorf("rerun published no report: %v", err)
	}
}

// TestRunWithheldOneCategory: consent only for product_usage leaves the
// playback_stats count at 0 users: the run is withheld, naming that
// category only (200 users pass 100 but for ½e^{−100/1.2}).
func TestRunWithheldOneCategory(t *testing.T) {
	h := newHarness(t)
	evs, gs := population(200)
	var only []grant
	for _, g := range gs {
		if g.category == "product_usage" {
			only = append(only, g)
		}
	}
	_, err := Run(context.Background(), h.with(gateSpec(t, 10, "100"), evs, only))
	var w *WithheldError
	if !errors.As(err, &w) {
		t.Fatalf("Run = %v, want withheld", err)
	}
	if len(w.Failed) != 1 || w.Failed[0].Category != "playback_stats" {
		t.Errorf("failed checks %+v, want playback_stats only", w.Failed)
	}
}

// TestGateDecidesOnNoisyCounts is the adversarial test of the gate: with
// min_users equal to the exact number of users, a gate that looked at
// exact counts would always publish. The DP gate compares noisy counts, so
// it withholds about as often as the noise falls below zero: each of the 2
// counts is at least the threshold with probability ½ + P(noise = 0)/2 ≈
// 0.52 (Laplace scale 12), so a run is withheld with probability ≈ 0.73.
// Of 60 runs the number withheld is Binomial(60, 0.73): below 20 with
// probability < 1e-10, all 60 with probability 0.73⁶⁰ ≈ 6·10⁻⁹. A gate on
// exact counts withholds none; one that always withholds, all.
func TestGateDecidesOnNoisyCounts(t *testing.T) {
	const users, runs = 40, 60
	h := newHarness(t)
	spec := gateSpec(t, 1, "40")
	evs, gs := population(users)
	withheld := 0
	for i := range runs {
		cfg := h.with(spec, evs, gs)
		cfg.Rerun = i > 0
		_, err := Run(context.Background(), cfg)
		var w *WithheldError
		switch {
		case errors.As(err, &w):
			withheld++
		case err != nil:
			t.Fatal(err)
		}
	}
	t.Logf("%d of %d runs withheld at min_users = the exact user count", withheld, runs)
	if withheld < 20 || withheld == runs {
		t.Errorf("%d of %d runs at min_users = the exact user count were withheld, want 20–%d", withheld, runs, runs-1)
	}
}

// TestPopulationAndUserShares: the report carries the gate's counts, and a
// users metric's shares are of its category's users (not normalized: a
// user counts in up to 2 device types, so they add up to more than 1). At
// ε = 10⁶ the noise is far below the tolerances.
func TestPopulationAndUserShares(t *testing.T) {
	h := newHarness(t)
	const n = 200 // all in the period (user u's events start at minute 7u)
	evs, gs := population(n)
	_, data := h.release(exactSpec(t), evs, gs)
	var r struct {
		MinUsers   *int `json:"min_users"`
		Population []struct {
			Category     string
			Value        float64
			Lower, Upper float64
		} `json:"population"`
		Metrics []struct {
			Name       string `json:"name"`
			Partitions []struct {
				Name       string   `json:"name"`
				Value      float64  `json:"value"`
				Share      *float64 `json:"share"`
				ShareLower *float64 `json:"share_lower"`
				ShareUpper *float64 `json:"share_upper"`
			} `json:"partitions"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.MinUsers == nil || *r.MinUsers != 0 {
		t.Errorf("min_users = %v, want 0 (the runner's test spec)", r.MinUsers)
	}
	if len(r.Population) != 2 || r.Population[0].Category != "playback_stats" || r.Population[1].Category != "product_usage" {
		t.Fatalf("population = %+v, want playback_stats and product_usage", r.Population)
	}
	for _, p := range r.Population {
		if math.Abs(p.Value-n) > 0.5 || p.Lower > n || p.Upper < n {
			t.Errorf("population %s = %v [%v, %v], want %d", p.Category, p.Value, p.Lower, p.Upper, n)
		}
	}
	// Exact users per device: user u has u%3+1 events on devices (u+k)%2.
	want := map[string]float64{}
	for u := range n {
		seen := map[string]bool{}
		for k := 0; k <= u%3; k++ {
			seen[[]string{"tv", "phone"}[(u+k)%2]] = true
		}
		for d := range seen {
			want[d]++
		}
	}
	var shares float64
	for _, m := range r.Metrics {
		if m.Name != "device_users" {
			for _, p := range m.Partitions {
				if m.Name == "device_share" && p.Share == nil {
					t.Errorf("count metric %s/%s lost its share", m.Name, p.Name)
				}
			}
			continue
		}
		for _, p := range m.Partitions {
			if p.Share == nil || p.ShareLower == nil || p.ShareUpper == nil {
				t.Fatalf("users metric partition %s has no share", p.Name)
			}
			if math.Abs(*p.Share-want[p.Name]/n) > 1e-3 || *p.ShareLower > *p.Share || *p.ShareUpper < *p.Share {
				t.Errorf("%s: share %v [%v, %v], want %v", p.Name, *p.Share, *p.ShareLower, *p.ShareUpper, want[p.Name]/n)
			}
			shares += *p.Share
		}
	}
	if shares < 1.5 {
		t.Errorf("users shares add up to %v, want > 1.5 (two thirds of the users play on both devices)", shares)
	}
}

// TestGatePlan: `dpstats plan` states the gate's noise (±b·ln 20 at 95%,
// b = 1/0.009375) and threshold.
func TestGatePlan(t *testing.T) {
	var b bytes.Buffer
	if err := WritePlan(&b, shippedSpec(t), 40000); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Quality gate", "(playback_stats, product_usage)", "ε = 0.009375 each", "±319.5 users at 95%", "min_users = 2000"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, b.String())
		}
	}
}
