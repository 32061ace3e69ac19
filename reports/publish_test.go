package reports

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func readLatest(t *testing.T, jobDir string) Latest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(jobDir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var l Latest
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestPublishWritesWholeReport(t *testing.T) {
	out := t.TempDir()
	r := fixture()
	dir, err := Publish(out, r)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dir, filepath.Join(out, "media-usage", "2026-01-05"); got != want {
		t.Errorf("dir = %s, want %s", got, want)
	}
	want := []string{"index.html", "report.json", SchemaFile, TidyCSVName}
	for _, m := range r.Metrics {
		want = append(want, m.Name+".csv")
	}
	sort.Strings(want)
	if got := listDir(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", got, want)
	}
	// The published files are exactly what the writers produce.
	for name, golden := range map[string]string{"report.json": "report.json", "index.html": "index.html", "codec_share.csv": "codec_share.csv", TidyCSVName: "report.csv"} {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		wantB, _ := os.ReadFile(filepath.Join("testdata", golden))
		if string(got) != string(wantB) {
			t.Errorf("published %s differs from testdata/%s", name, golden)
		}
	}
	// The schema beside report.json is the embedded one, and report.json
	// names it by a reference relative to itself.
	if got, _ := os.ReadFile(filepath.Join(dir, SchemaFile)); string(got) != string(Schema()) {
		t.Errorf("published %s is not the embedded schema", SchemaFile)
	}
	var head struct {
		Schema string `json:"$schema"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &head); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(head.Schema))); err != nil || filepath.IsAbs(head.Schema) {
		t.Errorf("report.json's $schema %q does not resolve beside it: %v", head.Schema, err)
	}
	if got, want := strings.Join(listDir(t, filepath.Join(out, "media-usage")), " "), "2026-01-05 latest.json"; got != want {
		t.Errorf("job dir holds %q, want %q (no temp files left)", got, want)
	}
	l := readLatest(t, filepath.Join(out, "media-usage"))
	if l.Period != "2026-01-05" || l.Path != "2026-01-05" || l.RunID != r.RunID || l.IndexHTML != "2026-01-05/index.html" {
		t.Errorf("latest.json = %+v", l)
	}
}

func TestPublishRefusesExistingPeriod(t *testing.T) {
	out := t.TempDir()
	if _, err := Publish(out, fixture()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "media-usage", "2026-01-05", "report.json"))
	again := fixture()
	again.RunID = "second-run"
	again.Metrics[0].Partitions[0].Value++
	_, err := Publish(out, again)
	if !errors.Is(err, ErrPeriodPublished) {
		t.Fatalf("second Publish: err = %v, want ErrPeriodPublished", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "media-usage", "2026-01-05", "report.json"))
	if string(before) != string(after) {
		t.Error("refused Publish changed the published report")
	}
	if got := readLatest(t, filepath.Join(out, "media-usage")).RunID; got != fixture().RunID {
		t.Errorf("latest.json run id = %s after a refused publish", got)
	}
	if got, want := len(listDir(t, filepath.Join(out, "media-usage"))), 2; got != want {
		t.Errorf("job dir has %d entries, want %d (no temp dir left)", got, want)
	}

	// A deliberate re-run may replace it.
	dir, err := PublishWithOptions(out, again, PublishOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if !strings.Contains(string(b), `"run_id": "second-run"`) {
		t.Error("replaced report does not hold the new run")
	}
	if got := readLatest(t, filepath.Join(out, "media-usage")).RunID; got != "second-run" {
		t.Errorf("latest.json run id = %s, want second-run", got)
	}
	if got, want := len(listDir(t, filepath.Join(out, "media-usage"))), 2; got != want {
		t.Errorf("job dir has %d entries after replace, want %d", got, want)
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		return w.after, errors.New("disk full (injected)")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestPublishFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		opts PublishOptions
	}{
		{"first file", PublishOptions{wrapWriter: func(name string, w io.Writer) io.Writer {
			if name == "report.json" {
				return &failingWriter{after: 100}
			}
			return w
		}}},
		{"a CSV", PublishOptions{wrapWriter: func(name string, w io.Writer) io.Writer {
			if name == "bitrate_dist.csv" {
				return &failingWriter{}
			}
			return w
		}}},
		{"last file", PublishOptions{wrapWriter: func(name string, w io.Writer) io.Writer {
			if name == "index.html" {
				return &failingWriter{after: 4096}
			}
			return w
		}}},
		{"before rename", PublishOptions{beforeRename: func() error { return errors.New("crash (injected)") }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			dir, err := PublishWithOptions(out, fixture(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if dir != "" {
				t.Errorf("dir = %q on failure, want \"\"", dir)
			}
			if got := listDir(t, filepath.Join(out, "media-usage")); len(got) != 0 {
				t.Errorf("job dir holds %v after a failure, want nothing (no period, no temp dir, no latest.json)", got)
			}
		})
	}

	// A failed replace keeps the old report.
	t.Run("failed replace keeps old", func(t *testing.T) {
		out := t.TempDir()
		if _, err := Publish(out, fixture()); err != nil {
			t.Fatal(err)
		}
		again := fixture()
		again.RunID = "second-run"
		_, err := PublishWithOptions(out, again, PublishOptions{Replace: true, beforeRename: func() error { return errors.New("crash (injected)") }})
		if err == nil {
			t.Fatal("want an error")
		}
		b, _ := os.ReadFile(filepath.Join(out, "media-usage", "2026-01-05", "report.json"))
		if !strings.Contains(string(b), fixture().RunID) {
			t.Error("old report is gone or changed")
		}
		if got := len(listDir(t, filepath.Join(out, "media-usage"))); got != 2 {
			t.Errorf("job dir has %d entries, want 2", got)
		}
	})
}

func TestPublishLatestOnlyMovesForward(t *testing.T) {
	out := t.TempDir()
	day := func(d int) *Report {
		r := fixture()
		r.PeriodStart = time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC)
		r.PeriodEnd = r.PeriodStart.AddDate(0, 0, 1)
		r.Period = r.PeriodStart.Format("2006-01-02")
		return r
	}
	jobDir := filepath.Join(out, "media-usage")
	for _, step := range []struct {
		day        int
		wantLatest string
	}{
		{5, "2026-01-05"},
		{7, "2026-01-07"},
		{6, "2026-01-07"}, // a late backfill does not move latest back
		{8, "2026-01-08"},
	} {
		if _, err := Publish(out, day(step.day)); err != nil {
			t.Fatal(err)
		}
		if got := readLatest(t, jobDir).Period; got != step.wantLatest {
			t.Errorf("after publishing day %d: latest = %s, want %s", step.day, got, step.wantLatest)
		}
	}
	for _, name := range listDir(t, jobDir) {
		if strings.HasPrefix(name, ".tmp") {
			t.Errorf("temp file %s left behind", name)
		}
	}
}

func TestPublishRejectsUnsafeNames(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
	}{
		{"job traversal", func(r *Report) { r.Job = "../../etc" }},
		{"period with slash", func(r *Report) { r.Period = "2026/01" }},
		{"metric traversal", func(r *Report) { r.Metrics[2].Name = "../x" }},
		{"absolute job", func(r *Report) { r.Job = "/tmp" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			r := fixture()
			tt.mutate(r)
			if _, err := Publish(out, r); !errors.Is(err, ErrInvalidReport) {
				t.Errorf("err = %v, want ErrInvalidReport", err)
			}
			if got := listDir(t, out); len(got) != 0 {
				t.Errorf("out holds %v, want nothing", got)
			}
		})
	}
}
