package ledger

import (
	"fmt"
	"io"
	"math/big"
	"sort"
	"time"

	"github.com/dpstats/dpstats/dp"
)

// Summary is the state of the budget at one moment, for dpstats budget and
// for the "all releases in the last 30 days" line of a report.
type Summary struct {
	Now    time.Time
	Window time.Duration
	// Job is the job Summarize was asked about ("" for none).
	Job string

	// Epsilon and Delta are spent inside the window by all jobs (+Inf if a
	// torn record of unknown size is inside it).
	Epsilon, Delta float64
	// JobEpsilon and JobDelta are spent inside the window by Job.
	JobEpsilon, JobDelta float64
	// Jobs is the spend inside the window per job, by job name.
	Jobs []JobSpend
	// Releases are the entries inside the window, all jobs, in the order
	// they leave it: that is when budget comes back.
	Releases []Release
	// Unknown counts torn records of unknown size inside the window.
	Unknown int

	// EpsilonAllTime and DeltaAllTime are everything the ledger records, all
	// jobs, all time, except torn records of unknown size (counted in
	// UnknownAllTime): the window cap bounds a month, these show the years.
	EpsilonAllTime, DeltaAllTime float64
	// UnknownAllTime counts torn records of unknown size in the whole ledger.
	UnknownAllTime int

	// Zero-concentrated accounting (zcdp.go). ZCDP counts the zCDP releases
	// inside the window and ZCDPAllTime in the whole ledger. With any
	// inside the window, Epsilon (and JobEpsilon, the per-job and the
	// per-release sums, when they include one) is +Inf: there is no sum of
	// ε to give, and Guarantee says what the window promises. Rho is the
	// window's total ρ with pure releases counted as ε²/2, JobRho Job's and
	// RhoAllTime the whole ledger's (known records only). PureEpsilon is
	// the sum of ε over the window's pure releases alone.
	ZCDP, ZCDPAllTime       int
	Rho, JobRho, RhoAllTime float64
	PureEpsilon             float64

	spent, job, ever sum // exact, for Remaining and Guarantee
}

// JobSpend is one job's spend inside the window.
type JobSpend struct {
	Job            string
	Epsilon, Delta float64
	Releases       int
	// Rho is the job's ρ (pure releases as ε²/2); ZCDP counts its zCDP
	// releases (then Epsilon is +Inf: see Summary).
	Rho  float64
	ZCDP int
}

// Release is an entry inside the window and when it leaves it.
type Release struct {
	Entry
	// LeavesAt is Time + Window: from then on the entry no longer counts.
	LeavesAt time.Time
	// EpsilonAfter and DeltaAfter are what all jobs will have spent inside
	// the window once this release and those listed before it have left
	// (ignoring releases still to come). RhoAfter is the total ρ then (pure
	// releases as ε²/2); with zCDP releases left, EpsilonAfter is +Inf and
	// After says what the window then promises.
	EpsilonAfter, DeltaAfter float64
	RhoAfter                 float64

	after sum
}

// After returns the (ε, δ) guarantee of the window once r and the releases
// listed before it have left, at the cap's δ (see Summary.Guarantee).
func (r Release) After(c Cap) (eps, delta float64) {
	if r.after.eps == nil {
		return r.EpsilonAfter, r.DeltaAfter
	}
	return r.after.guarantee(c.Delta)
}

// chargesNothing reports whether e is a whole outcome record (see
// Entry.Outcome): a note on how a submitted run ended, not a release.
func (e Entry) chargesNothing() bool {
	return e.Outcome && !e.Torn && e.Epsilon == 0 && e.Rho == 0 && e.Delta == 0
}

// Summarize summarizes entries (as returned by Tx.Entries or File.Entries)
// at now for a window of the given length. job selects JobEpsilon and
// JobDelta; it may be empty.
func Summarize(entries []Entry, now time.Time, window time.Duration, job string) Summary {
	s := Summary{Now: now, Window: window, Job: job}
	all, mine := newSum(), newSum()
	per := map[string]*sum{}
	count := map[string]int{}
	ever := newSum()
	for _, e := range entries {
		if e.chargesNothing() {
			continue // an outcome record: its run's spend is in its submitted record
		}
		ever.add(e)
		if !inWindow(e.Time, now, window) {
			continue
		}
		all.add(e)
		if job != "" && e.Job == job {
			mine.add(e)
		}
		name := e.Job
		if name == "" {
			name = "(torn record)"
		}
		if per[name] == nil {
			ps := newSum()
			per[name] = &ps
		}
		per[name].add(e)
		count[name]++
		s.Releases = append(s.Releases, Release{Entry: e, LeavesAt: e.Time.Add(window)})
	}
	s.spent, s.job, s.ever = all, mine, ever.clone()
	s.ZCDP, s.ZCDPAllTime = all.zcdp, ever.zcdp
	s.Rho, s.JobRho, s.PureEpsilon = all.totalRho(), mine.totalRho(), all.pureEpsilon()
	s.Unknown = all.unknown
	s.UnknownAllTime = ever.unknown
	ever.unknown = 0 // the known part; the unknown records are counted apart
	s.EpsilonAllTime, s.DeltaAllTime = ever.floats()
	s.RhoAllTime = ever.totalRho()
	s.Epsilon, s.Delta = all.floats()
	s.JobEpsilon, s.JobDelta = mine.floats()
	for name, ps := range per {
		js := JobSpend{Job: name, Releases: count[name], Rho: ps.totalRho(), ZCDP: ps.zcdp}
		js.Epsilon, js.Delta = ps.floats()
		s.Jobs = append(s.Jobs, js)
	}
	sort.Slice(s.Jobs, func(i, j int) bool { return s.Jobs[i].Job < s.Jobs[j].Job })
	sort.SliceStable(s.Releases, func(i, j int) bool { return s.Releases[i].LeavesAt.Before(s.Releases[j].LeavesAt) })
	left := all.clone()
	for i := range s.Releases {
		left.sub(s.Releases[i].Entry)
		s.Releases[i].EpsilonAfter, s.Releases[i].DeltaAfter = left.floats()
		s.Releases[i].RhoAfter = left.totalRho()
		s.Releases[i].after = left.clone()
	}
	return s
}

// Guarantee returns what all releases inside the window promise together,
// as an (ε, δ) pair: (Epsilon, Delta) while they are all pure; with zCDP
// releases, the ε of zero-concentrated accounting at δ = c.Delta (zcdp.go).
// +Inf if a torn record of unknown size is inside the window. c.Window is
// ignored: s covers s.Window.
func (s Summary) Guarantee(c Cap) (eps, delta float64) {
	if s.spent.eps == nil {
		return 0, 0
	}
	return s.spent.guarantee(c.Delta)
}

// JobGuarantee is Guarantee for Job's releases alone.
func (s Summary) JobGuarantee(c Cap) (eps, delta float64) {
	if s.job.eps == nil {
		return 0, 0
	}
	return s.job.guarantee(c.Delta)
}

// AllTimeGuarantee is Guarantee for every known release the ledger
// records, in or out of the window (torn records of unknown size left out,
// as in EpsilonAllTime).
func (s Summary) AllTimeGuarantee(c Cap) (eps, delta float64) {
	if s.ever.eps == nil {
		return 0, 0
	}
	ever := s.ever.clone()
	ever.unknown = 0
	return ever.guarantee(c.Delta)
}

// RemainingRho returns the most ρ a zCDP release with the given δ could
// spend now and pass CheckSpend (rounded down; 0 if none, or if a torn
// record of unknown size is inside the window).
func (s Summary) RemainingRho(c Cap, delta float64) float64 {
	if s.Unknown > 0 {
		return 0
	}
	all := s.spent
	if all.eps == nil {
		all = newSum()
	}
	return all.maxFitting(c, dp.RhoForEpsilon(c.Epsilon, c.Delta)*2, func(r float64) Spend { return Spend{Rho: r, Delta: delta} })
}

// Remaining returns the budget left under c at s.Now, never below zero and
// rounded down, so that a release of exactly that much passes Check.
// c.Window is ignored: s covers s.Window.
func (s Summary) Remaining(c Cap) (eps, delta float64) {
	if s.Unknown > 0 {
		return 0, 0
	}
	if s.ZCDP > 0 {
		// A pure release's ε, with δ = 0: zero-concentrated accounting.
		return s.spent.maxFitting(c, c.Epsilon, func(e float64) Spend { return Spend{Epsilon: e} }), 0
	}
	se, sd := new(big.Rat), new(big.Rat)
	if s.spent.eps != nil {
		se, sd = s.spent.eps, s.spent.delta
	}
	return floorFloat(new(big.Rat).Sub(decimal(c.Epsilon), se)),
		floorFloat(new(big.Rat).Sub(decimal(c.Delta), sd))
}

// WriteText writes s for an operator: the spend against c, per job, and
// when budget comes back.
func (s Summary) WriteText(w io.Writer, c Cap) error {
	if s.ZCDP > 0 || s.ZCDPAllTime > 0 {
		return s.writeZCDP(w, c, 0)
	}
	ew := &errWriter{w: w}
	remEps, remDelta := s.Remaining(c)
	ew.printf("Budget at %s, window %s, cap ε = %s, δ = %s\n",
		s.Now.UTC().Format(time.RFC3339), fmtWindow(s.Window), fmtFloat(c.Epsilon), fmtFloat(c.Delta))
	ew.printf("  spent (all jobs):  ε = %s, δ = %s\n", fmtFloat(s.Epsilon), fmtFloat(s.Delta))
	ew.printf("  remaining:         ε = %s, δ = %s\n", fmtFloat(remEps), fmtFloat(remDelta))
	if s.Job != "" {
		ew.printf("  spent by %s: ε = %s, δ = %s\n", s.Job, fmtFloat(s.JobEpsilon), fmtFloat(s.JobDelta))
	}
	if s.Unknown > 0 {
		ew.printf("  %d torn record(s) of unknown spend count as the whole budget while in the window\n", s.Unknown)
	}
	ew.printf("  all time (all jobs): ε = %s, δ = %s%s\n", fmtFloat(s.EpsilonAllTime), fmtFloat(s.DeltaAllTime), unknownNote(s.UnknownAllTime))
	if len(s.Jobs) > 0 {
		ew.printf("Per job:\n")
		for _, j := range s.Jobs {
			ew.printf("  %-24s %3d release(s)  ε = %s, δ = %s\n", j.Job, j.Releases, fmtFloat(j.Epsilon), fmtFloat(j.Delta))
		}
		ew.printf("Budget comes back:\n")
		for _, r := range s.Releases {
			withheld := ""
			if r.Withheld {
				withheld = ", withheld by the quality gate"
			}
			ew.printf("  %s  %s %s (ε = %s, δ = %s%s) leaves; then spent ε = %s, δ = %s\n",
				r.LeavesAt.UTC().Format(time.RFC3339), r.Job, r.Period, fmtFloat(r.Epsilon), fmtFloat(r.Delta), withheld,
				fmtFloat(r.EpsilonAfter), fmtFloat(r.DeltaAfter))
		}
	}
	return ew.err
}

// unknownNote says how many torn records of unknown spend an all-time total
// leaves out.
func unknownNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", plus %d torn record(s) of unknown spend", n)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) printf(format string, args ...any) {
	if ew.err == nil {
		_, ew.err = fmt.Fprintf(ew.w, format, args...)
	}
}

// WriteTextZCDP is WriteText for a job accounted in zero-concentrated DP,
// whatever the ledger holds: the spend as ρ, what it promises as (ε, δ), in
// words, and the ρ left for a zCDP release that spends delta.
func (s Summary) WriteTextZCDP(w io.Writer, c Cap, delta float64) error {
	return s.writeZCDP(w, c, delta)
}

// RunsLeft is how many more releases of sp fit in the window now, one
// after another (at most 10000).
func (s Summary) RunsLeft(c Cap, sp Spend) int {
	if s.Unknown > 0 {
		return 0
	}
	all := newSum()
	if s.spent.eps != nil {
		all = s.spent.clone()
	}
	n := 0
	for n < 10000 && all.fits(c, sp) {
		all.add(sp.entry())
		n++
	}
	return n
}

// writeZCDP writes the zero-concentrated budget text (WriteTextZCDP).
func (s Summary) writeZCDP(w io.Writer, c Cap, reqDelta float64) error {
	ew := &errWriter{w: w}
	eps, delta := s.Guarantee(c)
	ew.printf("Budget at %s, window %s, cap ε = %s, δ = %s (zero-concentrated accounting: ρ = %s if every release is zCDP)\n",
		s.Now.UTC().Format(time.RFC3339), fmtWindow(s.Window), fmtFloat(c.Epsilon), fmtFloat(c.Delta), fmtShort(dp.RhoForEpsilon(c.Epsilon, c.Delta)))
	ew.printf("  spent (all jobs):  ρ = %s (%d zCDP release(s)%s), δ = %s\n", fmtShort(s.Rho), s.ZCDP, pureNote(len(s.Releases)-s.ZCDP-s.Unknown), fmtFloat(s.Delta))
	ew.printf("  which promises:    (ε = %s, δ = %s): %s\n", fmtShort(eps), fmtFloat(delta), promise(s.Window))
	rem := s.RemainingRho(c, reqDelta)
	remEps, _ := s.Remaining(c)
	if s.ZCDP == 0 && s.Unknown == 0 {
		remEps = s.spent.maxFitting(c, c.Epsilon, func(e float64) Spend { return Spend{Epsilon: e} })
	}
	ew.printf("  remaining:         ρ = %s for a zCDP release with δ = %s (a pure release: ε = %s)\n", fmtShort(rem), fmtFloat(reqDelta), fmtShort(remEps))
	if s.Job != "" {
		je, jd := s.JobGuarantee(c)
		ew.printf("  spent by %s: ρ = %s (alone: ε = %s, δ = %s)\n", s.Job, fmtShort(s.JobRho), fmtShort(je), fmtFloat(jd))
	}
	if s.Unknown > 0 {
		ew.printf("  %d torn record(s) of unknown spend count as the whole budget while in the window\n", s.Unknown)
	}
	ae, ad := s.AllTimeGuarantee(c)
	ew.printf("  all time (all jobs): ρ = %s, δ = %s (ε = %s at δ = %s)%s\n", fmtShort(s.RhoAllTime), fmtFloat(s.DeltaAllTime), fmtShort(ae), fmtFloat(ad), unknownNote(s.UnknownAllTime))
	if len(s.Jobs) > 0 {
		ew.printf("Per job:\n")
		for _, j := range s.Jobs {
			ew.printf("  %-24s %3d release(s)  ρ = %s, δ = %s\n", j.Job, j.Releases, fmtShort(j.Rho), fmtFloat(j.Delta))
		}
		ew.printf("Budget comes back:\n")
		for _, r := range s.Releases {
			withheld := ""
			if r.Withheld {
				withheld = ", withheld by the quality gate"
			}
			spend := fmt.Sprintf("ε = %s (ρ = %s as pure)", fmtFloat(r.Epsilon), fmtShort(dp.PureRho(r.Epsilon)))
			if r.ZCDP() {
				spend = "ρ = " + fmtFloat(r.Rho)
			}
			ae, ad := r.After(c)
			ew.printf("  %s  %s %s (%s, δ = %s%s) leaves; then ρ = %s: (ε = %s, δ = %s)\n",
				r.LeavesAt.UTC().Format(time.RFC3339), r.Job, r.Period, spend, fmtFloat(r.Delta), withheld,
				fmtShort(r.RhoAfter), fmtShort(ae), fmtFloat(ad))
		}
	}
	return ew.err
}

// pureNote says how many pure releases a ρ total counts as ε²/2.
func pureNote(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" and %d pure one(s), each counted as ε²/2", n)
}

// promise says in words what an (ε, δ) guarantee of the window means.
func promise(window time.Duration) string {
	return "over any " + fmtWindow(window) + ", adding or removing one user changes the probability of any outcome of all releases together by at most a factor e^ε, except with probability δ"
}
