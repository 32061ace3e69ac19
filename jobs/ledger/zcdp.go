package ledger

import (
	"math"
	"math/big"

	"github.com/dpstats/dpstats/dp"
)

// Zero-concentrated accounting of the window (docs/accounting.md has the
// argument in full).
//
// A pure entry spent (ε, δ): it is (ε, δ)-DP. A zCDP entry spent (ρ, δ): it
// is δ-approximately ρ-zCDP (its δ is that of partition selection, often 0).
// Over a set of entries, with the cap's δ as the total δ to state:
//
//   - only pure entries: basic composition, (Σε, Σδ)-DP, compared with the
//     cap exactly as decimal sums (the accounting dpstats always had);
//   - any zCDP entry: let δ' = cap δ − Σδ over all entries, which must be
//     > 0. Two bounds hold, and the window is (min of them, cap δ)-DP:
//     (a) every pure entry counts as ε²/2 (an (ε, δ)-DP release is
//     δ-approximately ε²/2-zCDP, Bun and Steinke 2016): the whole window is
//     Σδ-approximately (Σρ + Σε²/2)-zCDP, hence (ε(Σρ + Σε²/2, δ'), cap δ)-DP;
//     (b) the zCDP entries alone are (ε(Σρ, δ'), Σδ_zCDP + δ')-DP and compose
//     with the pure ones by basic composition: (Σε + ε(Σρ, δ'), cap δ)-DP.
//
// ε(ρ, δ') is dp.EpsilonForRho, the conversion of Canonne, Kamath and
// Steinke, rounded up. The check refuses a release unless the window with
// it is within the cap by that rule; it never compares ρ's with each other
// alone, so a ledger that holds pure entries, zCDP entries or both is
// accounted the same way by every job that shares it.

// Spend is what one release charges.
type Spend struct {
	// Epsilon is a pure release's ε (0 for a zCDP one).
	Epsilon float64
	// Rho is a zCDP release's ρ (0 for a pure one).
	Rho float64
	// Delta is a pure release's δ, or the δ of a zCDP release's
	// approximate-DP parts.
	Delta float64
}

// ZCDP reports whether s is a zCDP spend.
func (s Spend) ZCDP() bool { return s.Rho != 0 }

// Spend returns what e charged.
func (e Entry) Spend() Spend { return Spend{Epsilon: e.Epsilon, Rho: e.Rho, Delta: e.Delta} }

// entry turns a spend into an entry for the sums.
func (s Spend) entry() Entry { return Entry{Epsilon: s.Epsilon, Rho: s.Rho, Delta: s.Delta} }

// with returns a copy of s with e added.
func (s sum) with(e Entry) sum {
	c := s.clone()
	c.add(e)
	return c
}

// guarantee returns the (ε, δ) the entries summed in s satisfy together
// (see the rule above): (Σε, Σδ) when all are pure, otherwise an ε at
// δ = capDelta, +Inf when Σδ leaves no room below capDelta. Unknown spend
// gives +Inf.
func (s sum) guarantee(capDelta float64) (eps, delta float64) {
	if s.unknown > 0 {
		return math.Inf(1), math.Inf(1)
	}
	if s.zcdp == 0 {
		return s.floats()
	}
	room := floorFloat(new(big.Rat).Sub(decimal(capDelta), s.delta))
	if !(room > 0) {
		return math.Inf(1), capDelta
	}
	pure := ceilFloat(s.eps)
	rhoZ := ceilFloat(s.rho)
	rhoAll := ceilFloat(new(big.Rat).Add(s.rho, s.epsSq))
	a := dp.EpsilonForRho(rhoAll, room)
	b := pure + dp.EpsilonForRho(rhoZ, room)
	return math.Min(a, b), capDelta
}

// totalRho is the window's ρ with pure entries counted as ε²/2, rounded up.
func (s sum) totalRho() float64 {
	if s.unknown > 0 {
		return math.Inf(1)
	}
	return ceilFloat(new(big.Rat).Add(s.rho, s.epsSq))
}

// pureEpsilon is Σε over the pure entries, +Inf if any spend is unknown.
func (s sum) pureEpsilon() float64 {
	if s.unknown > 0 {
		return math.Inf(1)
	}
	f, _ := s.eps.Float64()
	return f
}

// fits reports whether s plus a release of sp stays within c.
func (s sum) fits(c Cap, sp Spend) bool {
	if s.unknown > 0 {
		return false
	}
	all := s.with(sp.entry())
	if all.zcdp == 0 {
		return all.eps.Cmp(decimal(c.Epsilon)) <= 0 && all.delta.Cmp(decimal(c.Delta)) <= 0
	}
	eps, _ := all.guarantee(c.Delta)
	return eps <= c.Epsilon
}

// maxFitting returns the largest amount x in [0, hi] (rounded down, as it
// would be written) for which spend(x) fits, or 0 if none above 0 does.
func (s sum) maxFitting(c Cap, hi float64, spend func(float64) Spend) float64 {
	if !s.fits(c, spend(math.SmallestNonzeroFloat64)) {
		return 0
	}
	lo := 0.0
	if s.fits(c, spend(hi)) {
		return hi
	}
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if s.fits(c, spend(mid)) {
			lo = mid
		} else {
			hi = mid
		}
	}
	// Written to the ledger as its shortest decimal: make sure that fits.
	for lo > 0 && !s.fits(c, spend(decimalFloat(lo))) {
		lo = math.Nextafter(lo, 0)
	}
	return decimalFloat(lo)
}

// decimalFloat is f as the ledger reads it back.
func decimalFloat(f float64) float64 {
	r, _ := decimal(f).Float64()
	return r
}

// ceilFloat returns the smallest float64 ≥ r.
func ceilFloat(r *big.Rat) float64 {
	f, _ := r.Float64()
	for !math.IsInf(f, 0) && new(big.Rat).SetFloat64(f).Cmp(r) < 0 {
		f = math.Nextafter(f, math.Inf(1))
	}
	return f
}
