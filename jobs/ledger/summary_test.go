package ledger

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	entries := []Entry{
		{Job: "a", Period: "old", Epsilon: 5, Delta: 1e-7, Time: t0.Add(-30 * day)}, // out: exactly window old
		{Job: "a", Period: "d1", Epsilon: 1, Delta: 1e-9, Time: t0.Add(-20 * day)},
		{Job: "b", Period: "d1", Epsilon: 0.1, Delta: 0, Time: t0.Add(-5 * day)},
		{Job: "a", Period: "d2", Epsilon: 2, Delta: 1e-9, Time: t0.Add(-10 * day)},
		{Job: "b", Period: "d2", Epsilon: 0.2, Delta: 0, Time: t0.Add(-1 * day)},
	}
	s := Summarize(entries, t0, 30*day, "b")
	if s.Epsilon != 3.3 || s.Delta != 2e-9 {
		t.Errorf("spent = %v, %v; want 3.3, 2e-9", s.Epsilon, s.Delta)
	}
	// All time: the entry that left the window counts too, exactly.
	if s.EpsilonAllTime != 8.3 || s.DeltaAllTime != 1.02e-7 || s.UnknownAllTime != 0 {
		t.Errorf("all time = %v, %v, %d unknown; want 8.3, 1.02e-07, 0", s.EpsilonAllTime, s.DeltaAllTime, s.UnknownAllTime)
	}
	if s.JobEpsilon != 0.3 || s.JobDelta != 0 {
		t.Errorf("spent by b = %v, %v; want 0.3 (exact decimal sum), 0", s.JobEpsilon, s.JobDelta)
	}
	if got, want := len(s.Jobs), 2; got != want {
		t.Fatalf("%d jobs, want %d", got, want)
	}
	if j := s.Jobs[0]; j.Job != "a" || j.Epsilon != 3 || j.Releases != 2 {
		t.Errorf("job a = %+v", j)
	}
	wantOrder := []struct {
		period   string
		leaves   time.Time
		epsAfter float64
	}{
		{"d1", t0.Add(10 * day), 2.3},
		{"d2", t0.Add(20 * day), 0.3},
		{"d1", t0.Add(25 * day), 0.2},
		{"d2", t0.Add(29 * day), 0},
	}
	if len(s.Releases) != len(wantOrder) {
		t.Fatalf("releases = %+v", s.Releases)
	}
	for i, w := range wantOrder {
		r := s.Releases[i]
		if r.Period != w.period || !r.LeavesAt.Equal(w.leaves) || r.EpsilonAfter != w.epsAfter {
			t.Errorf("release %d = %s leaves %v then ε %v; want %s %v %v", i, r.Period, r.LeavesAt, r.EpsilonAfter, w.period, w.leaves, w.epsAfter)
		}
	}
	c := Cap{Epsilon: 10, Delta: 1e-6, Window: 30 * day}
	if eps, delta := s.Remaining(c); eps != 6.7 || delta != 9.98e-7 {
		t.Errorf("Remaining = %v, %v; want 6.7, 9.98e-7", eps, delta)
	}
	// Remaining is what Check lets through.
	tx := &memTx{entries}
	eps, delta := s.Remaining(c)
	if err := Check(tx, c, t0, eps, delta); err != nil {
		t.Errorf("Check(Remaining) = %v", err)
	}
	if err := Check(tx, c, t0, math.Nextafter(eps, 11), delta); err == nil {
		t.Error("Check(just above Remaining) = nil")
	}

	var b strings.Builder
	if err := s.WriteText(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"spent (all jobs):  ε = 3.3, δ = 2e-09",
		"remaining:         ε = 6.7",
		"spent by b: ε = 0.3",
		"all time (all jobs): ε = 8.3, δ = 1.02e-07\n",
		"2024-05-11T02:00:00Z  a d1 (ε = 1, δ = 1e-09) leaves; then spent ε = 2.3",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteText output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestSummarizeUnknown(t *testing.T) {
	entries := []Entry{
		{Job: "a", Period: "d1", Epsilon: 1, Time: t0.Add(-2 * day)},
		{Line: 2, Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1), Time: t0.Add(-day)},
	}
	s := Summarize(entries, t0, 30*day, "")
	if s.Unknown != 1 || !math.IsInf(s.Epsilon, 1) {
		t.Errorf("Summary = %+v, want one unknown and ε = +Inf", s)
	}
	if eps, delta := s.Remaining(Cap{Epsilon: 10, Delta: 1e-6, Window: 30 * day}); eps != 0 || delta != 0 {
		t.Errorf("Remaining = %v, %v; want 0, 0", eps, delta)
	}
	if s.UnknownAllTime != 1 || s.EpsilonAllTime != 1 || s.DeltaAllTime != 0 {
		t.Errorf("all time = ε %v, δ %v, %d unknown; want the known ε = 1, δ = 0 and 1 unknown", s.EpsilonAllTime, s.DeltaAllTime, s.UnknownAllTime)
	}
	// Once the torn record has left the window, the window is known again;
	// all time still says a record of unknown size exists.
	later := Summarize(entries, t0.Add(40*day), 30*day, "")
	if later.Epsilon != 0 || later.UnknownAllTime != 1 || later.EpsilonAllTime != 1 {
		t.Errorf("40 days later: window ε %v, all time ε %v with %d unknown; want 0, 1, 1", later.Epsilon, later.EpsilonAllTime, later.UnknownAllTime)
	}
	var b strings.Builder
	if err := later.WriteText(&b, Cap{Epsilon: 10, Delta: 1e-6, Window: 30 * day}); err != nil {
		t.Fatal(err)
	}
	if want := "all time (all jobs): ε = 1, δ = 0, plus 1 torn record(s) of unknown spend"; !strings.Contains(b.String(), want) {
		t.Errorf("WriteText lacks %q:\n%s", want, b.String())
	}
	if r := s.Releases[1]; r.EpsilonAfter != 0 {
		t.Errorf("after the torn record leaves, ε = %v, want 0", r.EpsilonAfter)
	}
	if r := s.Releases[0]; !math.IsInf(r.EpsilonAfter, 1) {
		t.Errorf("while the torn record is in, ε = %v, want +Inf", r.EpsilonAfter)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	var s Summary
	if eps, delta := s.Remaining(Cap{Epsilon: 10, Delta: 1e-6, Window: day}); eps != 10 || delta != 1e-6 {
		t.Errorf("Remaining of an empty summary = %v, %v", eps, delta)
	}
	s = Summarize(nil, t0, day, "x")
	if s.Epsilon != 0 || len(s.Releases) != 0 {
		t.Errorf("Summarize(nil) = %+v", s)
	}
}
