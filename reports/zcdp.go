package reports

import (
	"fmt"
	"math"
)

// ZCDP describes a release accounted in zero-concentrated differential
// privacy (the job's privacy.accounting is zcdp): what it spent, in ρ. The
// Epsilon and Delta beside it then say what it promises on its own, as an
// (ε, δ) pair at the ledger cap's δ; they are not shares of a sum (ρ's add
// up, ε's converted from them do not).
type ZCDP struct {
	// Rho is the ρ spent, > 0.
	Rho float64
	// Delta is the δ spent by approximate-DP parts (partition selection),
	// often 0; it adds up like ρ.
	Delta float64
}

// LedgerZCDP is the ledger's window in zero-concentrated terms, present
// when the window holds a zCDP release: then LedgerSummary's EpsilonSpent
// and DeltaSpent are the window's (ε, δ) guarantee at the cap's δ, not sums.
type LedgerZCDP struct {
	// RhoSpent is the window's total ρ, every pure release in it counted as
	// ε²/2, including this report.
	RhoSpent float64
	// RhoCap is the ρ the cap allows when the window's other δ is 0: the
	// cap, converted.
	RhoCap float64
	// RhoAllTime is RhoSpent over every release the ledger records.
	RhoAllTime float64
}

func (z *ZCDP) validate(where string) error {
	if z == nil {
		return nil
	}
	if !(z.Rho > 0) || !finite(z.Rho) || !(z.Delta >= 0 && z.Delta < 1) {
		return fmt.Errorf("%w: %s: zCDP spend ρ = %v, δ = %v: want ρ > 0 finite and δ in [0, 1)", ErrInvalidReport, where, z.Rho, z.Delta)
	}
	return nil
}

func (z *LedgerZCDP) validate() error {
	if z == nil {
		return nil
	}
	for _, f := range []float64{z.RhoSpent, z.RhoCap, z.RhoAllTime} {
		if !finite(f) || f < 0 {
			return fmt.Errorf("%w: ledger: zCDP totals must be finite and ≥ 0, got %+v", ErrInvalidReport, *z)
		}
	}
	return nil
}

// jsonZCDP is the wire form of ZCDP.
type jsonZCDP struct {
	Rho   num `json:"rho"`
	Delta num `json:"delta"`
}

// jsonLedgerZCDP is the wire form of LedgerZCDP.
type jsonLedgerZCDP struct {
	RhoSpent   num `json:"rho_spent"`
	RhoCap     num `json:"rho_cap"`
	RhoAllTime num `json:"rho_all_time"`
}

func zcdpJSON(z *ZCDP) *jsonZCDP {
	if z == nil {
		return nil
	}
	return &jsonZCDP{num(z.Rho), num(z.Delta)}
}

func zcdpFromJSON(j *jsonZCDP) *ZCDP {
	if j == nil {
		return nil
	}
	return &ZCDP{Rho: float64(j.Rho), Delta: float64(j.Delta)}
}

func ledgerZCDPJSON(z *LedgerZCDP) *jsonLedgerZCDP {
	if z == nil {
		return nil
	}
	return &jsonLedgerZCDP{num(z.RhoSpent), num(z.RhoCap), num(z.RhoAllTime)}
}

func ledgerZCDPFromJSON(j *jsonLedgerZCDP) *LedgerZCDP {
	if j == nil {
		return nil
	}
	return &LedgerZCDP{RhoSpent: float64(j.RhoSpent), RhoCap: float64(j.RhoCap), RhoAllTime: float64(j.RhoAllTime)}
}

// fmtRho formats a ρ for people: 3 significant digits, like ε.
func fmtRho(f float64) string { return fmtEps(f) }

func rhoOf(z *ZCDP) string {
	if z == nil {
		return ""
	}
	return fmtRho(z.Rho)
}

// buildZCDP fills the page's zero-concentrated figures.
func buildZCDP(v *pageView, r *Report) {
	if r.ZCDP != nil {
		v.ZCDP = true
		v.Rho, v.RhoDelta = fmtRho(r.ZCDP.Rho), fmtDelta(r.ZCDP.Delta)
	}
	if z := r.Ledger.ZCDP; z != nil {
		v.WindowZCDP = true
		v.LedgerRho, v.RhoCap, v.AllTimeRho = fmtRho(z.RhoSpent), fmtRho(z.RhoCap), fmtRho(z.RhoAllTime)
		if z.RhoCap > 0 {
			v.LedgerPct = math.Min(z.RhoSpent/z.RhoCap, 1)
		}
	}
}

func rhoDeltaOf(z *ZCDP) string {
	if z == nil {
		return ""
	}
	return fmtDelta(z.Delta)
}
