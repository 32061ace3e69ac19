package jobs

import (
	"fmt"
	"strings"
	"testing"

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
