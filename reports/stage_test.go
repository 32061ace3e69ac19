package reports

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readTree returns name → content of the regular files in dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, name := range listDir(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = string(b)
	}
	return files
}

// checkMtimes fails unless every path has modification time want.
func checkMtimes(t *testing.T, want time.Time, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if !fi.ModTime().Equal(want) {
			t.Errorf("%s has modification time %v, want the period's end %v", p, fi.ModTime().UTC(), want)
		}
	}
}

// TestStageThenPublish: a staged report is whole, invisible, listed by
// StagedReports with its head, and PublishStaged publishes it byte for byte,
// every file, the directory and latest.json stamped with the period's end.
func TestStageThenPublish(t *testing.T) {
	out := t.TempDir()
	r := fixture()
	jobDir := filepath.Join(out, r.Job)
	staged, err := Stage(out, r)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(jobDir, ".staged-"+r.RunID); staged != want {
		t.Errorf("staged at %s, want %s", staged, want)
	}
	if got := listDir(t, jobDir); len(got) != 1 || got[0] != ".staged-"+r.RunID {
		t.Errorf("job dir after staging holds %v, want only the staged directory", got)
	}
	if pub, err := PublishedReports(out); err != nil || len(pub) != 0 {
		t.Errorf("PublishedReports after staging = %v, %v; a staged report is not published", pub, err)
	}
	st, err := StagedReports(out, r.Job)
	if err != nil || len(st) != 1 || st[0].Err != nil || st[0].RunID != r.RunID || st[0].Head.Period != r.Period {
		t.Fatalf("StagedReports = %+v, %v", st, err)
	}
	stagedFiles := readTree(t, staged)
	golden, _ := os.ReadFile(filepath.Join("testdata", "report.json"))
	if stagedFiles["report.json"] != string(golden) {
		t.Error("staged report.json differs from testdata/report.json")
	}
	var paths []string
	for name := range stagedFiles {
		paths = append(paths, filepath.Join(staged, name))
	}
	checkMtimes(t, r.PeriodEnd, append(paths, staged)...)

	dir, err := PublishStaged(out, r.Job, r.Period, r.RunID, PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, dir); len(got) != len(stagedFiles) {
		t.Errorf("published %d files, staged %d", len(got), len(stagedFiles))
	} else {
		for name, content := range stagedFiles {
			if got[name] != content {
				t.Errorf("published %s differs from the staged one", name)
			}
		}
	}
	if _, err := os.Lstat(staged); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the staged directory is still there after publishing (err %v)", err)
	}
	paths = paths[:0]
	for name := range stagedFiles {
		paths = append(paths, filepath.Join(dir, name))
	}
	checkMtimes(t, r.PeriodEnd, append(paths, dir, jobDir, filepath.Join(jobDir, "latest.json"))...)
	if l := readLatest(t, jobDir); l.RunID != r.RunID || l.Period != r.Period || !l.GeneratedAt.Equal(r.GeneratedAt) {
		t.Errorf("latest.json = %+v", l)
	}
	pub, err := PublishedReports(out)
	if err != nil || len(pub) != 1 || pub[0].Dir != dir || pub[0].Head.RunID != r.RunID || pub[0].Err != nil {
		t.Errorf("PublishedReports = %+v, %v", pub, err)
	}
}

func TestPublishStagedRefusals(t *testing.T) {
	out := t.TempDir()
	r := fixture()
	if _, err := Stage(out, r); err != nil {
		t.Fatal(err)
	}
	if _, err := Stage(out, r); err == nil {
		t.Error("staging the same run twice succeeded")
	}
	for _, tc := range []struct{ name, period, runID string }{
		{"another period", "2026-01-06", r.RunID},
		{"a run that staged nothing", r.Period, "no-such-run"},
		{"an unsafe run id", r.Period, "../x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if dir, err := PublishStaged(out, r.Job, tc.period, tc.runID, PublishOptions{}); err == nil || dir != "" {
				t.Errorf("PublishStaged = %q, %v; want an error", dir, err)
			}
		})
	}
	// The staged report survived the refusals, and the period is frozen.
	if _, err := PublishStaged(out, r.Job, r.Period, r.RunID, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	again := fixture()
	again.RunID = "second-run"
	if _, err := Stage(out, again); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishStaged(out, r.Job, r.Period, "second-run", PublishOptions{}); !errors.Is(err, ErrPeriodPublished) {
		t.Errorf("publishing over a published period = %v, want ErrPeriodPublished", err)
	}
	dir, err := PublishStaged(out, r.Job, r.Period, "second-run", PublishOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := ReadHead(filepath.Join(dir, "report.json")); err != nil || h.RunID != "second-run" {
		t.Errorf("after a replace the published report is %+v, %v; want second-run's", h, err)
	}
	if got := listDir(t, filepath.Join(out, r.Job)); strings.Join(got, " ") != "2026-01-05 latest.json" {
		t.Errorf("job dir after the replace holds %v: the old report must be gone", got)
	}
}

// TestRemoveStaleKeepsStaged: RemoveStale clears what a killed publish left
// (.tmp-*), never a staged report, which the ledger may record.
func TestRemoveStaleKeepsStaged(t *testing.T) {
	out := t.TempDir()
	r := fixture()
	staged, err := Stage(out, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".tmp-stage-123", ".tmp-2026-01-05-456"} {
		if err := os.Mkdir(filepath.Join(out, r.Job, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(out, r.Job); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, filepath.Join(out, r.Job)); len(got) != 1 || got[0] != filepath.Base(staged) {
		t.Errorf("after RemoveStale the job dir holds %v, want only %s", got, filepath.Base(staged))
	}
}

// TestStageFailureLeavesNothing: a write that fails while staging (a full
// disk) leaves no staged report and no temp directory.
func TestStageFailureLeavesNothing(t *testing.T) {
	out := t.TempDir()
	_, err := stage(out, fixture(), PublishOptions{wrapWriter: func(name string, w io.Writer) io.Writer {
		if name == "index.html" {
			return &failingWriter{after: 1000}
		}
		return w
	}})
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("stage = %v, want the injected failure", err)
	}
	if got := listDir(t, filepath.Join(out, "media-usage")); len(got) != 0 {
		t.Errorf("a failed staging left %v", got)
	}
}

func TestReadHead(t *testing.T) {
	dir := t.TempDir()
	golden, err := os.ReadFile(filepath.Join("testdata", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := fixture()
	// The head comes first: ReadHead stops there, so what follows may be
	// anything (here, a report cut short).
	cut := filepath.Join(dir, "cut.json")
	if err := os.WriteFile(cut, golden[:strings.Index(string(golden), `"epsilon"`)], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join("testdata", "report.json"), cut} {
		h, err := ReadHead(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Job != r.Job || h.Period != r.Period || h.RunID != r.RunID || !h.PeriodEnd.Equal(r.PeriodEnd) ||
			!h.PeriodStart.Equal(r.PeriodStart) || !h.GeneratedAt.Equal(r.GeneratedAt) {
			t.Errorf("%s: head %+v", path, h)
		}
	}
	for name, content := range map[string]string{
		"no run id":   `{"job":"j","period":"p"}`,
		"not json":    `this is not JSON`,
		"an array":    `[1, 2]`,
		"wrong types": `{"job":1,"period":"p","run_id":"r"}`,
		"empty":       ``,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if h, err := ReadHead(path); err == nil {
			t.Errorf("%s: ReadHead = %+v, want an error", name, h)
		}
	}
}

// TestPublishedReports lists OUT/<job>/<period>/report.json of every job,
// skipping hidden names, plain files and directories without a report.
func TestPublishedReports(t *testing.T) {
	out := t.TempDir()
	a := fixture()
	b := fixture()
	b.Job, b.Period, b.RunID = "other-job", "2026-W02", "run-b"
	for _, r := range []*Report{a, b} {
		if _, err := Publish(out, r); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(rel, content string) {
		p := filepath.Join(out, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk(".hidden-job/2026-01-01/report.json", `{"job":"x","period":"y","run_id":"z"}`)
	mk("media-usage/.staged-r9/report.json", `{"job":"x","period":"y","run_id":"z"}`)
	mk("media-usage/no-report/index.html", `<html></html>`)
	mk("ledger.jsonl", ``)
	mk("media-usage/2026-01-09/report.json", `garbage`)
	got, err := PublishedReports(out)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, p := range got {
		rel, _ := filepath.Rel(out, p.Dir)
		if p.Err != nil {
			found[rel] = "error"
		} else {
			found[rel] = p.Head.RunID
		}
	}
	want := map[string]string{
		"media-usage/2026-01-05": a.RunID,
		"other-job/2026-W02":     "run-b",
		"media-usage/2026-01-09": "error",
	}
	if len(found) != len(want) {
		t.Errorf("PublishedReports found %v, want %v", found, want)
	}
	for k, v := range want {
		if found[k] != v {
			t.Errorf("PublishedReports: %s = %q, want %q (all: %v)", k, found[k], v, found)
		}
	}
	if got, err := PublishedReports(filepath.Join(out, "missing")); err != nil || len(got) != 0 {
		t.Errorf("PublishedReports of a missing OUT = %v, %v", got, err)
	}
}

// BenchmarkPublishedReports: the check of OUT against the ledger, which
// every run makes before reading anything, over a year of daily reports.
func BenchmarkPublishedReports(b *testing.B) {
	out := b.TempDir()
	golden, err := os.ReadFile(filepath.Join("testdata", "report.json"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 365 {
		dir := filepath.Join(out, "media-usage", time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "report.json"), golden, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if pub, err := PublishedReports(out); err != nil || len(pub) != 365 {
			b.Fatalf("%d reports, %v", len(pub), err)
		}
	}
}
