package ledger

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/dp"
)

// TestZCDPRecordFormat: a zCDP release is one line with "rho" where a pure
// one has "epsilon"; it reads back exactly; ledgers written before zCDP
// existed read as before; a record with both, or a bad ρ, is corruption.
func TestZCDPRecordFormat(t *testing.T) {
	e := Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Rho: 0.0594, Delta: 0,
		Metrics: []string{"device_type_share"}, Time: t0}
	line := string(appendRecord(nil, e))
	want := `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","rho":0.0594,"delta":0,"run_id":"r1","rerun":false,"metrics":["device_type_share"]}` + "\n"
	if line != want {
		t.Errorf("appendRecord:\n got %s\nwant %s", line, want)
	}
	back, err := decodeRecord([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil || !reflect.DeepEqual(back, e) || !back.ZCDP() {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, e)
	}
	// A ledger of the format before zCDP: every line still reads, as pure.
	old := `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":0.3,"delta":0,"run_id":"r1","rerun":false,"metrics":["device_type_share"]}
{"time":"2024-05-02T02:00:00Z","job":"playback-daily","period":"2024-05-01","epsilon":0.01875,"delta":0,"run_id":"r2","rerun":false,"withheld":true,"metrics":["population:playback_stats"]}
`
	entries, err := parse([]byte(old+line), t0, "ledger")
	if err != nil || len(entries) != 3 {
		t.Fatalf("parse old + new = %+v, %v", entries, err)
	}
	if entries[0].ZCDP() || entries[0].Epsilon != 0.3 || !entries[1].Withheld || !entries[2].ZCDP() || entries[2].Rho != 0.0594 {
		t.Errorf("entries = %+v", entries)
	}
	for name, bad := range map[string]string{
		"both":     strings.Replace(line, `"rho":0.0594`, `"epsilon":1,"rho":0.0594`, 1),
		"zero rho": strings.Replace(line, `0.0594`, `0`, 1),
		"negative": strings.Replace(line, `0.0594`, `-0.1`, 1),
		"neither":  strings.Replace(line, `"rho":0.0594,`, ``, 1),
	} {
		if _, err := parse([]byte(bad), t0, "ledger"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: parse = %v, want ErrCorrupt", name, err)
		}
	}
	for _, bad := range []Entry{
		{Job: "j", Period: "p", Rho: 0.1, Epsilon: 0.1, Time: t0},
		{Job: "j", Period: "p", Rho: math.Inf(1), Time: t0},
		{Job: "j", Period: "p", Rho: -1, Time: t0},
	} {
		if validate(bad) == nil {
			t.Errorf("validate(%+v) = nil, want an error", bad)
		}
	}
}

// TestSalvageZCDP cuts a zCDP record at every byte: whatever is salvaged is
// what was written, and a record whose ρ was not written whole is of
// unknown spend (charged as the whole budget), never a pure ε = 0.
func TestSalvageZCDP(t *testing.T) {
	e := Entry{Job: "job", Period: "2024-04-30", RunID: "r", Rho: 0.0123456, Delta: 1.5e-9, Time: t0, Metrics: []string{"m"}}
	line := appendRecord(nil, e)
	rhoEnd := strings.Index(string(line), "0.0123456") + len("0.0123456")
	for n := 1; n < len(line)-1; n++ {
		got, err := parse(line[:n], t0.Add(time.Hour), "")
		if err != nil || len(got) != 1 || !got[0].Torn {
			t.Fatalf("cut at %d: %+v, %v", n, got, err)
		}
		g := got[0]
		if !g.Unknown() && (g.Rho != e.Rho || g.Epsilon != 0 || g.Delta != e.Delta) {
			t.Errorf("cut at %d: known spend ρ %v, ε %v, δ %v; want ρ %v, δ %v", n, g.Rho, g.Epsilon, g.Delta, e.Rho, e.Delta)
		}
		if n <= rhoEnd && (!g.Unknown() || g.Rho != 0) {
			t.Errorf("cut at %d (inside or before ρ): %+v, want unknown without ρ", n, g)
		}
		s := newSum()
		s.add(g)
		if g.Unknown() && s.fits(Cap{Epsilon: 1e9, Delta: 0.5, Window: day}, Spend{Rho: 1e-9}) {
			t.Errorf("cut at %d: an unknown record lets a release through", n)
		}
	}
}

// spendUnit gives, per accounting, the spend of one of n releases that
// exactly fill the cap c: ε/n for pure, and for zCDP the ρ the cap allows
// over n, rounded down to 3 significant digits as a spec derives it.
type spendUnit func(c Cap, n int) Spend

var modes = []struct {
	name string
	unit spendUnit
}{
	{"pure", func(c Cap, n int) Spend { return Spend{Epsilon: c.Epsilon / float64(n)} }},
	{"zcdp", func(c Cap, n int) Spend {
		r := dp.RhoForEpsilon(c.Epsilon, c.Delta) / float64(n)
		p := math.Pow(10, math.Floor(math.Log10(r))-2)
		return Spend{Rho: math.Floor(r/p) * p}
	}},
}

func entryOf(sp Spend, ago time.Duration, period string) Entry {
	return Entry{Job: "j", Period: period, Epsilon: sp.Epsilon, Rho: sp.Rho, Delta: sp.Delta, Time: t0.Add(-ago)}
}

// TestCheckBothModes runs the release protocol's budget rules under both
// accountings: n releases fill the cap and the next is refused, with a
// WaitUntil and a suggestion that work; an entry exactly a window old no
// longer counts; future-dated entries count; a torn record of unknown spend
// refuses until it leaves; a request above what one release may spend
// cannot wait.
func TestCheckBothModes(t *testing.T) {
	c := Cap{Epsilon: 10, Delta: 1e-5, Window: 30 * day}
	const n = 30
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			u := m.unit(c, n)
			var full []Entry
			for i := range n {
				full = append(full, entryOf(u, time.Duration(i)*day, "d"))
			}
			if err := CheckSpend(&memTx{full[:n-1]}, c, t0, u); err != nil {
				t.Errorf("release %d of %d refused: %v", n, n, err)
			}
			err := CheckSpend(&memTx{full}, c, t0, u)
			var be *BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("release %d: %v, want a *BudgetError", n+1, err)
			}
			// The oldest release (29 days old) leaves in a day.
			if want := t0.Add(day); !be.WaitUntil.Equal(want) {
				t.Errorf("WaitUntil = %v, want %v", be.WaitUntil, want)
			}
			if err := CheckSpend(&memTx{full}, c, be.WaitUntil, u); err != nil {
				t.Errorf("at WaitUntil: %v", err)
			}
			if err := CheckSpend(&memTx{full}, c, be.WaitUntil.Add(-1), u); err == nil {
				t.Errorf("just before WaitUntil: nil, want a refusal")
			}
			if m.name == "zcdp" {
				if !be.ZCDP || be.RequestedRho != u.Rho || be.MaxRho <= 0 || be.MaxRho >= u.Rho || !strings.Contains(err.Error(), "lower --rho to") {
					t.Errorf("zCDP refusal = %+v: %v", be, err)
				}
				if err := CheckSpend(&memTx{full}, c, t0, Spend{Rho: be.MaxRho}); err != nil {
					t.Errorf("following the hint (ρ = %v): %v", be.MaxRho, err)
				}
				if !strings.Contains(err.Error(), "ρ = ") || !strings.Contains(err.Error(), "crossing the cap of ε = 10") {
					t.Errorf("error does not speak ρ and the cap: %v", err)
				}
			}
			// Exactly a window old: out.
			old := append([]Entry{entryOf(Spend{Epsilon: u.Epsilon * n, Rho: u.Rho * n}, 30*day, "old")}, full[:n-1]...)
			if err := CheckSpend(&memTx{old}, c, t0, u); err != nil {
				t.Errorf("with a window-old entry: %v", err)
			}
			// Dated in the future: in.
			future := append([]Entry{entryOf(u, -day, "future")}, full[:n-1]...)
			if err := CheckSpend(&memTx{future}, c, t0, u); err == nil {
				t.Errorf("a future-dated entry was not counted")
			}
			// A torn record of unknown spend refuses until it leaves.
			torn := []Entry{{Line: 1, Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1), Time: t0.Add(-day)}}
			if err := CheckSpend(&memTx{torn}, c, t0, u); !errors.As(err, &be) || len(be.UnknownLines) != 1 || !be.WaitUntil.Equal(t0.Add(29*day)) {
				t.Errorf("torn record: %v", err)
			}
			// One release above the cap can never fit.
			huge := Spend{Epsilon: u.Epsilon * 1000, Rho: u.Rho * 1000}
			if err := CheckSpend(&memTx{}, c, t0, huge); !errors.As(err, &be) || !be.WaitUntil.IsZero() {
				t.Errorf("huge request: %v", err)
			}
		})
	}
}

// TestCheckZCDPAccounting checks the window rule of zcdp.go against an
// independent computation of the same bounds, on ledgers that mix pure and
// zCDP entries, and the properties that keep it safe: a pure-only window
// is summed exactly as before; adding a release never lowers the window's
// ε; the conversion is at the cap's δ minus every δ spent.
func TestCheckZCDPAccounting(t *testing.T) {
	c := Cap{Epsilon: 10, Delta: 1e-5, Window: 30 * day}
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		var entries []Entry
		var pureEps, pureSq, rhoZ, delta float64
		zcdp := 0
		for i := range 1 + r.IntN(40) {
			e := Entry{Job: "j", Period: "p", Time: t0.Add(-time.Duration(r.IntN(29*24)) * time.Hour)}
			if r.IntN(2) == 0 {
				e.Epsilon = math.Round(r.Float64()*1000) / 1000 / 2
				pureEps += e.Epsilon
				pureSq += e.Epsilon * e.Epsilon / 2
			} else {
				e.Rho = (1 + math.Round(r.Float64()*1000)) / 1e4
				rhoZ += e.Rho
				zcdp++
			}
			if r.IntN(5) == 0 {
				e.Delta = 1e-8
				delta += e.Delta
			}
			e.Line = i + 1
			entries = append(entries, e)
		}
		s := Summarize(entries, t0, c.Window, "j")
		got, gotDelta := s.Guarantee(c)
		if zcdp == 0 {
			if math.Abs(got-pureEps) > 1e-9 || gotDelta != s.Delta {
				t.Errorf("trial %d: pure-only window = (%v, %v), want the sum (%v, %v)", trial, got, gotDelta, pureEps, s.Delta)
			}
			continue
		}
		room := c.Delta - delta
		want := math.Min(dp.EpsilonForRho(rhoZ+pureSq, room), pureEps+dp.EpsilonForRho(rhoZ, room))
		if math.Abs(got-want) > 1e-6*want || gotDelta != c.Delta {
			t.Errorf("trial %d: window = (%v, %v), want (%v, %v)", trial, got, gotDelta, want, c.Delta)
		}
		if math.Abs(s.Rho-(rhoZ+pureSq)) > 1e-9 {
			t.Errorf("trial %d: ρ = %v, want %v", trial, s.Rho, rhoZ+pureSq)
		}
		more := Summarize(append(entries, Entry{Job: "k", Period: "q", Rho: 1e-4, Time: t0}), t0, c.Window, "")
		if e2, _ := more.Guarantee(c); e2 < got {
			t.Errorf("trial %d: adding a release lowered ε from %v to %v", trial, got, e2)
		}
		// The check agrees with the guarantee.
		fits := s.spent.fits(c, Spend{Rho: 1e-4})
		e2, _ := more.Guarantee(c)
		if fits != (e2 <= c.Epsilon) {
			t.Errorf("trial %d: fits = %v but ε with the release = %v", trial, fits, e2)
		}
	}
}

// TestLedgerOfPureEntriesSwitchedToZCDP: a job that ran 29 days under pure
// accounting (ε = 0.3 a day) switches to zCDP. Its pure releases count
// ε²/2 each; the zCDP release fits, and the window's guarantee is the
// better of the two bounds. A pure run after that is checked the same way.
func TestLedgerOfPureEntriesSwitchedToZCDP(t *testing.T) {
	c := Cap{Epsilon: 10, Delta: 1e-5, Window: 30 * day}
	var entries []Entry
	for i := range 29 {
		entries = append(entries, Entry{Job: "j", Period: "p", Epsilon: 0.3, Time: t0.Add(-time.Duration(i+1) * day)})
	}
	rho := 0.0594
	if err := CheckSpend(&memTx{entries}, c, t0, Spend{Rho: rho}); err != nil {
		t.Fatalf("zCDP release after 29 pure ones: %v", err)
	}
	entries = append(entries, Entry{Job: "j", Period: "z", Rho: rho, Time: t0})
	s := Summarize(entries, t0, c.Window, "j")
	eps, delta := s.Guarantee(c)
	byRho := dp.EpsilonForRho(29*0.045+rho, 1e-5)
	byBasic := 8.7 + dp.EpsilonForRho(rho, 1e-5)
	if math.Abs(eps-math.Min(byRho, byBasic)) > 1e-9 || delta != 1e-5 || eps > 10 {
		t.Errorf("window = (%v, %v), want (min(%v, %v), 1e-5) ≤ 10", eps, delta, byRho, byBasic)
	}
	if !math.IsInf(s.Epsilon, 1) || s.PureEpsilon != 8.7 {
		t.Errorf("Epsilon = %v (want +Inf: no plain sum), PureEpsilon = %v (want 8.7)", s.Epsilon, s.PureEpsilon)
	}
	if eps, delta := (&memTx{entries}).Spent(t0, c.Window); !math.IsInf(eps, 1) || delta != 0 {
		t.Errorf("Spent = %v, %v; want +Inf ε (no sum with zCDP entries)", eps, delta)
	}
	// A pure release now: checked by the same rule, never by Σε alone.
	if err := CheckSpend(&memTx{entries}, c, t0, Spend{Epsilon: 0.3}); err != nil {
		t.Errorf("pure release in the mixed window: %v", err)
	}
	if err := CheckSpend(&memTx{entries}, c, t0, Spend{Epsilon: 3}); err == nil {
		t.Errorf("pure ε = 3 in the mixed window fits, want refused")
	} else {
		var be *BudgetError
		if !errors.As(err, &be) || !(be.MaxEpsilon > 0) || CheckSpend(&memTx{entries}, c, t0, Spend{Epsilon: be.MaxEpsilon}) != nil {
			t.Errorf("refusal %v does not suggest an ε that fits", err)
		}
	}
	// δ spent leaves less room for the conversion.
	if err := CheckSpend(&memTx{entries}, c, t0, Spend{Rho: 1e-3, Delta: 1e-5}); err == nil {
		t.Errorf("a zCDP release taking the whole cap δ fits, want refused (no δ left to convert ρ)")
	}
}

// TestSummaryZCDP: the budget text speaks ρ and what it promises, the
// remaining ρ passes the check and a little more does not.
func TestSummaryZCDP(t *testing.T) {
	c := Cap{Epsilon: 10, Delta: 1e-5, Window: 30 * day}
	entries := []Entry{
		{Job: "a", Period: "d1", Epsilon: 0.3, Time: t0.Add(-20 * day)},
		{Job: "b", Period: "d1", Rho: 0.0594, Time: t0.Add(-5 * day)},
		{Job: "b", Period: "d2", Rho: 0.0594, Time: t0.Add(-day), Withheld: true},
	}
	s := Summarize(entries, t0, c.Window, "b")
	if s.ZCDP != 2 || math.Abs(s.Rho-(0.045+0.1188)) > 1e-12 || math.Abs(s.JobRho-0.1188) > 1e-12 {
		t.Errorf("summary ρ = %v (job %v), %d zCDP", s.Rho, s.JobRho, s.ZCDP)
	}
	rem := s.RemainingRho(c, 0)
	tx := &memTx{entries}
	if err := CheckSpend(tx, c, t0, Spend{Rho: rem}); err != nil {
		t.Errorf("Check(RemainingRho = %v) = %v", rem, err)
	}
	if err := CheckSpend(tx, c, t0, Spend{Rho: rem * (1 + 1e-6)}); err == nil {
		t.Errorf("Check(just above RemainingRho) = nil")
	}
	if want := dp.RhoForEpsilon(10, 1e-5) - s.Rho; math.Abs(rem-want) > 1e-6 {
		t.Errorf("RemainingRho = %v, want about %v", rem, want)
	}
	var b strings.Builder
	if err := s.WriteText(&b, c); err != nil {
		t.Fatal(err)
	}
	eps, _ := s.Guarantee(c)
	for _, want := range []string{
		"zero-concentrated accounting: ρ = 1.783 if every release is zCDP",
		"spent (all jobs):  ρ = 0.1638 (2 zCDP release(s) and 1 pure one(s), each counted as ε²/2), δ = 0",
		"which promises:    (ε = " + fmtShort(eps) + ", δ = 1e-05): over any 30 days, adding or removing one user",
		"remaining:         ρ = " + fmtShort(rem),
		"spent by b: ρ = 0.1188",
		"a d1 (ε = 0.3 (ρ = 0.045 as pure), δ = 0) leaves; then ρ = 0.1188",
		"b d2 (ρ = 0.0594, δ = 0, withheld by the quality gate) leaves; then ρ = 0: (ε = 0, δ = 0)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText lacks %q:\n%s", want, b.String())
		}
	}
	// A pure-only ledger's text is unchanged (no ρ).
	b.Reset()
	if err := Summarize(entries[:1], t0, c.Window, "").WriteText(&b, c); err != nil || strings.Contains(b.String(), "ρ") {
		t.Errorf("pure-only text mentions ρ (%v):\n%s", err, b.String())
	}
}
