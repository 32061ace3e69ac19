package reports

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// zcdpFixture is the fixture as a release accounted in zero-concentrated
// DP: every metric and population count spent ρ, their ε and δ are what
// each promises on its own, and the ledger window is accounted in ρ.
func zcdpFixture() *Report {
	r := fixture()
	r.Noise = "gaussian"
	r.ZCDP = &ZCDP{Rho: 0.0594}
	r.Epsilon, r.Delta = 1.437, 1e-5
	r.Ledger = LedgerSummary{WindowDays: 30, EpsilonSpent: 9.998, EpsilonCap: 10, DeltaSpent: 1e-5, DeltaCap: 1e-5,
		EpsilonAllTime: 14.2, DeltaAllTime: 1e-5, ZCDP: &LedgerZCDP{RhoSpent: 1.782, RhoCap: 1.783, RhoAllTime: 3.1}}
	for i := range r.Metrics {
		m := &r.Metrics[i]
		m.ZCDP = &ZCDP{Rho: 0.0037}
		m.Epsilon, m.Delta = 0.3245, 1e-5
		if m.CapsCut != nil {
			m.CapsCut.Rho, m.CapsCut.Epsilon, m.CapsCut.Delta = 0.00037, 0.0919, 1e-5
		}
	}
	r.Metrics[1].ZCDP.Delta = 1e-7 // as if it selected partitions
	for i := range r.Population {
		p := &r.Population[i]
		p.ZCDP = &ZCDP{Rho: 0.0019}
		p.Epsilon, p.Delta = 0.22, 1e-5
	}
	return r
}

// TestZCDPReportJSON: a zCDP report matches the schema, keeps its ρ's
// through ReadJSON, and a pure report has none of the new keys.
func TestZCDPReportJSON(t *testing.T) {
	s := compileSchema(t)
	r := zcdpFixture()
	var a, b bytes.Buffer
	if err := WriteJSON(&a, r); err != nil {
		t.Fatal(err)
	}
	if err := validateJSON(t, s, a.Bytes()); err != nil {
		t.Errorf("zCDP report.json does not match the schema: %v", err)
	}
	for _, want := range []string{`"zcdp": {`, `"rho": 0.0594`, `"rho_spent": 1.782`, `"rho_cap": 1.783`, `"rho_all_time": 3.1`, `"rho": 0.0037`, `"rho": 0.00037`, `"delta": 0.0000001`} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("report.json lacks %s", want)
		}
	}
	back, err := ReadJSON(bytes.NewReader(a.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if back.ZCDP == nil || back.ZCDP.Rho != 0.0594 || back.Ledger.ZCDP == nil || back.Ledger.ZCDP.RhoSpent != 1.782 ||
		back.Metrics[1].ZCDP.Delta != 1e-7 || back.Metrics[1].CapsCut.Rho != 0.00037 {
		t.Errorf("ReadJSON lost the zCDP figures: %+v %+v %+v", back.ZCDP, back.Ledger.ZCDP, back.Metrics[1].ZCDP)
	}
	if err := WriteJSON(&b, back); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("WriteJSON(ReadJSON(x)) != x (%v):\n%s", err, firstDiff(b.Bytes(), a.Bytes()))
	}
	var pure bytes.Buffer
	if err := WriteJSON(&pure, fixture()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pure.String(), "zcdp") || strings.Contains(pure.String(), "rho") {
		t.Error("a pure report.json mentions zcdp or rho")
	}
	// The schema rejects what is wrong.
	for name, bad := range map[string]string{
		"ρ of 0":      strings.Replace(a.String(), `"rho": 0.0594`, `"rho": 0`, 1),
		"unknown key": strings.Replace(a.String(), `"rho_spent": 1.782`, `"rho_spent": 1.782, "rho_left": 0`, 1),
		"no delta":    strings.Replace(a.String(), `"rho": 0.0594,`+"\n    "+`"delta": 0`, `"rho": 0.0594`, 1),
	} {
		if bad == a.String() {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if err := validateJSON(t, s, []byte(bad)); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

func TestZCDPValidate(t *testing.T) {
	for name, mod := range map[string]func(r *Report){
		"report ρ 0":          func(r *Report) { r.ZCDP.Rho = 0 },
		"metric δ 1":          func(r *Report) { r.Metrics[0].ZCDP.Delta = 1 },
		"population ρ NaN":    func(r *Report) { r.Population[0].ZCDP.Rho = nan() },
		"ledger ρ negative":   func(r *Report) { r.Ledger.ZCDP.RhoSpent = -1 },
		"ledger ρ cap is Inf": func(r *Report) { r.Ledger.ZCDP.RhoCap = math.Inf(1) },
	} {
		r := zcdpFixture()
		mod(r)
		if err := r.Validate(); !errors.Is(err, ErrInvalidReport) {
			t.Errorf("%s: Validate = %v, want ErrInvalidReport", name, err)
		}
	}
}

// TestZCDPHTML: the page of a zCDP report says in words what it spent (ρ)
// and what that promises ((ε, δ) on its own and for the window), and the
// page of a pure report in a window that holds zCDP releases says the
// window is accounted in ρ.
func TestZCDPHTML(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, zcdpFixture()); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"zero-concentrated differential privacy</strong> (zCDP)",
		"It spends <strong>ρ = 0.0594</strong>",
		"On its own this report is (ε = 1.44, δ = 10⁻⁵)-differentially private",
		"add up to <strong>ρ = 1.78</strong>",
		"<strong>(ε = 10, δ = 10⁻⁵)-differentially private</strong>, within the cap of ε = 10, δ = 10⁻⁵ (ρ = 1.78)",
		`<div class="card-value">ρ = 0.0594</div>`,
		"This report ρ = 0.0594 (alone ε = 1.44, δ = 10⁻⁵); all releases in the last 30 days ρ = 1.78 of 1.78",
		`<li>ρ = 0.0037</li>`, `<li>ρ = 0.0037, δ = 10⁻⁷</li>`,
		`<th scope="col" class="num">ρ</th>`,
		"Share of ρ",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("zCDP index.html lacks %q", want)
		}
	}
	mixed := fixture()
	mixed.Ledger.ZCDP = &LedgerZCDP{RhoSpent: 0.9, RhoCap: 1.783, RhoAllTime: 2}
	b.Reset()
	if err := WriteHTML(&b, mixed); err != nil {
		t.Fatal(err)
	}
	if want := "The window also holds releases accounted in zero-concentrated DP (zCDP), so it is accounted in ρ: this report counts as ε²/2, all releases add up to ρ = 0.9 of the cap’s 1.78"; !strings.Contains(b.String(), want) {
		t.Errorf("a pure report in a zCDP window does not say so:\n%s", want)
	}
	b.Reset()
	if err := WriteHTML(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "ρ") || strings.Contains(b.String(), "zCDP") {
		t.Error("a pure report's page mentions ρ or zCDP")
	}
}
