package jobs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/jobs/ledger"
	"github.com/dpstats/dpstats/reports"
)

// Tests of recorded.go: OUT and the ledger kept in step (a published report
// the ledger does not record refuses the run; a recorded release whose
// report is missing is published from its staged copy, or fails with 74),
// and the report's times.

// fileTree returns name → content of the regular files directly in dir.
func fileTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[de.Name()] = string(b)
	}
	return files
}

// visible lists the non-hidden names in OUT/run-test.
func visible(t *testing.T, h *harness) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(h.out, "run-test"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), ".") {
			names = append(names, de.Name())
		}
	}
	return names
}

func stagedDirs(t *testing.T, h *harness) []string {
	t.Helper()
	st, err := reports.StagedReports(h.out, "run-test")
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range st {
		dirs = append(dirs, s.Dir)
	}
	return dirs
}

var errFull = errors.New("no space left on device (injected)")

// TestRunPublishFailsThenRetryPublishesStaged: the spend is recorded and the
// publish fails (exit 73); the retry, without --rerun and without reading
// its inputs, publishes the staged report byte for byte, charges nothing,
// and the run after that finds the period released.
func TestRunPublishFailsThenRetryPublishesStaged(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunPublishFailsThenRetryPublishesStaged(t, a) })
	}
}

func testRunPublishFailsThenRetryPublishesStaged(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(60)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	cfg.faults.beforePublish = func() error { return errFull }
	_, err := Run(context.Background(), cfg)
	var oe *OutputError
	if !errors.As(err, &oe) || !errors.Is(err, errFull) {
		t.Fatalf("Run with a failing publish = %v, want an *OutputError with the injected failure", err)
	}
	es := h.entries()
	if len(es) != 1 {
		t.Fatalf("the ledger has %d entries, want the failed run's spend recorded once", len(es))
	}
	if v := visible(t, h); len(v) != 0 {
		t.Errorf("a run whose publish failed left visible %v", v)
	}
	staged := stagedDirs(t, h)
	if len(staged) != 1 || filepath.Base(staged[0]) != ".staged-"+es[0].RunID {
		t.Fatalf("staged reports %v, want one for run %s", staged, es[0].RunID)
	}
	stagedFiles := fileTree(t, staged[0])

	retry := h.config(spec, unreadable(), unreadable())
	res, err := Run(context.Background(), retry)
	if err != nil {
		t.Fatalf("retry: %v (it must publish the staged report without reading anything)", err)
	}
	if res.Status != StatusPublishedStaged || res.RunID != es[0].RunID || res.Epsilon != 0 || res.Delta != 0 || res.Rho != 0 {
		t.Errorf("retry = status %q, run %s, charged ε %v δ %v; want %q, run %s, nothing charged",
			res.Status, res.RunID, res.Epsilon, res.Delta, StatusPublishedStaged, es[0].RunID)
	}
	if got := h.entries(); len(got) != 1 {
		t.Errorf("the retry changed the ledger: %d entries", len(got))
	}
	published := fileTree(t, res.Dir)
	if len(published) != len(stagedFiles) {
		t.Errorf("published %d files, staged %d", len(published), len(stagedFiles))
	}
	for name, content := range stagedFiles {
		if published[name] != content {
			t.Errorf("published %s differs from the staged one: the retry must publish it as it is", name)
		}
	}
	if got := stagedDirs(t, h); len(got) != 0 {
		t.Errorf("staged reports left after publishing: %v", got)
	}
	if !strings.Contains(h.logs.String(), "published the staged report") {
		t.Errorf("the retry does not log what it did:\n%s", h.logs.String())
	}

	again, err := Run(context.Background(), h.config(spec, unreadable(), unreadable()))
	if err != nil || again.Status != StatusAlreadyReleased {
		t.Errorf("the run after the retry = %+v, %v; want already released", again, err)
	}
}

// TestRunMissingReport: the spend is recorded, the report never appeared,
// and nothing staged survives: a retry must not exit 0. It fails with a
// *MissingReportError saying what happened and to use --rerun; --rerun
// releases, charged again.
func TestRunMissingReport(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunMissingReport(t, a) })
	}
}

func testRunMissingReport(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(60)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	cfg.faults.beforePublish = func() error { return errFull }
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the failing publish succeeded")
	}
	for _, d := range stagedDirs(t, h) {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	first := h.entries()[0]
	_, err := Run(context.Background(), h.config(spec, unreadable(), unreadable()))
	var me *MissingReportError
	if !errors.As(err, &me) {
		t.Fatalf("retry without a staged report = %v, want *MissingReportError", err)
	}
	if me.RunID != first.RunID || me.Period != period || me.Epsilon+me.Rho != runCharge(spec) {
		t.Errorf("MissingReportError = %+v, want run %s, period %s, charged %v", me, first.RunID, period, runCharge(spec))
	}
	if msg := err.Error() + " " + me.Hint(); !strings.Contains(msg, "--rerun") || !strings.Contains(msg, "never published") ||
		!strings.Contains(msg, "charged again") {
		t.Errorf("the error does not say what happened and what to do: %s", msg)
	}
	if n := len(h.entries()); n != 1 {
		t.Errorf("the failed retry changed the ledger: %d entries", n)
	}

	cfg = h.with(spec, evs, gs)
	cfg.Rerun = true
	res, err := Run(context.Background(), cfg)
	if err != nil || res.Status != StatusReleased {
		t.Fatalf("--rerun = %+v, %v", res, err)
	}
	if es := h.entries(); len(es) != 2 || !es[1].Rerun || windowSpent(res.Window) != 2*runCharge(spec) {
		t.Errorf("after --rerun the ledger has %d entries (window spend %v), want 2, charged again", len(es), windowSpent(res.Window))
	}
}

// TestRunStageFailsChargesNothing: a failure while staging (a full disk
// under OUT) happens before the spend is recorded: nothing charged,
// nothing left, and the retry releases.
func TestRunStageFailsChargesNothing(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunStageFailsChargesNothing(t, a) })
	}
}

func testRunStageFailsChargesNothing(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(60)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	cfg.faults.beforeStage = func() error { return errFull }
	if _, err := Run(context.Background(), cfg); !errors.Is(err, errFull) {
		t.Fatalf("Run with a failing stage = %v", err)
	}
	if n := len(h.entries()); n != 0 {
		t.Errorf("a failed staging charged the ledger: %d entries", n)
	}
	if v, s := visible(t, h), stagedDirs(t, h); len(v)+len(s) != 0 {
		t.Errorf("a failed staging left %v and staged %v", v, s)
	}
	res, err := Run(context.Background(), h.with(spec, evs, gs))
	if err != nil || res.Status != StatusReleased || len(h.entries()) != 1 {
		t.Errorf("retry = %+v, %v, %d entries; want released once", res, err, len(h.entries()))
	}
}

// failingLedger is a ledger whose appends fail as on a full disk, without
// writing anything.
type failingLedger struct{ ledger.Ledger }

func (l failingLedger) Lock(ctx context.Context) (ledger.Tx, error) {
	tx, err := l.Ledger.Lock(ctx)
	if err != nil {
		return nil, err
	}
	return failingTx{tx}, nil
}

type failingTx struct{ ledger.Tx }

func (failingTx) Append(ledger.Entry) error { return errFull }

// TestRunAppendFailsThenRetryReleasesAfresh: the report is staged and the
// ledger append fails with nothing written: nothing is charged and nothing
// published. The retry removes the staged report (its spend is not
// recorded: publishing it would be an uncharged release) and releases
// afresh, charged once.
func TestRunAppendFailsThenRetryReleasesAfresh(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunAppendFailsThenRetryReleasesAfresh(t, a) })
	}
}

func testRunAppendFailsThenRetryReleasesAfresh(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(60)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	cfg.Ledger = failingLedger{h.ledger}
	_, err := Run(context.Background(), cfg)
	var oe *OutputError
	if !errors.As(err, &oe) || !errors.Is(err, errFull) {
		t.Fatalf("Run with a failing append = %v", err)
	}
	orphan := stagedDirs(t, h)
	if n := len(h.entries()); n != 0 || len(orphan) != 1 || len(visible(t, h)) != 0 {
		t.Fatalf("after the failed append: %d entries, staged %v, visible %v; want 0, one staged, nothing visible",
			n, orphan, visible(t, h))
	}
	res, err := Run(context.Background(), h.with(spec, evs, gs))
	if err != nil || res.Status != StatusReleased {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	es := h.entries()
	if len(es) != 1 || es[0].RunID != res.RunID || filepath.Base(orphan[0]) == ".staged-"+res.RunID {
		t.Errorf("ledger %+v after the retry; want one entry, the retry's (%s)", es, res.RunID)
	}
	if got := stagedDirs(t, h); len(got) != 0 {
		t.Errorf("the unrecorded staged report survived the retry: %v", got)
	}
	if r, _ := readReport(t, res.Dir); r.RunID != res.RunID {
		t.Errorf("published report of run %s, want the retry's %s", r.RunID, res.RunID)
	}
}

// TestRunStagedSurvivesOtherReleases: a recorded, unpublished staged report
// survives the cleanup of later releases of other periods, and its retry
// still publishes it.
func TestRunStagedSurvivesOtherReleases(t *testing.T) {
	for _, a := range accountings {
		t.Run(a, func(t *testing.T) { testRunStagedSurvivesOtherReleases(t, a) })
	}
}

func testRunStagedSurvivesOtherReleases(t *testing.T, a string) {
	h := newHarness(t)
	evs, gs := population(60)
	spec := specIn(t, a, 1, 10)
	cfg := h.with(spec, evs, gs)
	cfg.faults.beforePublish = func() error { return errFull }
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("the failing publish succeeded")
	}
	other := h.with(spec, evs, gs)
	other.Period = "2026-10-30"
	if res, err := Run(context.Background(), other); err != nil || res.Status != StatusReleased {
		t.Fatalf("release of another period = %+v, %v", res, err)
	}
	if got := stagedDirs(t, h); len(got) != 1 {
		t.Fatalf("staged reports after another release: %v, want the recorded one kept", got)
	}
	res, err := Run(context.Background(), h.config(spec, unreadable(), unreadable()))
	if err != nil || res.Status != StatusPublishedStaged {
		t.Errorf("retry = %+v, %v; want the staged report published", res, err)
	}
}

// TestRunWithheldIsNothingToPublish: a period the quality gate withheld is
// recorded without a report by design: a retry has nothing to publish, is
// not a missing report (74), and says again that it was withheld, reading
// and charging nothing.
func TestRunWithheldIsNothingToPublish(t *testing.T) {
	h := newHarness(t)
	tx, err := h.ledger.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Append(ledger.Entry{Job: "run-test", Period: period, RunID: "gate-run", Epsilon: 0.05, Withheld: true,
		Time: afterDay.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	tx.Unlock()
	res, err := Run(context.Background(), h.config(specWith(t, 1, 10), unreadable(), unreadable()))
	var withheld *WithheldError
	if !errors.As(err, &withheld) || res == nil || res.Status != StatusWithheld || res.Epsilon != 0 {
		t.Errorf("retry of a withheld period = %+v, %v; want withheld again, nothing charged", res, err)
	}
	if v := visible(t, h); len(v) != 0 {
		t.Errorf("a withheld period got %v", v)
	}
}

// TestRunRefusesUnrecordedReports: a published report of any period of any
// job in OUT whose run the ledger does not record refuses every run, before
// anything is read, with --rerun too, and the error names the report.
func TestRunRefusesUnrecordedReports(t *testing.T) {
	evs, gs := population(40)
	spec := specWith(t, 1, 10)
	for _, tc := range []struct {
		name string
		// setup publishes into h.out and returns the report directory
		// the ledger then does not record
		setup func(t *testing.T, h *harness) string
	}{
		{"another period, the ledger was replaced by an empty one", func(t *testing.T, h *harness) string {
			res, _ := h.release(spec, evs, gs)
			if err := os.Remove(h.ledger.Path()); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ledger.Init(h.ledger.Path()); err != nil {
				t.Fatal(err)
			}
			return res.Dir
		}},
		{"another job's report", func(t *testing.T, h *harness) string {
			other := strings.Replace(runSpecYAML, "name: run-test", "name: other-job", 1)
			other = strings.NewReplacer("CAP", "10", "EPS", "1").Replace(other)
			os2, err := ParseSpec("other.yaml", strings.NewReader(other))
			if err != nil {
				t.Fatal(err)
			}
			l2, _, err := ledger.Init(filepath.Join(t.TempDir(), "other-ledger.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := h.with(os2, evs, gs)
			cfg.Ledger = l2
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			return res.Dir
		}},
		{"the ledger records the period with another run id", func(t *testing.T, h *harness) string {
			res, _ := h.release(spec, evs, gs)
			data, err := os.ReadFile(h.ledger.Path())
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(strings.Replace(string(data), res.RunID, "some-other-run", 1))
			if err := os.WriteFile(h.ledger.Path(), data, 0o600); err != nil {
				t.Fatal(err)
			}
			return res.Dir
		}},
		{"a report.json that does not say its run", func(t *testing.T, h *harness) string {
			dir := filepath.Join(h.out, "run-test", "2026-09-01")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"job":"run-test"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			dir := tc.setup(t, h)
			before, err := os.ReadFile(h.ledger.Path())
			if err != nil {
				t.Fatal(err)
			}
			for _, rerun := range []bool{false, true} {
				cfg := h.config(spec, unreadable(), unreadable())
				cfg.Period, cfg.Rerun = "2026-10-29", rerun
				_, err := Run(context.Background(), cfg)
				var ue *UnrecordedReportError
				var oe *OutputError
				if !errors.As(err, &ue) || !errors.As(err, &oe) {
					t.Fatalf("rerun %v: Run = %v, want an *UnrecordedReportError (exit 73)", rerun, err)
				}
				if ue.Dir != dir || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), h.ledger.Path()) {
					t.Errorf("rerun %v: the error does not name the report %s and the ledger: %v", rerun, dir, err)
				}
			}
			if after, _ := os.ReadFile(h.ledger.Path()); string(after) != string(before) {
				t.Errorf("a refused run changed the ledger")
			}
		})
	}
}

// TestRunAllTimeAndTimes: the report states the ledger's all-time spend
// next to the window's; its time is the run's start (the ledger record's
// time), and every file, its directory and latest.json have the period's
// end as modification time, whatever the clock says when it is written.
func TestRunAllTimeAndTimes(t *testing.T) {
	h := newHarness(t)
	tx, err := h.ledger.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Long out of the window, still spent.
	if err := tx.Append(ledger.Entry{Job: "run-test", Period: "2025-01-01", RunID: "old", Epsilon: 5, Delta: 1e-9,
		Time: afterDay.AddDate(-1, 0, 0)}); err != nil {
		t.Fatal(err)
	}
	tx.Unlock()
	evs, gs := population(60)
	res, err := Run(context.Background(), h.with(specWith(t, 1, 10), evs, gs))
	if err != nil {
		t.Fatal(err)
	}
	if res.Window.Epsilon != 1 || res.Window.EpsilonAllTime != 6 {
		t.Errorf("window ε %v, all time %v; want 1 and 6", res.Window.Epsilon, res.Window.EpsilonAllTime)
	}
	data, err := os.ReadFile(filepath.Join(res.Dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"epsilon_spent": 1,`, `"epsilon_all_time": 6,`, `"delta_all_time": 2e-09`,
		`"generated_at": "` + afterDay.Format(time.RFC3339) + `"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("report.json lacks %s", want)
		}
	}
	html, _ := os.ReadFile(filepath.Join(res.Dir, "index.html"))
	if !strings.Contains(string(html), "all releases in the last 30 days ε = 1 of 10; all time ε = 6.") {
		t.Errorf("index.html does not state the all-time spend")
	}
	end := day.Add(24 * time.Hour)
	paths := []string{res.Dir, filepath.Join(h.out, "run-test", "latest.json")}
	for name := range fileTree(t, res.Dir) {
		paths = append(paths, filepath.Join(res.Dir, name))
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(end) {
			t.Errorf("%s: modification time %v, want the period's end %v", p, fi.ModTime().UTC(), end)
		}
	}
}
