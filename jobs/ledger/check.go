package ledger

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"
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
	// Hint is a "Try: …" sentence for the operator.
	Hint string
}

func (e *BudgetError) Error() string {
	spent := fmt.Sprintf("ε = %s, δ = %s", fmtFloat(e.SpentEpsilon), fmtFloat(e.SpentDelta))
	if len(e.UnknownLines) > 0 {
		spent = "an unknown amount"
	}
	return fmt.Sprintf("budget refused: this release (ε = %s, δ = %s) and the releases of the last %s (%s) would cross the cap of ε = %s, δ = %s per %s. %s",
		fmtFloat(e.RequestedEpsilon), fmtFloat(e.RequestedDelta), fmtWindow(e.Cap.Window), spent,
		fmtFloat(e.Cap.Epsilon), fmtFloat(e.Cap.Delta), fmtWindow(e.Cap.Window), e.Hint)
}

// Check is the budget decision of the release protocol: it returns nil if
// appending a release of (eps, delta) at now keeps the spend of every job
// sharing the ledger within c, and a *BudgetError otherwise. Reaching the
// cap exactly is allowed. Amounts are compared as the decimal numbers the
// ledger stores, so 10 × 0.1 reaches a cap of 1 exactly. Check does not look
// at whether the period was already released; see Tx.Released.
func Check(tx Tx, c Cap, now time.Time, eps, delta float64) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("budget check: %w", err)
	}
	if !(eps >= 0) || isInf(eps) {
		return fmt.Errorf("budget check: epsilon must be finite and ≥ 0, got %v", eps)
	}
	if !(delta >= 0 && delta <= 1) {
		return fmt.Errorf("budget check: delta must be in [0, 1], got %v", delta)
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
	capEps, capDelta := decimal(c.Epsilon), decimal(c.Delta)
	reqEps, reqDelta := decimal(eps), decimal(delta)
	fits := func(s sum) bool {
		return s.unknown == 0 &&
			new(big.Rat).Add(s.eps, reqEps).Cmp(capEps) <= 0 &&
			new(big.Rat).Add(s.delta, reqDelta).Cmp(capDelta) <= 0
	}
	s := newSum()
	for _, e := range in {
		s.add(e)
	}
	if fits(s) {
		return nil
	}

	be := &BudgetError{
		RequestedEpsilon: eps, RequestedDelta: delta,
		Cap: c, Now: now,
	}
	be.SpentEpsilon, be.SpentDelta = s.floats()
	for _, e := range in {
		if e.Unknown() {
			be.UnknownLines = append(be.UnknownLines, e.Line)
		}
	}
	// Now: the most ε that fits with the requested δ.
	if s.unknown == 0 && new(big.Rat).Add(s.delta, reqDelta).Cmp(capDelta) <= 0 {
		be.MaxEpsilon = floorFloat(new(big.Rat).Sub(capEps, s.eps))
	}
	// Later: remove releases in the order they leave the window.
	if reqEps.Cmp(capEps) <= 0 && reqDelta.Cmp(capDelta) <= 0 {
		sort.SliceStable(in, func(i, j int) bool { return in[i].Time.Before(in[j].Time) })
		for i := 0; i < len(in); {
			t := in[i].Time
			for ; i < len(in) && in[i].Time.Equal(t); i++ {
				s.sub(in[i])
			}
			if fits(s) {
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
	if be.RequestedEpsilon > be.Cap.Epsilon {
		try = append(try, "lower --epsilon to at most "+fmtFloat(be.Cap.Epsilon)+", the cap for the whole window")
	}
	if be.RequestedDelta > be.Cap.Delta {
		try = append(try, "lower --delta to at most "+fmtFloat(be.Cap.Delta)+", the cap for the whole window")
	}
	if len(try) == 0 {
		if !be.WaitUntil.IsZero() {
			try = append(try, "wait until "+be.WaitUntil.UTC().Format(time.RFC3339)+" when older releases leave the window")
		}
		if be.MaxEpsilon > 0 {
			try = append(try, "lower --epsilon to "+fmtFloat(be.MaxEpsilon))
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

func fmtWindow(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		if n := d / (24 * time.Hour); n != 1 {
			return fmt.Sprintf("%d days", n)
		}
		return "day"
	}
	return d.String()
}
