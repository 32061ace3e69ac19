package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry is one release recorded in the ledger.
type Entry struct {
	// Job is the job spec's name. Required.
	Job string
	// Period is the period the release covers, e.g. "2024-04-30". Required.
	Period string
	// RunID identifies the run that released. Optional.
	RunID string
	// Epsilon and Delta are the privacy parameters the release spent.
	// Required: Epsilon finite and ≥ 0, Delta in [0, 1].
	Epsilon, Delta float64
	// Rho, when > 0, marks a release accounted in zero-concentrated DP
	// (zCDP): it spent ρ (finite, > 0) instead of ε, and Epsilon must be 0;
	// Delta is then the δ of its approximate-DP parts (partition
	// selection), often 0. Written as "rho" in place of "epsilon". See
	// zcdp.go for how the two kinds of entries add up.
	Rho float64
	// Metrics lists the released metrics. Optional.
	Metrics []string
	// Time is when the release was recorded. Append stores it in UTC with
	// nanosecond precision; it defaults to the time of Append.
	Time time.Time
	// Rerun marks a deliberate re-release of an already released period.
	Rerun bool
	// Withheld marks a run the quality gate withheld: it published nothing,
	// by design there is no report to publish, and Epsilon and Delta are
	// what its noisy user counts spent. A retry of the period without
	// --rerun is withheld again, charged nothing. Written as
	// "withheld":true before "metrics", and only when true.
	Withheld bool `json:"withheld,omitempty"`
	// Engine names the engine that computed the release when it is not the
	// local, in-process one ("beam"). Written as "engine" after "withheld",
	// and only when set; records without it are the local engine's.
	Engine string `json:"engine,omitempty"`
	// Submitted marks a spend recorded when the engine's pipeline was
	// submitted, before it computed anything (an engine whose noisy output
	// can outlive a failed run, such as Privacy on Beam's staging
	// location): the run may have failed or died afterwards, so the record
	// alone does not say that a report was published. Written as
	// "submitted":true, and only when true.
	Submitted bool `json:"submitted,omitempty"`
	// Outcome marks a record that charges nothing (ε, ρ and δ all 0) and
	// only says how a submitted run (the Submitted record of the same run
	// id, which holds its spend) ended: with Withheld, that the quality gate
	// withheld the period. Summaries leave it out of the releases. Written
	// as "outcome":true, and only when true.
	Outcome bool `json:"outcome,omitempty"`

	// Line is the entry's 1-based line number in the ledger (set when read).
	Line int
	// Torn marks a record cut short by a crash during Append (see the
	// package documentation). Its unsalvaged ε and δ are +Inf.
	Torn bool
}

// Unknown reports whether e is a torn record whose ε or δ could not be
// salvaged and is charged as +Inf.
func (e Entry) Unknown() bool { return e.Torn && (isInf(e.Epsilon) || isInf(e.Delta) || isInf(e.Rho)) }

// ZCDP reports whether e is a zero-concentrated release (it records ρ).
func (e Entry) ZCDP() bool { return e.Rho != 0 }

// Cap is the budget allowed per rolling window, over all jobs sharing a
// ledger.
type Cap struct {
	// Epsilon is the most ε that releases inside any window may spend.
	// Required, > 0.
	Epsilon float64
	// Delta is the most δ that releases inside any window may spend.
	// Required, in [0, 1].
	Delta float64
	// Window is the length of the rolling window, e.g. 30 × 24 h. Required,
	// > 0. An entry recorded at t is inside the window at now iff
	// now-Window < t (an entry exactly Window old is out; entries dated after
	// now are in).
	Window time.Duration
}

// Validate reports whether c is a usable cap.
func (c Cap) Validate() error {
	switch {
	case !(c.Epsilon > 0) || isInf(c.Epsilon):
		return fmt.Errorf("cap: epsilon must be finite and > 0, got %v", c.Epsilon)
	case !(c.Delta >= 0 && c.Delta <= 1):
		return fmt.Errorf("cap: delta must be in [0, 1], got %v", c.Delta)
	case c.Window <= 0:
		return fmt.Errorf("cap: window must be > 0, got %v", c.Window)
	}
	return nil
}

// Ledger is a store of releases that one release protocol at a time may
// read and append to. File is the embedded implementation; a shared database
// ledger can implement the same interface.
type Ledger interface {
	// Lock takes the exclusive lock for the release protocol and reads the
	// ledger. If another process or goroutine holds the lock, Lock returns an
	// error wrapping ErrLocked: immediately when ctx has no deadline,
	// otherwise when ctx is done. A ledger that cannot be read returns an
	// error wrapping ErrCorrupt, and the release must be refused.
	Lock(ctx context.Context) (Tx, error)
}

// Tx is a locked view of a ledger. It is valid until Unlock.
type Tx interface {
	// Entries returns every entry in file order, including torn records.
	Entries() ([]Entry, error)
	// Released returns the latest entry for (job, period), if any.
	Released(job, period string) (Entry, bool)
	// Spent sums ε and δ over all jobs' entries inside the window ending at
	// now (Time > now-window; future-dated entries count). A torn record of
	// unknown size makes both +Inf. A zCDP entry has no ε to add: inside the
	// window it makes ε +Inf (Summarize and Summary.Guarantee account it).
	Spent(now time.Time, window time.Duration) (eps, delta float64)
	// Append records e durably: it returns only after the line is written and
	// fsynced. After a failed Append the transaction counts e as spent and
	// refuses further appends.
	Append(e Entry) error
	// Unlock releases the lock. It is safe to call more than once.
	Unlock() error
}

var (
	// ErrLocked means another run holds the ledger's lock. Retry later.
	ErrLocked = errors.New("ledger is locked by another run")
	// ErrCorrupt means a ledger line is neither a record nor a torn record.
	// Releases must be refused until a human repairs the ledger.
	ErrCorrupt = errors.New("ledger is corrupt")
	// ErrClosed means the transaction was already unlocked.
	ErrClosed = errors.New("ledger transaction is unlocked")
)

// CorruptError names the ledger line that could not be read. It matches
// ErrCorrupt with errors.Is.
type CorruptError struct {
	Path string // the ledger file, if known
	Line int    // 1-based
	Msg  string
}

func (e *CorruptError) Error() string {
	where := fmt.Sprintf("line %d", e.Line)
	if e.Path != "" {
		where = e.Path + ":" + fmt.Sprint(e.Line)
	}
	return fmt.Sprintf("%s: %s: %s; refusing to release until it is repaired by hand", ErrCorrupt.Error(), where, e.Msg)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
