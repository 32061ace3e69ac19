package ledger

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dpstats/dpstats/dp"
)

// BudgetError is Check's refusal: the release would cross the cap. Hint
// says what the operator can do.
type BudgetError struct {
	// Spent is what releases inside the window already spent (+Inf if a
	// torn record of unknown size is inside it).
	SpentEpsilon, SpentDelta float64
	// Requested is the refused release's budget.
	RequestedEpsilon, RequestedDelta float64
	Cap                              Cap
	Now                              time.Time
	// WaitUntil is the earliest time at which the same request fits, as
	// older releases leave the window; zero if waiting cannot help.
	WaitUntil time.Time
	// MaxEpsilon is the largest ε that fits now with the requested δ; zero
	// if none does.
	MaxEpsilon float64
	// UnknownLines are the lines of torn records of unknown size inside
	// the window.
	UnknownLines []int
	// Zero-concentrated accounting (zcdp.go). ZCDP is set when the release
	// or the window holds a zCDP release: then SpentEpsilon and SpentDelta
	// are the window's (ε, δ) guarantee, SpentRho its total ρ (pure
	// releases counted as ε²/2) and WouldEpsilon the ε it would have with
	// this release. RequestedRho is the refused release's ρ (0 if pure);
	// MaxRho the most ρ that fits now with the requested δ (0 if none),
	// MaxRhoAlone the most one release could spend in an empty window.
	ZCDP                   bool
	SpentRho, WouldEpsilon float64
	RequestedRho           float64
	MaxRho, MaxRhoAlone    float64
	// Hint is a "Try: …" sentence for the operator.
	Hint string
}

func (e *BudgetError) Error() string {
	spent := fmt.Sprintf("ε = %s, δ = %s", fmtFloat(e.SpentEpsilon), fmtFloat(e.SpentDelta))
	if len(e.UnknownLines) > 0 {
		spent = "an unknown amount"
	}
	if e.ZCDP && len(e.UnknownLines) == 0 {
		req := fmt.Sprintf("ε = %s, δ = %s", fmtFloat(e.RequestedEpsilon), fmtFloat(e.RequestedDelta))
		if e.RequestedRho > 0 {
			req = fmt.Sprintf("ρ = %s, δ = %s", fmtFloat(e.RequestedRho), fmtFloat(e.RequestedDelta))
		}
		return fmt.Sprintf("budget refused: this release (%s) and the releases of the last %s (ρ = %s in total, pure releases counted as ε²/2: (ε = %s, δ = %s)) "+
			"would together be (ε = %s, δ = %s)-DP, crossing the cap of ε = %s, δ = %s per %s (zero-concentrated accounting, docs/accounting.md). %s",
			req, fmtWindow(e.Cap.Window), fmtShort(e.SpentRho), fmtShort(e.SpentEpsilon), fmtFloat(e.SpentDelta),
			fmtShort(e.WouldEpsilon), fmtFloat(e.Cap.Delta), fmtFloat(e.Cap.Epsilon), fmtFloat(e.Cap.Delta), fmtWindow(e.Cap.Window), e.Hint)
	}
	return fmt.Sprintf("budget refused: this release (ε = %s, δ = %s) and the releases of the last %s (%s) would cross the cap of ε = %s, δ = %s per %s. %s",
		fmtFloat(e.RequestedEpsilon), fmtFloat(e.RequestedDelta), fmtWindow(e.Cap.Window), spent,
		fmtFloat(e.Cap.Epsilon), fmtFloat(e.Cap.Delta), fmtWindow(e.Cap.Window), e.Hint)
}

// Check is the budget decision of the release protocol for a pure release
// of (eps, delta): CheckSpend(tx, c, now, Spend{Epsilon: eps, Delta: delta}).
func Check(tx Tx, c Cap, now time.Time, eps, delta float64) error {
	return CheckSpend(tx, c, now, Spend{Epsilon: eps, Delta: delta})
}

// CheckSpend is the budget decision of the release protocol: it returns nil
// if appending a release of sp at now keeps the spend of every job sharing
// the ledger within c, and a *BudgetError otherwise. Reaching the cap
// exactly is allowed. While the window and the release are all pure,
// amounts are compared as the decimal numbers the ledger stores, so
// 10 × 0.1 reaches a cap of 1 exactly; once a zCDP release is involved, the
// window's (ε, δ) is accounted as zcdp.go says. CheckSpend does not look at
// whether the period was already released; see Tx.Released.
func CheckSpend(tx Tx, c Cap, now time.Time, sp Spend) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("budget check: %w", err)
	}
	if !(sp.Epsilon >= 0) || isInf(sp.Epsilon) {
		return fmt.Errorf("budget check: epsilon must be finite and ≥ 0, got %v", sp.Epsilon)
	}
	if !(sp.Rho >= 0) || isInf(sp.Rho) || (sp.Rho > 0 && sp.Epsilon != 0) {
		return fmt.Errorf("budget check: rho must be finite and ≥ 0, and spent instead of epsilon, got rho %v with epsilon %v", sp.Rho, sp.Epsilon)
	}
	if !(sp.Delta >= 0 && sp.Delta <= 1) {
		return fmt.Errorf("budget check: delta must be in [0, 1], got %v", sp.Delta)
	}
	entries, err := tx.Entries()
	if err != nil {
		return fmt.Errorf("budget check: %w", err)
	}
	var in []Entry
	for _, e := range entries {
		if inWindow(e.Time, now, c.Window) {
			in = append(in, e)
		}
	}
	s := newSum()
	for _, e := range in {
		s.add(e)
	}
	if s.fits(c, sp) {
		return nil
	}

	be := &BudgetError{
		RequestedEpsilon: sp.Epsilon, RequestedDelta: sp.Delta, RequestedRho: sp.Rho,
		Cap: c, Now: now,
	}
	be.ZCDP = sp.ZCDP() || s.zcdp > 0
	if be.ZCDP {
		be.SpentEpsilon, be.SpentDelta = s.guarantee(c.Delta)
		if s.zcdp == 0 {
			be.SpentEpsilon, be.SpentDelta = s.floats()
		}
		be.SpentRho = s.totalRho()
		be.WouldEpsilon, _ = s.with(sp.entry()).guarantee(c.Delta)
	} else {
		be.SpentEpsilon, be.SpentDelta = s.floats()
	}
	for _, e := range in {
		if e.Unknown() {
			be.UnknownLines = append(be.UnknownLines, e.Line)
		}
	}
	// Now: the most ε (or ρ) that fits with the requested δ.
	switch {
	case s.unknown > 0:
	case sp.ZCDP():
		be.MaxRho = s.maxFitting(c, sp.Rho, func(r float64) Spend { return Spend{Rho: r, Delta: sp.Delta} })
		be.MaxRhoAlone = newSum().maxFitting(c, dp.RhoForEpsilon(c.Epsilon, c.Delta)*2, func(r float64) Spend { return Spend{Rho: r, Delta: sp.Delta} })
	case s.zcdp > 0:
		be.MaxEpsilon = s.maxFitting(c, math.Min(sp.Epsilon, c.Epsilon), func(e float64) Spend { return Spend{Epsilon: e, Delta: sp.Delta} })
	case new(big.Rat).Add(s.delta, decimal(sp.Delta)).Cmp(decimal(c.Delta)) <= 0:
		be.MaxEpsilon = floorFloat(new(big.Rat).Sub(decimal(c.Epsilon), s.eps))
	}
	// Later: remove releases in the order they leave the window.
	if newSum().fits(c, sp) {
		sort.SliceStable(in, func(i, j int) bool { return in[i].Time.Before(in[j].Time) })
		for i := 0; i < len(in); {
			t := in[i].Time
			for ; i < len(in) && in[i].Time.Equal(t); i++ {
				s.sub(in[i])
			}
			if s.fits(c, sp) {
				be.WaitUntil = t.Add(c.Window)
				break
			}
		}
	}
	be.Hint = hint(be)
	return be
}

func hint(be *BudgetError) string {
	var try []string
	if be.RequestedRho > 0 {
		if be.RequestedDelta >= be.Cap.Delta {
			try = append(try, "lower --delta to below "+fmtFloat(be.Cap.Delta)+": under zCDP the cap's δ must leave room for the conversion to ε")
		} else if be.RequestedRho > be.MaxRhoAlone {
			try = append(try, "lower --rho to at most "+fmtFloat(be.MaxRhoAlone)+", the most one release can spend under the cap")
		}
	} else {
		if be.RequestedEpsilon > be.Cap.Epsilon {
			try = append(try, "lower --epsilon to at most "+fmtFloat(be.Cap.Epsilon)+", the cap for the whole window")
		}
		if be.RequestedDelta > be.Cap.Delta {
			try = append(try, "lower --delta to at most "+fmtFloat(be.Cap.Delta)+", the cap for the whole window")
		}
	}
	if len(try) == 0 {
		if !be.WaitUntil.IsZero() {
			try = append(try, "wait until "+be.WaitUntil.UTC().Format(time.RFC3339)+" when older releases leave the window")
		}
		if be.MaxEpsilon > 0 {
			try = append(try, "lower --epsilon to "+fmtFloat(be.MaxEpsilon))
		}
		if be.MaxRho > 0 {
			try = append(try, "lower --rho to "+fmtFloat(be.MaxRho))
		}
	}
	h := "Try: " + strings.Join(try, ", or ") + "."
	if len(try) == 0 {
		h = "Nothing fits in the window now."
	}
	if len(be.UnknownLines) > 0 {
		h += fmt.Sprintf(" Ledger line(s) %v are records torn by a crash whose spend could not be read; they are counted as the whole budget while inside the window (their reports were never published, but the ledger cannot prove it).", be.UnknownLines)
	}
	return h
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// fmtShort prints a derived (converted) amount with 4 significant digits:
// it is not a number the ledger stores, so its last digits mean nothing.
func fmtShort(f float64) string { return strconv.FormatFloat(f, 'g', 4, 64) }

func fmtWindow(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		if n := d / (24 * time.Hour); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "day"
	}
	return d.String()
}
