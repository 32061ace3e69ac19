package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// Tests of remote.go: the release protocol for an engine that charges
// before it computes, with a fake engine that wraps the local aggregate
// and fails, without panicking, where a test asks it to.

// fakeEngine is a test-only Engine over the local aggregate.
type fakeEngine struct {
	t            *testing.T
	chargesFirst bool
	// checkErr is what Check returns.
	checkErr error
	// failSubmit fails Aggregate before anything is read (the runner
	// rejected the pipeline); failAfter fails it after the noise was drawn
	// (the pipeline failed while writing its results); cancelAfter cancels
	// the run's context after the noise was drawn (an interrupt).
	failSubmit, failAfter error
	cancelAfter           context.CancelFunc
	// h, if set, is the harness whose ledger Aggregate reads: the spend
	// must be recorded before it runs (ledgerAtAggregate).
	h                 *harness
	ledgerAtAggregate []ledger.Entry
	checks, calls     int
}

func (f *fakeEngine) Name() string               { return "fake" }
func (f *fakeEngine) ChargesBeforeCompute() bool { return f.chargesFirst }

func (f *fakeEngine) Check(_ context.Context, in EngineInput) error {
	f.checks++
	if in.Spec == nil || in.Period != period || in.RunID == "" {
		f.t.Errorf("Check got %+v", in)
	}
	return f.checkErr
}

func (f *fakeEngine) Aggregate(ctx context.Context, in EngineInput) ([]*dp.Released, error) {
	f.calls++
	if f.h != nil {
		es, err := f.h.ledger.Entries()
		if err != nil {
			return nil, err
		}
		f.ledgerAtAggregate = es
	}
	if f.failSubmit != nil {
		return nil, f.failSubmit
	}
	cfg := Config{Spec: in.Spec, Events: in.Events, Consent: in.Consent, Period: in.Period, Logger: in.Logger, Workers: 1}
	out, err := aggregate(ctx, cfg, in.Start, in.End, in.Now)
	if err != nil {
		return nil, err
	}
	if f.cancelAfter != nil {
		f.cancelAfter()
		return nil, ctx.Err()
	}
	if f.failAfter != nil {
		return nil, f.failAfter
	}
	return out, nil
}

var errPipeline = errors.New("pipeline failed: worker lost (injected)")

// submittedOK checks that e is the run's spend recorded at submit.
func submittedOK(t *testing.T, e ledger.Entry, spec *Spec, runID string) {
	t.Helper()
	if !e.Submitted || e.Engine != "fake" || e.Outcome || e.Withheld || chargedOf(e) != runCharge(spec) ||
		(runID != "" && e.RunID != runID) {
		t.Errorf("ledger entry = %+v, want the whole run's charge %v recorded at submit by engine fake, run %q", e, runCharge(spec), runID)
	}
}

// missingAfterSubmit runs a retry that must fail with exit 74's error,
// saying the period was charged at submit and that --rerun releases it.
func missingAfterSubmit(t *testing.T, h *harness, spec *Spec, f *fakeEngine, runID string) {
	t.Helper()
	calls, n := f.calls, len(h.entries())
	cfg := h.config(spec, unreadable(), unreadable())
	cfg.Engine = f
	_, err := Run(context.Background(), cfg)
	var me *MissingReportError
	if !errors.As(err, &me) {
		t.Fatalf("retry = %v, want a *MissingReportError (exit 74)", err)
	}
	if me.RunID != runID || me.Engine != "fake" || me.Epsilon+me.Rho != runCharge(spec) {
		t.Errorf("MissingReportError = %+v, want run %s, engine fake, charged %v", me, runID, runCharge(spec))
	}
	msg := err.Error() + " " + me.Hint()
	for _, want := range []string{"charged in the ledger when run " + runID + " submitted its fake pipeline", "never published",
		"stays charged", "--rerun", "charged again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("retry message lacks %q: %s", want, msg)
		}
	}
	if f.calls != calls || len(h.entries()) != n {
		t.Errorf("the retry called the engine %d times and added %d ledger entries; want none", f.calls-calls, len(h.entries())-n)
	}
}

// nothingPublished checks that OUT has no report and no staged copy.
func nothingPublished(t *testing.T, h *harness) {
	t.Helper()
	if v, s := visible(t, h), stagedDirs(t, h); len(v)+len(s) != 0 {
		t.Errorf("OUT holds %v and staged %v; want nothing", v, s)
	}
}

// TestChargeAtSubmit: the release protocol with an engine that charges
// before it computes, under pure and zcdp accounting.
func TestChargeAtSubmit(t *testing.T) {
	evs, gs := population(60)
	tests := []struct {
		name string
		run  func(t *testing.T, a string, h *harness, f *fakeEngine)
	}{
		{"release: charged once, before the engine runs", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			res, err := Run(context.Background(), cfg)
			if err != nil || res.Status != StatusReleased {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			if f.checks != 1 || f.calls != 1 {
				t.Errorf("Check called %d times, Aggregate %d; want 1, 1", f.checks, f.calls)
			}
			if len(f.ledgerAtAggregate) != 1 {
				t.Fatalf("the ledger held %d entries when the engine ran, want the spend recorded first", len(f.ledgerAtAggregate))
			}
			submittedOK(t, f.ledgerAtAggregate[0], spec, res.RunID)
			es := h.entries()
			if len(es) != 1 {
				t.Fatalf("ledger has %d entries after the release, want 1 (no second charge)", len(es))
			}
			submittedOK(t, es[0], spec, res.RunID)
			if chargedOf(ledger.Entry{Epsilon: res.Epsilon, Rho: res.Rho}) != runCharge(spec) || windowSpent(res.Window) != runCharge(spec) {
				t.Errorf("Result charged ε %v ρ %v, window %v; want %v once", res.Epsilon, res.Rho, windowSpent(res.Window), runCharge(spec))
			}
			// The report states the same ledger as a local release's.
			local := newHarness(t)
			lres, err := Run(context.Background(), local.with(spec, evs, gs))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := ledgerOf(t, res.Dir), ledgerOf(t, lres.Dir); got != want {
				t.Errorf("report's ledger = %s, a local release's = %s", got, want)
			}
			again := h.config(spec, unreadable(), unreadable())
			again.Engine = f
			if res, err := Run(context.Background(), again); err != nil || res.Status != StatusAlreadyReleased || f.calls != 1 {
				t.Errorf("the run after = %+v, %v, engine calls %d; want already released, engine not called", res, err, f.calls)
			}
		}},
		{"refusal: a full window submits and charges nothing", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			tx, err := h.ledger.Lock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := tx.Append(ledger.Entry{Job: "other-job", Period: "2026-10-31", Epsilon: 9.5, Time: afterDay.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			tx.Unlock()
			cfg := h.config(spec, unreadable(), unreadable())
			cfg.Engine = f
			_, err = Run(context.Background(), cfg)
			var be *ledger.BudgetError
			if !errors.As(err, &be) {
				t.Fatalf("Run over the cap = %v, want a *ledger.BudgetError", err)
			}
			if f.calls != 0 || f.checks != 0 || len(h.entries()) != 1 {
				t.Errorf("the refused run: engine checked %d, called %d times, ledger %d entries; want 0, 0, 1",
					f.checks, f.calls, len(h.entries()))
			}
			nothingPublished(t, h)
		}},
		{"refusal: the engine's Check submits and charges nothing", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			f.checkErr = ErrConfig
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			if _, err := Run(context.Background(), cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("Run = %v, want the engine's ErrConfig", err)
			}
			if f.calls != 0 || len(h.entries()) != 0 {
				t.Errorf("engine called %d times, ledger %d entries; want none", f.calls, len(h.entries()))
			}
			nothingPublished(t, h)
		}},
		{"refusal: the spend cannot be recorded, nothing submitted", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			cfg := h.with(spec, evs, gs)
			cfg.Engine, cfg.Ledger = f, failingLedger{h.ledger}
			var oe *OutputError
			if _, err := Run(context.Background(), cfg); !errors.As(err, &oe) || !errors.Is(err, errFull) {
				t.Fatalf("Run = %v, want an *OutputError with the injected failure", err)
			}
			if f.calls != 0 {
				t.Errorf("engine called %d times after its spend could not be recorded", f.calls)
			}
		}},
		{"already released: the engine is not called", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			first, before := h.release(spec, evs, gs) // the local engine released it
			cfg := h.config(spec, unreadable(), unreadable())
			cfg.Engine = f
			res, err := Run(context.Background(), cfg)
			if err != nil || res.Status != StatusAlreadyReleased {
				t.Fatalf("Run = %+v, %v; want already released", res, err)
			}
			if f.checks+f.calls != 0 || len(h.entries()) != 1 || res.Epsilon+res.Rho != 0 {
				t.Errorf("engine checked %d, called %d times; ledger %d entries; charged %v; want nothing", f.checks, f.calls,
					len(h.entries()), res.Epsilon+res.Rho)
			}
			if after, err := os.ReadFile(filepath.Join(first.Dir, "report.json")); err != nil || !bytes.Equal(before, after) {
				t.Errorf("the published report changed (err %v)", err)
			}
		}},
		{"rerun: charged again, at submit", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			for _, rerun := range []bool{false, true} {
				cfg := h.with(spec, evs, gs)
				cfg.Engine, cfg.Rerun = f, rerun
				res, err := Run(context.Background(), cfg)
				if err != nil || res.Status != StatusReleased {
					t.Fatalf("Run (rerun %v) = %+v, %v", rerun, res, err)
				}
				if rerun {
					if windowSpent(res.Window) != 2*runCharge(spec) {
						t.Errorf("window after the rerun = %v, want %v", windowSpent(res.Window), 2*runCharge(spec))
					}
					if r, _ := readReport(t, res.Dir); r.RunID != res.RunID {
						t.Errorf("report run_id = %q, want the rerun's %q", r.RunID, res.RunID)
					}
				}
			}
			es := h.entries()
			if len(es) != 2 || es[0].Rerun || !es[1].Rerun || len(f.ledgerAtAggregate) != 2 {
				t.Fatalf("ledger = %+v (at the rerun's Aggregate: %d entries); want 2, the second a rerun recorded before it ran",
					es, len(f.ledgerAtAggregate))
			}
			submittedOK(t, es[1], spec, "")
		}},
		{"pipeline fails after drawing noise: charged, nothing published, retry 74", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			f.failAfter = errPipeline
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			res, err := Run(context.Background(), cfg)
			var ce *ChargedError
			if !errors.As(err, &ce) || !errors.Is(err, errPipeline) {
				t.Fatalf("Run = %v, want a *ChargedError wrapping the pipeline's failure", err)
			}
			if res == nil || res.Epsilon+res.Rho != runCharge(spec) {
				t.Errorf("Result = %+v, want what stays charged: %v", res, runCharge(spec))
			}
			for _, want := range []string{"worker lost", "stays charged", "pipeline was submitted", "exits 74", "--rerun", "charged again"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message lacks %q: %s", want, err)
				}
			}
			es := h.entries()
			if len(es) != 1 {
				t.Fatalf("ledger has %d entries, want the spend recorded at submit", len(es))
			}
			submittedOK(t, es[0], spec, res.RunID)
			nothingPublished(t, h)
			missingAfterSubmit(t, h, spec, f, es[0].RunID)

			// --rerun releases it, charged again.
			f.failAfter = nil
			cfg = h.with(spec, evs, gs)
			cfg.Engine, cfg.Rerun = f, true
			res, err = Run(context.Background(), cfg)
			if err != nil || res.Status != StatusReleased || windowSpent(res.Window) != 2*runCharge(spec) {
				t.Fatalf("--rerun = %+v, %v; want released, charged again", res, err)
			}
		}},
		{"pipeline rejected at submit: charged anyway", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			f.failSubmit = errPipeline
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			_, err := Run(context.Background(), cfg)
			if !errors.As(err, new(*ChargedError)) || len(h.entries()) != 1 {
				t.Fatalf("Run = %v with %d ledger entries; want a *ChargedError, charged once", err, len(h.entries()))
			}
			nothingPublished(t, h)
			missingAfterSubmit(t, h, spec, f, h.entries()[0].RunID)
		}},
		{"interrupted mid-pipeline: charged, nothing published, still an interrupt", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.cancelAfter = cancel
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			_, err := Run(ctx, cfg)
			if !errors.Is(err, context.Canceled) || !errors.As(err, new(*ChargedError)) {
				t.Fatalf("Run = %v, want context.Canceled inside a *ChargedError", err)
			}
			nothingPublished(t, h)
			missingAfterSubmit(t, h, spec, f, h.entries()[0].RunID)
		}},
		{"crash between the charge and the stage: retry 74", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			cfg.faults.beforeStage = func() error { return errFull }
			_, err := Run(context.Background(), cfg)
			var oe *OutputError
			if !errors.As(err, &oe) || !errors.Is(err, errFull) || !strings.Contains(err.Error(), "charged when the fake pipeline was submitted") {
				t.Fatalf("Run = %v, want an *OutputError that says the period is charged", err)
			}
			if strings.Contains(err.Error(), "nothing charged") {
				t.Errorf("the error says nothing was charged: %v", err)
			}
			nothingPublished(t, h)
			submittedOK(t, h.entries()[0], spec, "")
			missingAfterSubmit(t, h, spec, f, h.entries()[0].RunID)
		}},
		{"publish fails after staging: the retry publishes the staged report, charged once", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			cfg.faults.beforePublish = func() error { return errFull }
			if _, err := Run(context.Background(), cfg); !errors.Is(err, errFull) {
				t.Fatalf("Run = %v", err)
			}
			retry := h.config(spec, unreadable(), unreadable())
			retry.Engine = f
			res, err := Run(context.Background(), retry)
			if err != nil || res.Status != StatusPublishedStaged || f.calls != 1 || len(h.entries()) != 1 {
				t.Errorf("retry = %+v, %v, engine calls %d, %d ledger entries; want the staged report published, nothing run or charged",
					res, err, f.calls, len(h.entries()))
			}
		}},
		{"quality gate withholds: charged in full, retry 69 reads nothing", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			// As in TestRunWithheld: 50 users pass min_users = 100 with
			// probability ½e^{−50/1.2} at ε = 10.
			spec := gateSpecIn(t, a, 10, "100")
			few, fewGrants := population(50)
			cfg := h.with(spec, few, fewGrants)
			cfg.Engine = f
			res, err := Run(context.Background(), cfg)
			var w *WithheldError
			if !errors.As(err, &w) || res == nil || res.Status != StatusWithheld {
				t.Fatalf("Run = %+v, %v; want withheld", res, err)
			}
			if w.Engine != "fake" || w.Epsilon+w.Rho != runCharge(spec) || res.Epsilon+res.Rho != runCharge(spec) {
				t.Errorf("withheld: error charged %v (engine %q), result %v; want the whole run's %v", w.Epsilon+w.Rho, w.Engine,
					res.Epsilon+res.Rho, runCharge(spec))
			}
			if !strings.Contains(err.Error(), "recorded in the ledger when the fake pipeline was submitted") {
				t.Errorf("message does not say when the spend was recorded:\n%s", err)
			}
			es := h.entries()
			if len(es) != 2 {
				t.Fatalf("ledger = %+v, want the spend and the outcome", es)
			}
			submittedOK(t, es[0], spec, res.RunID)
			if o := es[1]; !o.Outcome || !o.Withheld || o.RunID != res.RunID || chargedOf(o) != 0 || o.Delta != 0 || o.Engine != "fake" {
				t.Errorf("outcome record = %+v, want withheld, run %s, charging nothing", o, res.RunID)
			}
			if windowSpent(res.Window) != runCharge(spec) || len(res.Window.Releases) != 1 {
				t.Errorf("window = %v over %d releases, want %v once", windowSpent(res.Window), len(res.Window.Releases), runCharge(spec))
			}
			nothingPublished(t, h)
			if _, err := os.Stat(filepath.Join(h.out, "run-test", period)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("withheld period has an output directory (err %v)", err)
			}

			retry := h.config(spec, unreadable(), unreadable())
			retry.Engine = f
			res2, err := Run(context.Background(), retry)
			var w2 *WithheldError
			if !errors.As(err, &w2) || !w2.Earlier || res2 == nil || res2.Status != StatusWithheld || res2.Epsilon+res2.Rho != 0 {
				t.Fatalf("retry = %+v, %v; want withheld earlier (exit 69), nothing charged", res2, err)
			}
			if errors.As(err, new(*MissingReportError)) {
				t.Errorf("the retry of a withheld period is a missing report (74): %v", err)
			}
			if w2.RunID != res.RunID || w2.Epsilon+w2.Rho != runCharge(spec) {
				t.Errorf("retry names run %s charged %v; want run %s charged %v", w2.RunID, w2.Epsilon+w2.Rho, res.RunID, runCharge(spec))
			}
			if f.calls != 1 || len(h.entries()) != 2 {
				t.Errorf("retry: engine calls %d, ledger %d entries; want 1, 2", f.calls, len(h.entries()))
			}

			// --rerun with enough users releases, charged again.
			many, manyGrants := population(200)
			cfg = h.with(spec, many, manyGrants)
			cfg.Engine, cfg.Rerun = f, true
			res3, err := Run(context.Background(), cfg)
			if err != nil || res3.Status != StatusReleased || windowSpent(res3.Window) != 2*runCharge(spec) {
				t.Fatalf("rerun = %+v, %v; want released, charged again", res3, err)
			}
		}},
		{"an engine that does not charge first: recorded after it computes", func(t *testing.T, a string, h *harness, f *fakeEngine) {
			spec := specIn(t, a, 1, 10)
			f.chargesFirst = false
			cfg := h.with(spec, evs, gs)
			cfg.Engine = f
			res, err := Run(context.Background(), cfg)
			if err != nil || res.Status != StatusReleased {
				t.Fatalf("Run = %+v, %v", res, err)
			}
			es := h.entries()
			if len(f.ledgerAtAggregate) != 0 || len(es) != 1 || es[0].Submitted || es[0].Engine != "" {
				t.Errorf("ledger at Aggregate %v, after %+v; want empty, then one local-style record", f.ledgerAtAggregate, es)
			}
			h2 := newHarness(t)
			f2 := &fakeEngine{t: t, failAfter: errPipeline}
			cfg = h2.with(spec, evs, gs)
			cfg.Engine = f2
			if _, err := Run(context.Background(), cfg); !errors.Is(err, errPipeline) || errors.As(err, new(*ChargedError)) ||
				len(h2.entries()) != 0 {
				t.Errorf("a failing engine that does not charge first = %v with %d ledger entries; want its error, nothing charged",
					err, len(h2.entries()))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, a := range accountings {
				t.Run(a, func(t *testing.T) {
					h := newHarness(t)
					tt.run(t, a, h, &fakeEngine{t: t, chargesFirst: true, h: h})
				})
			}
		})
	}
}

// ledgerOf is the "ledger" object of the report in dir, as JSON.
func ledgerOf(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Ledger json.RawMessage `json:"ledger"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return string(r.Ledger)
}
