package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrPeriodPublished is returned (wrapped) by Publish when the report's
// period already exists and PublishOptions.Replace is not set. Published
// periods are frozen: releasing one again with fresh noise lets an observer
// average the noise away.
var ErrPeriodPublished = errors.New("period already published")

// PublishOptions tune Publish. The zero value is the safe default.
type PublishOptions struct {
	// Replace allows replacing an already published period (a deliberate,
	// separately charged re-run). Default false: an existing period is refused.
	Replace bool

	// wrapWriter, when set, wraps the writer of each file written; tests use it
	// to inject write failures.
	wrapWriter func(name string, w io.Writer) io.Writer
	// beforeRename, when set, runs just before the temp directory is renamed
	// into place; tests use it to inject a failure there.
	beforeRename func() error
}

// Latest is the content of OUT/<job>/latest.json: a pointer to the newest
// published period of the job.
type Latest struct {
	SchemaVersion string    `json:"schema_version"`
	Job           string    `json:"job"`
	Period        string    `json:"period"`
	Path          string    `json:"path"`       // directory of the period, relative to latest.json
	IndexHTML     string    `json:"index_html"` // index.html, relative to latest.json
	RunID         string    `json:"run_id"`
	PeriodStart   time.Time `json:"period_start"`
	PeriodEnd     time.Time `json:"period_end"`
	GeneratedAt   time.Time `json:"generated_at"`
}

// Publish writes r under outDir with the default options; see
// PublishWithOptions.
func Publish(outDir string, r *Report) (dir string, err error) {
	return PublishWithOptions(outDir, r, PublishOptions{})
}

// PublishWithOptions writes the report to OUT/<job>/<period>/: report.json
// with its JSON Schema (report.schema.json), report.csv (every number in
// long format), <metric>.csv for every metric and index.html. Nothing half-written is ever
// visible: the report is staged (Stage: written into a temporary directory
// inside OUT/<job>/, every file and the directory fsynced, renamed to
// OUT/<job>/.staged-<run_id>), then renamed into place (PublishStaged); then
// OUT/<job> is fsynced. A failure removes what was staged. An existing
// period is refused with ErrPeriodPublished unless opts.Replace. Every file
// and the report's directory have the period's end as modification time.
//
// Afterwards OUT/<job>/latest.json is replaced atomically (temp file, fsync,
// rename) if this period is the newest published one (by period end, then
// start). If only that last step fails, Publish returns the report's
// directory together with the error: the report is published, the pointer
// is not.
//
// The release protocol uses Stage and PublishStaged separately, recording
// the spend in between. The caller serializes publishing of one job (the
// release protocol holds the budget ledger's lock while publishing).
func PublishWithOptions(outDir string, r *Report, opts PublishOptions) (dir string, err error) {
	if err := r.Validate(); err != nil {
		return "", fmt.Errorf("Publish: %w", err)
	}
	if err := checkName("job", r.Job); err != nil {
		return "", fmt.Errorf("Publish: %w", err)
	}
	final := filepath.Join(outDir, r.Job, r.Period)
	if _, err := os.Lstat(final); err == nil && !opts.Replace {
		return "", fmt.Errorf("Publish: %s: %w (published periods are frozen; a deliberate re-run must ask to replace it)", final, ErrPeriodPublished)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("Publish: %w", err)
	}
	staged, err := stage(outDir, r, opts)
	if err != nil {
		return "", fmt.Errorf("Publish: %w", err)
	}
	dir, err = PublishStaged(outDir, r.Job, r.Period, r.RunID, opts)
	if dir == "" {
		os.RemoveAll(staged)
	}
	if err != nil {
		return dir, fmt.Errorf("Publish: %w", err)
	}
	return dir, nil
}

// RemoveStale removes what a publish of job that was killed mid-way left
// under outDir/<job>: temporary report directories and latest.json files
// (names starting with ".tmp-"), which are never visible as reports. The
// caller must hold the lock that serializes publishing (the ledger's), so
// that no publish is under way. A missing job directory is not an error.
func RemoveStale(outDir, job string) error {
	if err := checkName("job", job); err != nil {
		return fmt.Errorf("RemoveStale: %w", err)
	}
	jobDir := filepath.Join(outDir, job)
	entries, err := os.ReadDir(jobDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("RemoveStale: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if err := os.RemoveAll(filepath.Join(jobDir, e.Name())); err != nil {
				return fmt.Errorf("RemoveStale: %w", err)
			}
		}
	}
	return nil
}

// writeReportFiles writes every file of the report into dir, each with
// modification time mtime, each fsynced.
func writeReportFiles(dir string, r *Report, opts PublishOptions, mtime time.Time) error {
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"report.json", func(w io.Writer) error { return WriteJSON(w, r) }},
		{SchemaFile, func(w io.Writer) error { _, err := w.Write(schemaJSON); return err }},
		{TidyCSVName, func(w io.Writer) error { return WriteTidyCSV(w, r) }},
	}
	for i := range r.Metrics {
		m := &r.Metrics[i]
		files = append(files, struct {
			name  string
			write func(io.Writer) error
		}{m.Name + ".csv", func(w io.Writer) error { return WriteCSV(w, m) }})
	}
	files = append(files, struct {
		name  string
		write func(io.Writer) error
	}{"index.html", func(w io.Writer) error { return WriteHTML(w, r) }})

	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.name] {
			return fmt.Errorf("two files named %s", f.name)
		}
		seen[f.name] = true
		if err := writeFileSync(filepath.Join(dir, f.name), f.write, opts.wrapWriter, mtime); err != nil {
			return err
		}
	}
	return nil
}

// writeFileSync creates path (which must not exist), writes it, sets its
// modification time and fsyncs it.
func writeFileSync(path string, write func(io.Writer) error, wrap func(string, io.Writer) io.Writer, mtime time.Time) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Base(path), err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", filepath.Base(path), cerr)
		}
	}()
	var w io.Writer = f
	if wrap != nil {
		w = wrap(filepath.Base(path), w)
	}
	if err := write(w); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return fmt.Errorf("set the time of %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// moveIntoPlace renames tmp to final. With replace, an existing final is
// swapped with tmp in one atomic step (exchangeDirs) and the old report,
// now at tmp, is removed: a reader, or a crash at any instant, sees the old
// report or the new one, never neither and never a mix. The old report is
// then renamed to a ".tmp-replaced-*" name and removed; a crash before that
// rename leaves it, whole, under the hidden staged name, where its
// report.json names another run (the release protocol removes it), and a
// crash after it leaves a ".tmp-" leftover that RemoveStale clears.
func moveIntoPlace(tmp, final string, replace bool) error {
	if replace {
		if _, err := os.Lstat(final); err == nil {
			if err := exchangeDirs(tmp, final); err != nil {
				return fmt.Errorf("replace report: %w", err)
			}
			// The old report is now at tmp: move it under a ".tmp-" name
			// first, so that a crash while removing it leaves a leftover
			// RemoveStale clears, never a partial directory under tmp's name.
			// The new report is published: failing to remove the old one
			// is not a failure of the publish (its leftover is cleared later).
			trash := filepath.Join(filepath.Dir(tmp), ".tmp-replaced-"+strings.TrimPrefix(filepath.Base(tmp), "."))
			if os.Rename(tmp, trash) == nil {
				_ = os.RemoveAll(trash)
			}
			return nil
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) || isNotEmpty(err) {
			return fmt.Errorf("%s: %w", final, ErrPeriodPublished)
		}
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// updateLatest points OUT/<job>/latest.json at r's period if it is the
// newest. Its modification time is that period's end.
func updateLatest(jobDir string, r Head) error {
	path := filepath.Join(jobDir, "latest.json")
	if b, err := os.ReadFile(path); err == nil {
		var cur Latest
		if err := json.Unmarshal(b, &cur); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		if cur.Period != r.Period && !newer(r.PeriodEnd, r.PeriodStart, cur.PeriodEnd, cur.PeriodStart) {
			return nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	l := Latest{
		SchemaVersion: SchemaVersion,
		Job:           clean(r.Job),
		Period:        clean(r.Period),
		Path:          clean(r.Period),
		IndexHTML:     clean(r.Period) + "/index.html",
		RunID:         clean(r.RunID),
		PeriodStart:   r.PeriodStart.UTC(),
		PeriodEnd:     r.PeriodEnd.UTC(),
		GeneratedAt:   r.GeneratedAt.UTC(),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(l); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(jobDir, ".tmp-latest-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if mt := r.PeriodEnd.UTC(); !mt.IsZero() {
		if err := os.Chtimes(tmp.Name(), mt, mt); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(jobDir)
}

// newer reports whether period (end, start) is later than (curEnd, curStart).
func newer(end, start, curEnd, curStart time.Time) bool {
	if !end.Equal(curEnd) {
		return end.After(curEnd)
	}
	return start.After(curStart)
}

// isNotEmpty reports whether err says a rename target is a non-empty
// directory (ENOTEMPTY on Linux, EEXIST elsewhere).
func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
