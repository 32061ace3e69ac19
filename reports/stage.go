package reports

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Staging. The release protocol writes the whole report before it records
// the spend, so that a report whose spend is recorded can always be
// published later, as it is, without drawing new noise:
//
//  1. Stage writes every file into a temporary directory OUT/<job>/.tmp-stage-*,
//     fsyncs each file and the directory, and renames it to
//     OUT/<job>/.staged-<run_id> (then fsyncs OUT/<job>): a staged report is
//     whole or absent;
//  2. the caller records the spend, naming the run id;
//  3. PublishStaged renames the staged directory to OUT/<job>/<period> (or
//     swaps it with the published one, for a deliberate re-run) and updates
//     latest.json.
//
// Names starting with "." are never reports: readers and PublishedReports
// skip them. RemoveStale removes ".tmp-*" leftovers only; a staged report is
// removed only by its owner (the release protocol), which knows from the
// ledger whether its spend was recorded.
//
// Every file of a report, its directory and latest.json carry one constant
// modification time, the end of the period, so that file times do not tell
// how long a run took (which grows with the data it read).

// StagedPrefix starts the name of a staged report's directory:
// OUT/<job>/.staged-<run_id>.
const StagedPrefix = ".staged-"

// StagedDir returns the directory Stage writes r's report to.
func StagedDir(outDir, job, runID string) string {
	return filepath.Join(outDir, job, StagedPrefix+runID)
}

// Stage writes r, complete, to StagedDir(outDir, r.Job, r.RunID), durably,
// without making it visible; see the package's staging notes. An existing
// staged report of the same run id is an error. A failure leaves nothing
// behind.
func Stage(outDir string, r *Report) (dir string, err error) {
	return stage(outDir, r, PublishOptions{})
}

func stage(outDir string, r *Report, opts PublishOptions) (dir string, err error) {
	if err := r.Validate(); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	for i := range r.Metrics { // Validate checked the names; be explicit about paths
		if err := checkName("metric", r.Metrics[i].Name); err != nil {
			return "", fmt.Errorf("stage report: %w", err)
		}
	}
	if err := checkName("run id", r.RunID); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	jobDir := filepath.Join(outDir, r.Job)
	staged := StagedDir(outDir, r.Job, r.RunID)
	if err := os.MkdirAll(jobDir, 0o755); err != nil {
		return "", fmt.Errorf("stage report: create job directory: %w", err)
	}
	if _, err := os.Lstat(staged); err == nil {
		return "", fmt.Errorf("stage report: %s already exists", staged)
	}
	tmp, err := os.MkdirTemp(jobDir, ".tmp-stage-")
	if err != nil {
		return "", fmt.Errorf("stage report: create temp directory: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	mtime := r.PeriodEnd.UTC()
	if err := writeReportFiles(tmp, r, opts, mtime); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	if err := os.Rename(tmp, staged); err != nil {
		return "", fmt.Errorf("stage report: %w", err)
	}
	done = true
	if err := syncDir(jobDir); err != nil {
		os.RemoveAll(staged) // not durably staged: as if it never was
		return "", fmt.Errorf("stage report: %w", err)
	}
	return staged, nil
}

// PublishStaged makes the staged report of runID visible as
// OUT/<job>/<period>, exactly as it was staged, then updates latest.json.
// Without opts.Replace an existing period is refused (ErrPeriodPublished);
// with it, the published report is swapped for the staged one in one atomic
// step. As with PublishWithOptions, if only the latest.json update fails,
// the report's directory is returned with the error.
func PublishStaged(outDir, job, period, runID string, opts PublishOptions) (dir string, err error) {
	for _, n := range [][2]string{{"job", job}, {"period", period}, {"run id", runID}} {
		if err := checkName(n[0], n[1]); err != nil {
			return "", fmt.Errorf("publish report: %w", err)
		}
	}
	jobDir := filepath.Join(outDir, job)
	staged := StagedDir(outDir, job, runID)
	final := filepath.Join(jobDir, period)
	head, err := ReadHead(filepath.Join(staged, "report.json"))
	if err != nil {
		return "", fmt.Errorf("publish report: staged report: %w", err)
	}
	if head.Job != job || head.Period != period || head.RunID != runID {
		return "", fmt.Errorf("publish report: %s holds job %q, period %q, run %q, not %s %s %s",
			staged, head.Job, head.Period, head.RunID, job, period, runID)
	}
	if _, err := os.Lstat(final); err == nil && !opts.Replace {
		return "", fmt.Errorf("publish report: %s: %w (published periods are frozen; a deliberate re-run must ask to replace it)", final, ErrPeriodPublished)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("publish report: %w", err)
	}
	if opts.beforeRename != nil {
		if err := opts.beforeRename(); err != nil {
			return "", fmt.Errorf("publish report: %w", err)
		}
	}
	if err := moveIntoPlace(staged, final, opts.Replace); err != nil {
		return "", fmt.Errorf("publish report: %w", err)
	}
	// Renaming within OUT/<job> keeps the directory's time on the file
	// systems we know of; set it again in case one does not.
	if mt := head.PeriodEnd.UTC(); !mt.IsZero() {
		_ = os.Chtimes(final, mt, mt)
	}
	if err := syncDir(jobDir); err != nil {
		return final, fmt.Errorf("publish report: report published at %s, but: %w", final, err)
	}
	if err := updateLatest(jobDir, head); err != nil {
		return final, fmt.Errorf("publish report: report published at %s, but latest.json was not updated: %w", final, err)
	}
	// OUT/<job> itself changed now: give it the period's end too, so that
	// its time does not tell when the run ended either (best effort).
	if mt := head.PeriodEnd.UTC(); !mt.IsZero() {
		_ = os.Chtimes(jobDir, mt, mt)
	}
	return final, nil
}

// Head is the identifying part of a report.json: enough to tie a report to
// its ledger record and to point latest.json at it.
type Head struct {
	Job         string    `json:"job"`
	Period      string    `json:"period"`
	RunID       string    `json:"run_id"`
	PeriodStart time.Time `json:"period_start"`
	PeriodEnd   time.Time `json:"period_end"`
	GeneratedAt time.Time `json:"generated_at"`
}

// headKeys are the keys ReadHead needs; report.json writes them first.
var headKeys = []string{"job", "period", "run_id", "period_start", "period_end", "generated_at"}

// ReadHead reads the head of the report.json at path. It stops as soon as
// it has the head's fields, which report.json writes first, so it reads a
// few hundred bytes of a report of any size. job, period and run_id are
// required.
func ReadHead(path string) (Head, error) {
	var h Head
	f, err := os.Open(path)
	if err != nil {
		return h, err
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1024))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return h, fmt.Errorf("%s: not a report (no JSON object)", path)
	}
	fields := map[string]json.RawMessage{}
	for len(fields) < len(headKeys) && dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return h, fmt.Errorf("%s: %w", path, err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return h, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		for _, k := range headKeys {
			if key == k {
				fields[k] = v
			}
		}
	}
	var obj strings.Builder
	obj.WriteByte('{')
	first := true
	for k, v := range fields {
		if !first {
			obj.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&obj, "%q:%s", k, v)
	}
	obj.WriteByte('}')
	if err := json.Unmarshal([]byte(obj.String()), &h); err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	if h.Job == "" || h.Period == "" || h.RunID == "" {
		return h, fmt.Errorf("%s: not a report: job, period or run_id is missing", path)
	}
	return h, nil
}

// Published is a published report found under OUT.
type Published struct {
	Dir  string // OUT/<job>/<period>
	Head Head   // its report.json's head; Err is set instead if unreadable
	Err  error
}

// PublishedReports lists every published report under outDir, of every job
// and period: each OUT/<job>/<period>/report.json, names starting with "."
// skipped. It reads only the heads. A missing outDir holds no reports.
func PublishedReports(outDir string) ([]Published, error) {
	jobs, err := os.ReadDir(outDir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil // no directory, no reports (writing there fails later, and says why)
	}
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	var out []Published
	for _, j := range jobs {
		if !j.IsDir() || strings.HasPrefix(j.Name(), ".") {
			continue
		}
		periods, err := os.ReadDir(filepath.Join(outDir, j.Name()))
		if err != nil {
			return nil, fmt.Errorf("list reports: %w", err)
		}
		for _, p := range periods {
			if !p.IsDir() || strings.HasPrefix(p.Name(), ".") {
				continue
			}
			dir := filepath.Join(outDir, j.Name(), p.Name())
			path := filepath.Join(dir, "report.json")
			if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
				continue // not a report directory
			}
			h, err := ReadHead(path)
			out = append(out, Published{Dir: dir, Head: h, Err: err})
		}
	}
	return out, nil
}

// Staged is a staged report found under OUT/<job>.
type Staged struct {
	Dir   string // OUT/<job>/.staged-<run_id>
	RunID string // from the directory name
	Head  Head   // its report.json's head; Err is set instead if unreadable
	Err   error
}

// StagedReports lists the staged reports of job under outDir.
func StagedReports(outDir, job string) ([]Staged, error) {
	if err := checkName("job", job); err != nil {
		return nil, fmt.Errorf("list staged reports: %w", err)
	}
	jobDir := filepath.Join(outDir, job)
	entries, err := os.ReadDir(jobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list staged reports: %w", err)
	}
	var out []Staged
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, StagedPrefix) {
			continue
		}
		s := Staged{Dir: filepath.Join(jobDir, name), RunID: strings.TrimPrefix(name, StagedPrefix)}
		s.Head, s.Err = ReadHead(filepath.Join(s.Dir, "report.json"))
		out = append(out, s)
	}
	return out, nil
}
