package jobs

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs/ledger"
	"github.com/dpstats/dpstats/reports"
)

// The runner: one run of a job for one period, under the release protocol
// of DESIGN.md:
//
//  1. lock the ledger; if (job, period) was already released, return
//     StatusAlreadyReleased without reading anything (unless Rerun); if the
//     spend would cross the window cap, refuse with a *ledger.BudgetError
//     before reading anything;
//  2. read consent and events, bound and aggregate, add noise: all in
//     memory (an error here spends nothing and writes nothing). Then the
//     quality gate (gate.go) decides on the released user counts alone:
//     below min_users, only its share is recorded (withheld) and nothing
//     is published;
//  3. stage the whole report durably, invisible (OUT/<job>/.staged-<run_id>,
//     every file fsynced), then record the spend durably in the ledger
//     (fsync), naming the run id;
//  4. publish the staged report atomically (rename into place).
//
// A crash at any point leaves either no report, or a whole report whose
// spend is recorded. Before step 1 reads anything, a published report in
// OUT that the ledger does not record refuses the run (checkPublished). A
// retry of a period the ledger records but whose report is missing
// publishes the staged report as it is, or fails with a
// *MissingReportError if none survives (publishRecorded, in recorded.go).
//
// An engine whose noisy output can outlive a failed run
// (Engine.ChargesBeforeCompute) is charged between steps 1 and 2 instead of
// in step 3: see remote.go.

// Config is one run of a job. Build it from flags and the environment, then
// call Run.
type Config struct {
	// Spec is the job, with any ε/δ/noise overrides already applied
	// (Spec.WithOverrides). Required.
	Spec *Spec
	// Events and Consent are the input files. Required.
	Events, Consent []datasets.Input
	// Period is the period to release, "YYYY-MM-DD" for a daily job.
	// Required. It must have ended: a period still under way is refused.
	Period string
	// OutDir is where reports are published: OUT/<job>/<period>/. Required.
	OutDir string
	// Ledger records every release. Required.
	Ledger ledger.Ledger
	// Rerun deliberately releases an already released period again, with
	// fresh noise, charged again. Default false.
	Rerun bool
	// LockWait is how long to wait for another run's ledger lock; 0 fails
	// at once with ledger.ErrLocked.
	LockWait time.Duration
	// RunID names the run in the ledger and the report, and its staged
	// report's directory: 1-128 of [A-Za-z0-9._-], starting with a letter or
	// digit. Default: the start time and 8 random hex digits.
	RunID string
	// ToolVersion is stamped into the report.
	ToolVersion string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger gets progress messages; nothing private ever reaches it.
	// Default: discard.
	Logger *slog.Logger
	// Progress, if set, is called after each batch read (on the reading
	// goroutine) with file-level progress for a terminal display.
	Progress func(Progress)
	// Workers is the number of goroutines aggregating while one reads;
	// 0 means GOMAXPROCS, 1 aggregates on the reading goroutine. The
	// release is the same either way (each metric is fed by one goroutine,
	// in file order).
	Workers int
	// batchSize overrides the reader's batch size (tests).
	batchSize int
	// Seed is a TEST-ONLY hook for reproducible contribution bounding (see
	// dp.MetricOptions.Seed). Noise never depends on it.
	Seed *int64
	// Engine computes the releases; nil is the local, in-process engine
	// (see engine.go).
	Engine Engine
	// faults injects failures at the writes of the release protocol (tests).
	faults faults
}

// faults are test hooks: each, if set, runs just before its step and fails
// the step with its error.
type faults struct {
	beforeStage, beforePublish func() error
}

// Progress is what a terminal progress display shows. It is operator
// information about the files, never shown in a report or a log.
type Progress struct {
	FilesDone, Files int
	Batches          int
}

// Status says how a run ended without error.
type Status string

const (
	// StatusReleased: the report was published and its spend recorded.
	StatusReleased Status = "released"
	// StatusAlreadyReleased: the job and period were released before;
	// nothing was read, drawn, charged or written.
	StatusAlreadyReleased Status = "already_released"
	// StatusWithheld: the quality gate withheld the period (the run also
	// returns a *WithheldError): nothing was published; the gate's spend
	// was recorded, or, on a retry without Rerun, nothing was charged.
	StatusWithheld Status = "withheld"
)

// Result is what a run did.
type Result struct {
	Status Status
	Job    string
	Period string
	RunID  string
	// Dir is the report's directory (for StatusAlreadyReleased: where it
	// was published, which may since have been removed).
	Dir string
	// Epsilon and Delta are what this run charged (0 unless released).
	Epsilon, Delta float64
	// Rho is what this run charged under zcdp accounting (then Epsilon is
	// 0 and Delta the δ of partition selection).
	Rho float64
	// Window is the ledger's state after the run.
	Window ledger.Summary
	Cap    ledger.Cap
	// Index is the job index OUT/<job>/index.html, regenerated after the
	// publish; "" if the run published nothing or regenerating it failed.
	Index string
}

// ErrConfig marks an invalid Config (a usage error).
var ErrConfig = errors.New("invalid run configuration")

// ErrPeriodNotOver means the period has not ended yet: its data is
// incomplete, and releasing it now would freeze an incomplete report.
var ErrPeriodNotOver = errors.New("period has not ended yet")

// OutputError is a failure to write the report or its directory.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

func (c *Config) validate() error {
	var missing []string
	if c.Spec == nil {
		missing = append(missing, "Spec")
	}
	if len(c.Events) == 0 {
		missing = append(missing, "Events")
	}
	if len(c.Consent) == 0 {
		missing = append(missing, "Consent")
	}
	if c.Period == "" {
		missing = append(missing, "Period")
	}
	if c.OutDir == "" {
		missing = append(missing, "OutDir")
	}
	if c.Ledger == nil {
		missing = append(missing, "Ledger")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %v", ErrConfig, missing)
	}
	if c.RunID != "" && !validRunID(c.RunID) {
		return fmt.Errorf("%w: run id %q: want 1-128 of [A-Za-z0-9._-], starting with a letter or digit", ErrConfig, c.RunID)
	}
	if c.LockWait < 0 {
		return fmt.Errorf("%w: lock wait %v is negative", ErrConfig, c.LockWait)
	}
	if err := c.Spec.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return refuseRemote(c)
}

// LedgerCap returns the spec's ledger cap in the ledger's terms.
func (s *Spec) LedgerCap() ledger.Cap {
	return ledger.Cap{
		Epsilon: s.Ledger.CapEpsilon,
		Delta:   s.Ledger.CapDelta,
		Window:  time.Duration(s.Ledger.WindowDays) * 24 * time.Hour,
	}
}

// Run runs the job for one period under the release protocol. Errors:
// ErrConfig (usage), ErrPeriodNotOver, ledger.ErrLocked, ledger.ErrNoLedger,
// *ledger.BudgetError (nothing read), ledger.ErrCorrupt, *datasets.InputError
// and datasets.ErrInputMissing (input), *OutputError (cannot write, or an
// *UnrecordedReportError), *MissingReportError (a recorded period without
// a report), *ChargedError (an engine charged at submit failed: the result
// says what stays charged), *WithheldError (the quality gate withheld the period; the
// Result, status StatusWithheld, says what was charged), or a wrapped
// internal error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	spec := cfg.Spec
	start, end, err := spec.PeriodOf(cfg.Period)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	now := cfg.Now().UTC()
	if end.After(now) {
		return nil, fmt.Errorf("%w: period %s ends at %s, now is %s; run it after it ends",
			ErrPeriodNotOver, cfg.Period, end.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	if cfg.RunID == "" {
		cfg.RunID = newRunID(now)
	}
	res := &Result{Job: spec.Name, Period: cfg.Period, RunID: cfg.RunID, Cap: spec.LedgerCap(),
		Dir: filepath.Join(cfg.OutDir, spec.Name, cfg.Period)}
	log := cfg.Logger.With("job", spec.Name, "period", cfg.Period, "run_id", cfg.RunID)
	if err := uniqueInputs(&cfg, log); err != nil {
		return nil, err
	}

	// 1. Lock, then refuse what must be refused before reading anything.
	lockCtx := ctx
	if cfg.LockWait > 0 {
		var cancel context.CancelFunc
		lockCtx, cancel = context.WithTimeout(ctx, cfg.LockWait)
		defer cancel()
	}
	tx, err := cfg.Ledger.Lock(lockCtx)
	if err != nil {
		return nil, lockError(err)
	}
	defer tx.Unlock()

	summarize := func() error {
		entries, err := tx.Entries()
		if err != nil {
			return fmt.Errorf("read ledger: %w", err)
		}
		res.Window = ledger.Summarize(entries, cfg.Now().UTC(), res.Cap.Window, spec.Name)
		return nil
	}
	entries, err := tx.Entries()
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	if err := checkPublished(cfg.OutDir, entries, ledgerPath(cfg.Ledger)); err != nil {
		return nil, err
	}
	if prev, ok := tx.Released(spec.Name, cfg.Period); ok && !cfg.Rerun {
		if prev.Withheld {
			res.Status = StatusWithheld
			if err := summarize(); err != nil {
				return nil, err
			}
			return res, withheldEarlier(cfg, start, end, spendRecord(entries, prev))
		}
		if err := publishRecorded(cfg, res, prev, log); err != nil {
			return nil, err
		}
		return res, summarize()
	}
	eps, delta := spec.Spend()
	charge := spec.Charge()
	if err := ledger.CheckSpend(tx, res.Cap, now, charge); err != nil {
		return nil, err
	}
	if err := prepareOutput(cfg.OutDir, spec.Name, cfg.Period, cfg.Rerun); err != nil {
		return nil, err
	}
	if err := cleanStaged(cfg.OutDir, spec.Name, entries, log); err != nil {
		return nil, err
	}
	if err := checkUserIDTypes(spec, cfg.Events, cfg.Consent); err != nil {
		return nil, err
	}
	log.Info("run started", append(spendAttrs(charge), "noise", spec.Privacy.Noise, "rerun", cfg.Rerun)...)
	// An engine whose noise can outlive a failed run is charged before it
	// computes (remote.go); submitted is then its record.
	submitted, entries, err := chargeAtSubmit(ctx, tx, cfg, res, start, end, now, entries)
	if err != nil {
		return nil, err
	}

	// 2. Read, bound, aggregate and release, in memory.
	released, err := compute(ctx, cfg, start, end, now)
	if err != nil {
		return afterSubmit(submitted, res, err)
	}
	// The quality gate decides on the released (noisy) user counts only.
	released, population := released[:len(spec.Metrics)], released[len(spec.Metrics):]
	if w := checkGate(cfg, start, end, population); w != nil {
		if submitted != nil {
			return withholdSubmitted(tx, cfg, res, now, w, *submitted)
		}
		return withhold(tx, cfg, res, now, w)
	}
	report, err := buildReport(cfg, start, end, now, released)
	if err == nil {
		err = addPopulation(report, spec, released, population)
	}
	if err != nil {
		return afterSubmit(submitted, res, fmt.Errorf("build report: %w", err))
	}

	// 3. Stage the whole report, then record the spend durably, before
	// anything is visible. The report states the ledger's totals as they
	// are once its own entry is in.
	entry := ledger.Entry{Job: spec.Name, Period: cfg.Period, RunID: cfg.RunID, Epsilon: eps, Delta: delta, Rho: charge.Rho,
		Metrics: metricNames(spec), Time: now, Rerun: cfg.Rerun}
	recorded := append(entries[:len(entries):len(entries)], entry)
	if submitted != nil {
		entry, recorded = *submitted, entries // recorded at submit: no second charge
	}
	after := ledger.Summarize(recorded, now, res.Cap.Window, spec.Name)
	report.Ledger = reports.LedgerSummary{
		WindowDays:   spec.Ledger.WindowDays,
		EpsilonSpent: after.Epsilon, EpsilonCap: res.Cap.Epsilon,
		DeltaSpent: after.Delta, DeltaCap: res.Cap.Delta,
		EpsilonAllTime: after.EpsilonAllTime, DeltaAllTime: after.DeltaAllTime, UnknownAllTime: after.UnknownAllTime,
	}
	if after.ZCDP > 0 || after.ZCDPAllTime > 0 {
		zcdpLedgerSummary(&report.Ledger, after, res.Cap)
	}
	if cfg.faults.beforeStage != nil {
		if err := cfg.faults.beforeStage(); err != nil {
			return chargedResult(submitted, res), &OutputError{fmt.Errorf("stage report (%s): %w", stageNote(submitted), err)}
		}
	}
	if _, err := reports.Stage(cfg.OutDir, report); err != nil {
		return chargedResult(submitted, res), &OutputError{fmt.Errorf("stage report (%s): %w", stageNote(submitted), err)}
	}
	if submitted == nil { // else recorded at submit
		if err := tx.Append(entry); err != nil {
			return nil, &OutputError{fmt.Errorf("record spend in ledger (the report is staged; a retry publishes it "+
				"if the spend was recorded, and releases afresh if it was not): %w", err)}
		}
	}
	res.Epsilon, res.Delta, res.Rho = eps, delta, charge.Rho
	if err := summarize(); err != nil {
		return nil, err
	}

	// 4. Publish atomically.
	if cfg.faults.beforePublish != nil {
		if err := cfg.faults.beforePublish(); err != nil {
			return nil, &OutputError{fmt.Errorf("publish report (its spend is recorded and the report staged: a retry publishes it): %w", err)}
		}
	}
	dir, err := reports.PublishStaged(cfg.OutDir, spec.Name, cfg.Period, cfg.RunID, reports.PublishOptions{Replace: cfg.Rerun})
	if err != nil {
		if dir != "" {
			// The report is whole and in place; only latest.json lags.
			log.Warn("report published, latest.json not updated", "err", err.Error())
		} else {
			return nil, &OutputError{fmt.Errorf("publish report (its spend is recorded and the report staged: a retry publishes it): %w", err)}
		}
	}
	res.Dir, res.Status = dir, StatusReleased
	res.Index = regenerateIndex(cfg.OutDir, spec.Name, log) // a view of the releases: its failure is only logged
	windowEps, _ := res.Window.Guarantee(res.Cap)
	log.Info("released", append(append([]any{"dir", dir}, spendAttrs(charge)...),
		"window_epsilon", windowEps, "cap_epsilon", res.Cap.Epsilon)...)
	return res, nil
}

// prepareOutput checks, before any data is read, that the report can be
// written: the job directory exists or can be made and is writable, and the
// period is not already published there (which, with no ledger record of
// it, means the ledger was restored from an older copy or is not the one
// the reports were released with). Leftovers of a publish that crashed are
// removed; the ledger lock serializes publishing, so none can be live.
func prepareOutput(outDir, job, period string, rerun bool) error {
	jobDir := filepath.Join(outDir, job)
	if err := os.MkdirAll(jobDir, 0o755); err != nil {
		return &OutputError{fmt.Errorf("create output directory: %w", err)}
	}
	probe, err := os.CreateTemp(jobDir, ".tmp-probe-*")
	if err != nil {
		return &OutputError{fmt.Errorf("output directory %s is not writable: %w", jobDir, err)}
	}
	probe.Close()
	os.Remove(probe.Name())
	if err := reports.RemoveStale(outDir, job); err != nil {
		return &OutputError{err}
	}
	if rerun {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(jobDir, period)); err == nil {
		return &OutputError{fmt.Errorf("%s already holds a report for period %s, but the ledger has no record of releasing it: "+
			"the ledger may have been restored from an older copy, or this is not the ledger these reports were released with; "+
			"refusing to release again (use the right ledger, or --rerun to release deliberately and be charged again)",
			jobDir, period)}
	}
	return nil
}

// compute runs the configured engine: the local one, aggregate, or
// cfg.Engine.
func compute(ctx context.Context, cfg Config, start, end, now time.Time) ([]*dp.Released, error) {
	if cfg.Engine == nil {
		return aggregate(ctx, cfg, start, end, now)
	}
	in := engineInput(cfg, start, end, now)
	out, err := cfg.Engine.Aggregate(ctx, in)
	if err != nil {
		return nil, err
	}
	if want := len(in.Metrics) + len(in.Gate); len(out) != want {
		return nil, fmt.Errorf("engine %s returned %d releases, want %d", cfg.Engine.Name(), len(out), want)
	}
	return out, nil
}

// aggregate reads consent and events, feeds every metric and the quality
// gate's counts, and releases them: the metrics in spec order, then the
// gate's counts (Spec.GateOptions).
func aggregate(ctx context.Context, cfg Config, start, end, now time.Time) ([]*dp.Released, error) {
	spec := cfg.Spec
	plan, err := spec.compile()
	if err != nil {
		return nil, fmt.Errorf("compile job %s: %w", spec.Name, err)
	}
	plan.events.Start, plan.events.End = start, end
	plan.events.CodesOnly = true
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	plan.events.Decoders = decoders(workers)
	fed := feedRows
	plan.events.BatchSize = decodeRows
	if cfg.batchSize > 0 {
		plan.events.BatchSize, fed = cfg.batchSize, cfg.batchSize
	}
	for i, opt := range spec.MetricOptions(cfg.Seed) {
		if plan.feeds[i].agg, err = dp.NewAggregator(opt); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if err := plan.addGate(spec, cfg.Seed); err != nil {
		return nil, err
	}

	// Consent (see datasets.Consent): an event counts for a category if
	// the user granted it at or before the event's time and has not
	// withdrawn it since, whatever the withdrawal's timestamp.
	users := datasets.NewUserIndex()
	cols := datasets.ConsentColumns(spec.Consent)
	r, err := datasets.NewEventReaderFrom(cfg.Events, plan.events, users)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer r.Close()
	r.Prefetch() // decode the first event batches while consent loads
	consent, err := datasets.LoadConsentFrom(cfg.Consent, users, now, cols)
	if err != nil {
		return nil, fmt.Errorf("read consent: %w", err)
	}
	grants := map[string]datasets.Grants{}
	for i, f := range plan.feeds {
		c := plan.categories[i]
		if _, ok := grants[c]; !ok {
			grants[c] = consent.GrantsDuring(c, start, end)
			if grants[c].Partial() {
				r.SetTimes(true) // some grants began during the period
			}
		}
		f.grants = grants[c]
	}
	for _, f := range plan.feeds {
		// Most users of a period are in the consent export: size the
		// per-user state for them up front.
		f.agg.Reserve(users.Len())
	}
	cfg.Logger.Debug("consent loaded")

	var progress func(int)
	if cfg.Progress != nil {
		progress = func(batches int) {
			cfg.Progress(Progress{FilesDone: r.ExactCounts().Files, Files: len(cfg.Events), Batches: batches})
		}
	}
	if err := feedAll(ctx, r, plan.feeds, workers, fed, progress); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("read events: %w", err)
	}

	return releaseAll(plan.feeds, r, workers)
}

func metricNames(s *Spec) []string {
	names := make([]string, len(s.Metrics))
	for i := range s.Metrics {
		names[i] = s.Metrics[i].Name
	}
	return names
}

// newRunID names a run by its start time and 32 random bits.
func newRunID(now time.Time) string {
	var b [4]byte
	_, _ = crand.Read(b[:]) // crypto/rand never fails on Linux; zeros are still a usable id
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
