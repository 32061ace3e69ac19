package ledger

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// memTx is an in-memory Tx for tests of the budget logic.
type memTx struct{ entries []Entry }

func (m *memTx) Entries() ([]Entry, error) { return m.entries, nil }
func (m *memTx) Released(job, period string) (Entry, bool) {
	return released(m.entries, job, period)
}
func (m *memTx) Spent(now time.Time, window time.Duration) (float64, float64) {
	return spent(m.entries, now, window).floats()
}
func (m *memTx) Append(e Entry) error {
	e.Line = len(m.entries) + 1
	m.entries = append(m.entries, e)
	return nil
}
func (m *memTx) Unlock() error { return nil }

var _ Tx = (*memTx)(nil)

const day = 24 * time.Hour

func at(ago time.Duration, eps, delta float64) Entry {
	return Entry{Job: "j", Period: ago.String(), Epsilon: eps, Delta: delta, Time: t0.Add(-ago)}
}

func TestSpent(t *testing.T) {
	for _, tc := range []struct {
		name               string
		entries            []Entry
		wantEps, wantDelta float64
	}{
		{name: "empty"},
		{name: "inside", entries: []Entry{at(day, 1, 1e-9), at(29*day, 2, 1e-9)}, wantEps: 3, wantDelta: 2e-9},
		{name: "exactly window old is out", entries: []Entry{at(30*day, 5, 1e-9), at(day, 1, 0)}, wantEps: 1},
		{name: "a nanosecond younger than the window is in", entries: []Entry{at(30*day-1, 5, 1e-9)}, wantEps: 5, wantDelta: 1e-9},
		{name: "older than the window", entries: []Entry{at(31*day, 5, 1e-9)}},
		{name: "now is in", entries: []Entry{at(0, 2, 0)}, wantEps: 2},
		{name: "future (clock stepped back) is in", entries: []Entry{at(-day, 2, 0)}, wantEps: 2},
		{name: "all jobs", entries: []Entry{{Job: "a", Epsilon: 1, Time: t0}, {Job: "b", Epsilon: 2, Time: t0}}, wantEps: 3},
		{name: "decimal sum", entries: []Entry{at(0, 0.1, 0), at(0, 0.2, 0)}, wantEps: 0.3},
		{name: "unknown torn record", entries: []Entry{at(0, 1, 0), {Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1), Time: t0}},
			wantEps: math.Inf(1), wantDelta: math.Inf(1)},
		{name: "unknown torn record out of the window", entries: []Entry{at(0, 1, 0), {Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1), Time: t0.Add(-40 * day)}},
			wantEps: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, delta := (&memTx{tc.entries}).Spent(t0, 30*day)
			if eps != tc.wantEps || delta != tc.wantDelta {
				t.Errorf("Spent = (%v, %v), want (%v, %v)", eps, delta, tc.wantEps, tc.wantDelta)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	c := Cap{Epsilon: 10, Delta: 1e-6, Window: 30 * day}
	tenth := func(n int) []Entry {
		var es []Entry
		for i := 0; i < n; i++ {
			es = append(es, at(time.Duration(i)*time.Hour, 0.1, 0))
		}
		return es
	}
	for _, tc := range []struct {
		name       string
		cap        Cap
		entries    []Entry
		eps, delta float64
		refused    bool
		wantWait   time.Time // when refused
		wantMaxEps float64
		wantHint   string
	}{
		{name: "empty ledger", cap: c, eps: 1, delta: 1e-9},
		{name: "cap reached exactly is allowed", cap: c, entries: []Entry{at(day, 9, 1e-7)}, eps: 1, delta: 9e-7},
		{name: "whole cap in one release", cap: c, eps: 10, delta: 1e-6},
		{name: "crossing epsilon is refused", cap: c, entries: []Entry{at(day, 9, 0)}, eps: 1.5, refused: true,
			wantWait: t0.Add(29 * day), wantMaxEps: 1, wantHint: "Try: wait until 2024-05-30T02:00:00Z when older releases leave the window, or lower --epsilon to 1."},
		{name: "crossing delta is refused", cap: c, entries: []Entry{at(day, 1, 9e-7)}, eps: 1, delta: 2e-7, refused: true,
			wantWait: t0.Add(29 * day), wantHint: "Try: wait until 2024-05-30T02:00:00Z when older releases leave the window."},
		{name: "entry exactly window old no longer counts", cap: c, entries: []Entry{at(30*day, 10, 0)}, eps: 10},
		{name: "ten times 0.1 reaches 1 exactly", cap: Cap{Epsilon: 1, Window: day}, entries: tenth(9), eps: 0.1},
		{name: "eleven times 0.1 crosses 1", cap: Cap{Epsilon: 1, Window: day}, entries: tenth(10), eps: 0.1, refused: true,
			wantWait: t0.Add(-9*time.Hour + day)},
		{name: "0.1+0.2 reaches 0.3", cap: Cap{Epsilon: 0.3, Window: day}, entries: []Entry{at(0, 0.1, 0)}, eps: 0.2},
		{name: "wait for several releases to leave", cap: c,
			entries: []Entry{at(20*day, 3, 0), at(10*day, 3, 0), at(25*day, 3, 0)}, eps: 5, refused: true,
			wantWait: t0.Add(10 * day), wantMaxEps: 1},
		{name: "request above the cap cannot wait", cap: c, eps: 11, refused: true, wantMaxEps: 10,
			wantHint: "Try: lower --epsilon to at most 10, the cap for the whole window."},
		{name: "future entries count", cap: c, entries: []Entry{at(-day, 10, 0)}, eps: 1, refused: true,
			wantWait: t0.Add(31 * day)},
		{name: "unknown torn record refuses until it leaves", cap: c,
			entries: []Entry{at(2*day, 1, 0), {Line: 2, Torn: true, Epsilon: math.Inf(1), Delta: math.Inf(1), Time: t0.Add(-day)}},
			eps:     1, refused: true, wantWait: t0.Add(29 * day)},
		{name: "zero request always fits an honest ledger", cap: c, entries: []Entry{at(0, 10, 1e-6)}, eps: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(&memTx{tc.entries}, tc.cap, t0, tc.eps, tc.delta)
			if !tc.refused {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var be *BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("Check = %v, want a *BudgetError", err)
			}
			if !be.WaitUntil.Equal(tc.wantWait) {
				t.Errorf("WaitUntil = %v, want %v", be.WaitUntil, tc.wantWait)
			}
			if got, want := be.MaxEpsilon, tc.wantMaxEps; got != want {
				t.Errorf("MaxEpsilon = %v, want %v", got, want)
			}
			if tc.wantHint != "" && be.Hint != tc.wantHint {
				t.Errorf("Hint = %q, want %q", be.Hint, tc.wantHint)
			}
			if !strings.HasPrefix(err.Error(), "budget refused") || !strings.Contains(err.Error(), be.Hint) {
				t.Errorf("Error() = %q", err)
			}
			// Following the hint works.
			if !be.WaitUntil.IsZero() {
				if err := Check(&memTx{tc.entries}, tc.cap, be.WaitUntil, tc.eps, tc.delta); err != nil {
					t.Errorf("Check at WaitUntil = %v, want nil", err)
				}
				if err := Check(&memTx{tc.entries}, tc.cap, be.WaitUntil.Add(-1), tc.eps, tc.delta); err == nil {
					t.Errorf("Check just before WaitUntil = nil, want refusal")
				}
			}
			if be.MaxEpsilon > 0 {
				if err := Check(&memTx{tc.entries}, tc.cap, t0, be.MaxEpsilon, tc.delta); err != nil {
					t.Errorf("Check with MaxEpsilon = %v, want nil", err)
				}
			}
		})
	}
}

func TestCheckRemainingIsRoundedDown(t *testing.T) {
	// 1 - 0.7 is 0.30000000000000004 in float64 arithmetic: a suggestion of
	// that must not be made, it would be refused.
	tx := &memTx{[]Entry{at(0, 0.7, 0)}}
	c := Cap{Epsilon: 1, Window: day}
	var be *BudgetError
	if err := Check(tx, c, t0, 0.5, 0); !errors.As(err, &be) {
		t.Fatalf("Check = %v, want a *BudgetError", err)
	}
	if got, want := be.MaxEpsilon, 0.3; got != want {
		t.Errorf("MaxEpsilon = %v, want %v", got, want)
	}
	if err := Check(tx, c, t0, be.MaxEpsilon, 0); err != nil {
		t.Errorf("Check(MaxEpsilon) = %v", err)
	}
}

func TestCheckInvalid(t *testing.T) {
	good := Cap{Epsilon: 1, Delta: 1e-6, Window: day}
	for _, tc := range []struct {
		name       string
		cap        Cap
		eps, delta float64
	}{
		{"zero cap epsilon", Cap{Delta: 1e-6, Window: day}, 1, 0},
		{"infinite cap", Cap{Epsilon: math.Inf(1), Window: day}, 1, 0},
		{"no window", Cap{Epsilon: 1}, 1, 0},
		{"cap delta above one", Cap{Epsilon: 1, Delta: 2, Window: day}, 1, 0},
		{"negative epsilon", good, -1, 0},
		{"NaN epsilon", good, math.NaN(), 0},
		{"delta above one", good, 1, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(&memTx{}, tc.cap, t0, tc.eps, tc.delta)
			var be *BudgetError
			if err == nil || errors.As(err, &be) || !strings.HasPrefix(err.Error(), "budget check: ") {
				t.Errorf("Check = %v, want a plain budget check error", err)
			}
		})
	}
}
