package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/dpstats/dpstats/jobs/ledger"
	"github.com/dpstats/dpstats/reports"
)

// The ledger and the output directory must tell the same story: every
// published report is a release the ledger records, and every release the
// ledger records has its report published, or staged so that it can be.
// This file holds the checks and repairs of the release protocol that keep
// them in step:
//
//   - checkPublished refuses a run when OUT holds a published report, of any
//     job and period, whose run the ledger does not record (the ledger was
//     lost, replaced, restored from an older copy, or is the wrong one);
//   - publishRecorded is a retry's path: the ledger records the period, so
//     nothing is drawn or charged; if the report is missing, the staged copy
//     is published as it is, and if none survives the run fails with a
//     *MissingReportError (exit 74);
//   - cleanStaged removes staged reports whose spend the ledger does not
//     record (a run that died before or while recording it), or that are
//     superseded; it never removes one the ledger records and that is not
//     published yet.

// StatusPublishedStaged: the ledger recorded the period's release, but its
// report had not been published (the run failed or died after recording
// the spend); the report that run staged was published now, as it was. No
// noise was drawn and nothing charged.
const StatusPublishedStaged Status = "published_staged"

// UnrecordedReportError means the output directory holds a published report
// whose run the ledger does not record. It is an output error (exit 73).
type UnrecordedReportError struct {
	Dir    string // the report's directory, OUT/<job>/<period>
	Job    string // from its report.json ("" if unreadable)
	Period string
	RunID  string
	Ledger string // the ledger's path, if known
	Err    error  // set if report.json could not be read
	Others int    // how many more such reports there are
}

func (e *UnrecordedReportError) Error() string {
	led := "the ledger"
	if e.Ledger != "" {
		led = "the ledger " + e.Ledger
	}
	var what string
	if e.Err != nil {
		what = fmt.Sprintf("%s holds a report whose run cannot be read (%v), so %s cannot be shown to record it", e.Dir, e.Err, led)
	} else {
		what = fmt.Sprintf("%s holds the published report of %s %s (run %s), which %s does not record", e.Dir, e.Job, e.Period, e.RunID, led)
	}
	if e.Others > 0 {
		what += fmt.Sprintf(" (and %d more like it)", e.Others)
	}
	return what + ": the ledger may have been lost, replaced or restored from an older copy, or is not the one these " +
		"reports were released with, and its spend would be under-counted; refusing to release anything with it " +
		"(restore the right ledger, or add the missing releases to it: see docs/operations.md, \"Backup and restore\"; " +
		"--rerun does not help)"
}

// Hint is the "Try:" line of the command line.
func (e *UnrecordedReportError) Hint() string {
	return "dpstats budget --ledger <ledger> shows what the ledger records; compare it with the run_id of " +
		filepath.Join(e.Dir, "report.json")
}

// MissingReportError means the ledger records a release of the period whose
// report was never published, and no staged copy of it survives: it cannot
// be published without drawing new noise. Exit 74.
type MissingReportError struct {
	Job, Period, RunID string
	Recorded           time.Time // when the spend was recorded
	Epsilon, Delta     float64   // what it charged
	Staged             string    // where its staged copy would be
	Rho                float64   // what it charged under zcdp accounting (then Epsilon is 0)
	// Engine, when set, is the engine whose run was charged when its
	// pipeline was submitted, before it computed anything (remote.go).
	Engine string
}

func (e *MissingReportError) Error() string {
	charged := fmt.Sprintf("ε = %g, δ = %g", e.Epsilon, e.Delta)
	if e.Rho > 0 {
		charged = fmt.Sprintf("ρ = %g, δ = %g", e.Rho, e.Delta)
	}
	if e.Engine != "" {
		return fmt.Sprintf("%s %s was charged in the ledger when run %s submitted its %s pipeline at %s (%s charged), "+
			"but its report was never published (the pipeline failed, the run was interrupted or died, or it could not stage "+
			"the report), and no staged copy of it survives (%s): the period stays charged; publishing it now means "+
			"drawing new noise, which must be charged again (--rerun)",
			e.Job, e.Period, e.RunID, e.Engine, e.Recorded.UTC().Format(time.RFC3339), charged, e.Staged)
	}
	return fmt.Sprintf("%s %s is recorded in the ledger as released by run %s at %s (%s charged), "+
		"but its report was never published, and no staged copy of it survives (%s): publishing the period now "+
		"means drawing new noise, which must be charged again",
		e.Job, e.Period, e.RunID, e.Recorded.UTC().Format(time.RFC3339), charged, e.Staged)
}

// Hint is the "Try:" line of the command line.
func (e *MissingReportError) Hint() string {
	return fmt.Sprintf("release %s again deliberately with --rerun (fresh noise, charged again: check dpstats budget first), "+
		"or leave the day unpublished; its first spend stays charged either way", e.Period)
}

// runIDPattern is what a run id may look like: it names the staged
// report's directory.
var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func validRunID(id string) bool { return runIDPattern.MatchString(id) && !strings.Contains(id, "..") }

// ledgerPath is the ledger's file, if it has one.
func ledgerPath(l ledger.Ledger) string {
	if p, ok := l.(interface{ Path() string }); ok {
		return p.Path()
	}
	return ""
}

// recordedRuns indexes what the ledger records: (job, period, run id), and
// (job, period) for records without a run id (torn, or written by hand).
type recordedRuns map[[3]string]bool

func indexRuns(entries []ledger.Entry) recordedRuns {
	rec := recordedRuns{}
	for _, e := range entries {
		rec[[3]string{e.Job, e.Period, e.RunID}] = true
	}
	return rec
}

func (r recordedRuns) has(job, period, runID string) bool {
	return r[[3]string{job, period, runID}] || r[[3]string{job, period, ""}]
}

// checkPublished refuses, with an *UnrecordedReportError inside an
// *OutputError, if OUT holds a published report, of any job and period,
// whose (job, period, run id) the ledger does not record. It reads the
// first few hundred bytes of each OUT/<job>/<period>/report.json.
func checkPublished(outDir string, entries []ledger.Entry, ledgerFile string) error {
	pub, err := reports.PublishedReports(outDir)
	if err != nil {
		return &OutputError{fmt.Errorf("check the published reports against the ledger: %w", err)}
	}
	rec := indexRuns(entries)
	var first *UnrecordedReportError
	for _, p := range pub {
		if p.Err == nil && rec.has(p.Head.Job, p.Head.Period, p.Head.RunID) {
			continue
		}
		if first != nil {
			first.Others++
			continue
		}
		first = &UnrecordedReportError{Dir: p.Dir, Job: p.Head.Job, Period: p.Head.Period, RunID: p.Head.RunID,
			Ledger: ledgerFile, Err: p.Err}
	}
	if first != nil {
		return &OutputError{first}
	}
	return nil
}

// latestEntry is the ledger's latest entry for (job, period), by file order.
func latestEntry(entries []ledger.Entry, job, period string) (ledger.Entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Job == job && entries[i].Period == period {
			return entries[i], true
		}
	}
	return ledger.Entry{}, false
}

// publishedRun returns the run id of the report published at dir, "" if
// there is none (or it cannot be read), and whether dir exists at all.
func publishedRun(dir string) (runID string, exists bool) {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	h, err := reports.ReadHead(filepath.Join(dir, "report.json"))
	if err != nil {
		return "", true
	}
	return h.RunID, true
}

// publishRecorded is the path of a run whose period the ledger already
// records (and that is not a deliberate re-run): nothing is read, drawn or
// charged. It publishes the recorded run's staged report if that report is
// not published yet, and fails with a *MissingReportError if neither a
// published nor a staged report of the period exists.
func publishRecorded(cfg Config, res *Result, prev ledger.Entry, log *slog.Logger) error {
	spec := cfg.Spec
	res.Status = StatusAlreadyReleased
	published, exists := publishedRun(res.Dir)
	if exists && published != "" && published == prev.RunID {
		log.Info("already released: nothing to do", "released_at", prev.Time.Format(time.RFC3339), "previous_run_id", prev.RunID)
		return nil
	}
	staged := ""
	if validRunID(prev.RunID) {
		staged = reports.StagedDir(cfg.OutDir, spec.Name, prev.RunID)
		if h, err := reports.ReadHead(filepath.Join(staged, "report.json")); err == nil &&
			h.Job == spec.Name && h.Period == cfg.Period && h.RunID == prev.RunID {
			dir, err := reports.PublishStaged(cfg.OutDir, spec.Name, cfg.Period, prev.RunID, reports.PublishOptions{Replace: exists})
			if err != nil && dir == "" {
				return &OutputError{fmt.Errorf("publish the staged report of run %s (its spend is recorded): %w", prev.RunID, err)}
			}
			if err != nil {
				log.Warn("report published, latest.json not updated", "err", err.Error())
			}
			res.Status, res.Dir, res.RunID = StatusPublishedStaged, dir, prev.RunID
			log.Info("published the staged report of a recorded release: no new noise, nothing charged",
				"dir", dir, "staged_run_id", prev.RunID, "recorded_at", prev.Time.Format(time.RFC3339))
			return nil
		}
	}
	if exists && published != "" {
		// The period has the published report of an earlier recorded run
		// (checkPublished saw to that); the latest recorded run of it (a
		// deliberate re-run, or a record torn by a crash) published none.
		log.Warn("already released, but the latest recorded run of this period published no report of its own; "+
			"the period keeps the report of an earlier run", "published_run_id", published, "previous_run_id", prev.RunID)
		return nil
	}
	if staged == "" {
		staged = filepath.Join(cfg.OutDir, spec.Name, reports.StagedPrefix+"<run id>")
	}
	return &MissingReportError{Job: spec.Name, Period: cfg.Period, RunID: prev.RunID, Recorded: prev.Time,
		Epsilon: prev.Epsilon, Delta: prev.Delta, Staged: staged, Rho: prev.Rho, Engine: submittedBy(prev)}
}

// cleanStaged removes the staged reports of job that must never be
// published: those whose run the ledger does not record as the latest
// release of their period (the run died before or while recording its
// spend, or a later run superseded it), those already published, and those
// that cannot be read. The caller holds the ledger's lock.
func cleanStaged(outDir, job string, entries []ledger.Entry, log *slog.Logger) error {
	staged, err := reports.StagedReports(outDir, job)
	if err != nil {
		return &OutputError{err}
	}
	for _, s := range staged {
		keep := s.Err == nil && s.Head.RunID == s.RunID && s.Head.Job == job
		if keep {
			prev, ok := latestEntry(entries, job, s.Head.Period)
			published, _ := publishedRun(filepath.Join(outDir, job, s.Head.Period))
			keep = ok && prev.RunID == s.RunID && !prev.Withheld && published != s.RunID
		}
		if keep {
			continue
		}
		if err := os.RemoveAll(s.Dir); err != nil {
			return &OutputError{fmt.Errorf("remove a staged report the ledger does not record: %w", err)}
		}
		log.Info("removed a staged report that is not to be published (its spend is not recorded, or it is superseded)",
			"staged", s.Dir)
	}
	return nil
}

// OrphanedReportsError means a ledger was about to be created while the
// output directory holds published reports: a new, empty ledger would not
// record them. It is an output error (exit 73).
type OrphanedReportsError struct {
	Ledger string // the ledger that does not exist
	Dir    string // one published report
	Count  int    // how many there are
}

func (e *OrphanedReportsError) Error() string {
	return fmt.Sprintf("the ledger %s does not exist, but %d published report(s) do, e.g. %s: a new, empty ledger would "+
		"not record their spend; refusing to create it (restore the ledger these reports were released with: see "+
		"docs/operations.md, \"Backup and restore\")", e.Ledger, e.Count, e.Dir)
}

// InitLedger creates the ledger at path if it does not exist, as
// ledger.Init does, and reports whether it did. If outDir is set and the
// ledger does not exist yet, it first refuses, with an
// *OrphanedReportsError inside an *OutputError, when outDir holds a
// published report: then the ledger was lost, not never made. So an init
// step that runs before every scheduled run (a CronJob's initContainer, the
// cron wrapper) creates the ledger the first time only, and stops the
// schedule with exit 73 when the ledger is lost but the reports survive.
func InitLedger(path, outDir string) (created bool, err error) {
	if outDir != "" {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			pub, err := reports.PublishedReports(outDir)
			if err != nil {
				return false, &OutputError{fmt.Errorf("check %s for published reports: %w", outDir, err)}
			}
			if len(pub) > 0 {
				return false, &OutputError{&OrphanedReportsError{Ledger: path, Dir: pub[0].Dir, Count: len(pub)}}
			}
		}
	}
	_, created, err = ledger.Init(path)
	return created, err
}
