package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/dpstats/dpstats/jobs/ledger"
)

// The release protocol for an engine whose noisy output can outlive a
// failed run (Engine.ChargesBeforeCompute: the Privacy on Beam engine's
// pipeline writes noisy per-partition results to a staging location that
// others may read). For such an engine the spend is recorded before the
// engine computes anything, so that the ledger never under-counts:
//
//  1. lock the ledger and refuse what must be refused, exactly as for the
//     local engine: an already released period reads and submits nothing,
//     a refused budget submits nothing, and so do a published report the
//     ledger does not record, an unwritable OUT, mismatched user-id types
//     and whatever the engine's own Check refuses (a spec it cannot
//     express);
//  2. record the whole run's spend durably: a ledger record with
//     "submitted":true and the engine's name (chargeAtSubmit);
//  3. run the engine (Aggregate). If it fails, or the process dies, the
//     period stays charged and nothing is published: the noise it may have
//     drawn is paid for. The run's error says so (*ChargedError);
//  4. the quality gate decides on the released counts. If it withholds, an
//     outcome record of the same run id ("withheld":true, "outcome":true,
//     charging nothing) says so: a retry without --rerun is withheld again
//     (exit 69), reading and charging nothing;
//  5. stage and publish as for the local engine, without a second charge.
//
// A retry of a submitted period whose report is missing and not staged
// (the engine failed, the process died, or staging failed) cannot publish
// without new noise: it fails with a *MissingReportError that says the
// period was charged when the pipeline was submitted (exit 74); --rerun
// releases it again, charged again.

// EngineChecker is an Engine that can refuse a run before anything is
// charged. Run calls Check after its own refusals and before it records
// the spend of an engine that charges before computing. Check must neither
// read rows nor draw noise: it refuses a spec the engine cannot express
// (ErrConfig), runner options that cannot work, inputs it cannot reach.
type EngineChecker interface {
	Engine
	Check(ctx context.Context, in EngineInput) error
}

// engineInput is what cfg's engine gets for one run.
func engineInput(cfg Config, start, end, now time.Time) EngineInput {
	spec := cfg.Spec
	return EngineInput{Spec: spec, Events: cfg.Events, Consent: cfg.Consent, Period: cfg.Period,
		Start: start, End: end, Now: now, RunID: cfg.RunID,
		Metrics: spec.MetricOptions(cfg.Seed), Gate: spec.GateOptions(cfg.Seed), Logger: cfg.Logger}
}

// chargeAtSubmit records the run's spend before its engine computes, if
// the engine asks for that; it returns the record (nil for other engines)
// and the ledger's entries with it. Before that it gives the engine's
// Check its say, so that a spec the engine refuses is charged nothing.
func chargeAtSubmit(ctx context.Context, tx ledger.Tx, cfg Config, res *Result, start, end, now time.Time,
	entries []ledger.Entry) (*ledger.Entry, []ledger.Entry, error) {
	e := cfg.Engine
	if e == nil {
		return nil, entries, nil
	}
	if c, ok := e.(EngineChecker); ok {
		if err := c.Check(ctx, engineInput(cfg, start, end, now)); err != nil {
			return nil, nil, err
		}
	}
	if !e.ChargesBeforeCompute() {
		return nil, entries, nil
	}
	spec := cfg.Spec
	charge := spec.Charge()
	eps, delta := spec.Spend()
	entry := ledger.Entry{Job: spec.Name, Period: cfg.Period, RunID: cfg.RunID, Epsilon: eps, Delta: delta, Rho: charge.Rho,
		Metrics: metricNames(spec), Time: now, Rerun: cfg.Rerun, Engine: e.Name(), Submitted: true}
	if err := tx.Append(entry); err != nil {
		return nil, nil, &OutputError{fmt.Errorf("record the spend in the ledger before submitting the %s pipeline "+
			"(nothing was submitted; if the record was written, the period is charged and a retry exits 74): %w", e.Name(), err)}
	}
	res.Epsilon, res.Delta, res.Rho = eps, delta, charge.Rho
	entries, err := tx.Entries()
	if err != nil {
		return nil, nil, fmt.Errorf("read ledger: %w", err)
	}
	res.Window = ledger.Summarize(entries, cfg.Now().UTC(), res.Cap.Window, spec.Name)
	cfg.Logger.Info("spend recorded before submitting the pipeline", append([]any{"engine", e.Name()}, spendAttrs(charge)...)...)
	return &entry, entries, nil
}

// ChargedError is a run that failed after its spend was recorded at
// submit: the period is charged and nothing was published. It wraps the
// failure, whose exit code it keeps.
type ChargedError struct {
	Err            error
	Engine         string
	Job, Period    string
	RunID          string
	Epsilon, Delta float64
	Rho            float64
}

func (e *ChargedError) Error() string {
	return fmt.Sprintf("%v\n%s %s stays charged (%s, recorded by run %s when the %s pipeline was submitted: "+
		"the noise it may have drawn is paid for) and nothing was published; a retry without --rerun exits 74, "+
		"--rerun releases the period again, charged again", e.Err, e.Job, e.Period, chargeText(e.Epsilon, e.Delta, e.Rho), e.RunID, e.Engine)
}

func (e *ChargedError) Unwrap() error { return e.Err }

// afterSubmit is Run's return for err, a failure after the engine was
// run: with a submitted record, the result says what was charged and the
// error is a *ChargedError; otherwise nothing was charged (nil, err).
func afterSubmit(submitted *ledger.Entry, res *Result, err error) (*Result, error) {
	if submitted == nil {
		return nil, err
	}
	return res, &ChargedError{Err: err, Engine: submitted.Engine, Job: submitted.Job, Period: submitted.Period, RunID: submitted.RunID,
		Epsilon: submitted.Epsilon, Delta: submitted.Delta, Rho: submitted.Rho}
}

// chargedResult is the result Run returns with an error after the engine
// was run: what was charged at submit, or nil if nothing was.
func chargedResult(submitted *ledger.Entry, res *Result) *Result {
	if submitted == nil {
		return nil
	}
	return res
}

// stageNote says, in a staging error, what a failure there means.
func stageNote(submitted *ledger.Entry) string {
	if submitted == nil {
		return "nothing charged"
	}
	return "charged when the " + submitted.Engine + " pipeline was submitted: a retry exits 74, --rerun releases it, charged again"
}

// withholdSubmitted is withhold for a run charged at submit: its spend is
// recorded, so an outcome record that charges nothing says the gate
// withheld the period; w reports the whole run's charge.
func withholdSubmitted(tx ledger.Tx, cfg Config, res *Result, now time.Time, w *WithheldError, submitted ledger.Entry) (*Result, error) {
	spec := cfg.Spec
	outcome := ledger.Entry{Job: spec.Name, Period: cfg.Period, RunID: cfg.RunID, Metrics: spec.gateNames(), Time: now,
		Rerun: cfg.Rerun, Withheld: true, Engine: submitted.Engine, Outcome: true}
	if err := tx.Append(outcome); err != nil {
		return nil, &OutputError{fmt.Errorf("record that the quality gate withheld the period (nothing was published; its spend "+
			"was recorded when the %s pipeline was submitted, and a retry exits 74 instead of 69): %w", submitted.Engine, err)}
	}
	res.Status = StatusWithheld
	if entries, err := tx.Entries(); err == nil {
		res.Window = ledger.Summarize(entries, cfg.Now().UTC(), res.Cap.Window, spec.Name)
	}
	w.RunID, w.At, w.Epsilon, w.Delta, w.Rho, w.Engine = cfg.RunID, now, submitted.Epsilon, submitted.Delta, submitted.Rho, submitted.Engine
	for _, c := range w.Failed {
		cfg.Logger.Warn("withheld by the quality gate: nothing published",
			"category", c.Category, "noisy_users", c.Value, "min_users", spec.Gate.MinUsers, "engine", submitted.Engine)
	}
	return res, w
}

// spendRecord is the record that holds prev's spend: for an outcome
// record, the submitted record of the same run; otherwise prev itself.
func spendRecord(entries []ledger.Entry, prev ledger.Entry) ledger.Entry {
	if !prev.Outcome {
		return prev
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.Submitted && e.Job == prev.Job && e.Period == prev.Period && e.RunID == prev.RunID {
			e.Withheld, e.Outcome = true, true
			return e
		}
	}
	return prev
}

func chargeText(eps, delta, rho float64) string {
	if rho > 0 {
		return fmt.Sprintf("ρ = %g, δ = %g", rho, delta)
	}
	return fmt.Sprintf("ε = %g, δ = %g", eps, delta)
}

// submittedBy is the engine that charged e at submit, "" if e was recorded
// after its run computed.
func submittedBy(e ledger.Entry) string {
	if e.Submitted {
		return e.Engine
	}
	return ""
}
