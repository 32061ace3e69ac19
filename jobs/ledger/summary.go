package ledger

import (
	"fmt"
	"io"
	"math/big"
	"sort"
	"time"
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

	spent sum // exact, for Remaining
}

// JobSpend is one job's spend inside the window.
type JobSpend struct {
	Job            string
	Epsilon, Delta float64
	Releases       int
}

// Release is an entry inside the window and when it leaves it.
type Release struct {
	Entry
	// LeavesAt is Time + Window: from then on the entry no longer counts.
	LeavesAt time.Time
	// EpsilonAfter and DeltaAfter are what all jobs will have spent inside
	// the window once this release and those listed before it have left
	// (ignoring releases still to come).
	EpsilonAfter, DeltaAfter float64
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
	s.spent = all
	s.Unknown = all.unknown
	s.UnknownAllTime = ever.unknown
	ever.unknown = 0 // the known part; the unknown records are counted apart
	s.EpsilonAllTime, s.DeltaAllTime = ever.floats()
	s.Epsilon, s.Delta = all.floats()
	s.JobEpsilon, s.JobDelta = mine.floats()
	for name, ps := range per {
		js := JobSpend{Job: name, Releases: count[name]}
		js.Epsilon, js.Delta = ps.floats()
		s.Jobs = append(s.Jobs, js)
	}
	sort.Slice(s.Jobs, func(i, j int) bool { return s.Jobs[i].Job < s.Jobs[j].Job })
	sort.SliceStable(s.Releases, func(i, j int) bool { return s.Releases[i].LeavesAt.Before(s.Releases[j].LeavesAt) })
	left := newSum()
	left.eps.Set(all.eps)
	left.delta.Set(all.delta)
	left.unknown = all.unknown
	for i := range s.Releases {
		left.sub(s.Releases[i].Entry)
		s.Releases[i].EpsilonAfter, s.Releases[i].DeltaAfter = left.floats()
	}
	return s
}

// Remaining returns the budget left under c at s.Now, never below zero and
// rounded down, so that a release of exactly that much passes Check.
// c.Window is ignored: s covers s.Window.
func (s Summary) Remaining(c Cap) (eps, delta float64) {
	if s.Unknown > 0 {
		return 0, 0
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
