package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// historyRows reads OUT/run-test/history.csv.
func historyRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(out, "run-test", "history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// TestRunRegeneratesIndex: every publish rebuilds the job index from the
// published reports; a run that publishes nothing leaves it alone.
func TestRunRegeneratesIndex(t *testing.T) {
	h := newHarness(t)
	evs, gs := population(200)
	spec := specWith(t, 1, 10)
	res, _ := h.release(spec, evs, gs)
	index := filepath.Join(h.out, "run-test", "index.html")
	if res.Index != index {
		t.Errorf("Result.Index = %q, want %q", res.Index, index)
	}
	if _, err := os.Stat(index); err != nil {
		t.Fatal(err)
	}

	// The next day: the index now holds both, and compares them.
	var evs2 []event
	for _, e := range evs {
		e.at = e.at.Add(24 * time.Hour)
		evs2 = append(evs2, e)
	}
	cfg := h.with(spec, evs2, gs)
	cfg.Period = "2026-11-02"
	cfg.Now = func() time.Time { return afterDay.Add(24 * time.Hour) }
	res2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Status != StatusReleased || res2.Index != index {
		t.Fatalf("second day: %+v", res2)
	}
	var found bool
	for _, r := range historyRows(t, h.out) {
		if r["period"] == "2026-11-02" && r["metric"] == "device_share" && r["partition"] == "tv" {
			found = true
			if r["released"] != "true" || r["prev_period"] != "2026-11-01" || r["change_prev"] == "" || r["rolling7_days"] != "2" {
				t.Errorf("history row %v: want released, compared with 2026-11-01, rolling over 2 days", r)
			}
		}
	}
	if !found {
		t.Error("history.csv has no row for the second day")
	}

	// Already released: nothing published, the index is not rewritten.
	before, _ := os.ReadFile(index)
	st, _ := os.Stat(index)
	res3, err := Run(context.Background(), cfg)
	if err != nil || res3.Status != StatusAlreadyReleased || res3.Index != "" {
		t.Fatalf("rerun without --rerun: %+v, %v", res3, err)
	}
	after, _ := os.ReadFile(index)
	st2, _ := os.Stat(index)
	if !bytes.Equal(before, after) || !os.SameFile(st, st2) {
		t.Error("a run that published nothing rewrote the job index")
	}
}

// TestRunIndexFailureKeepsRelease: when the index cannot be rebuilt, the
// release stands (report published, spend recorded, no error), a warning is
// logged, and RegenerateIndex rebuilds it later.
func TestRunIndexFailureKeepsRelease(t *testing.T) {
	h := newHarness(t)
	evs, gs := population(100)
	jobDir := filepath.Join(h.out, "run-test")
	// A non-empty directory where index.html goes: the rename over it fails.
	if err := os.MkdirAll(filepath.Join(jobDir, "index.html", "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), h.with(specWith(t, 1, 10), evs, gs))
	if err != nil {
		t.Fatalf("the index failure failed the release: %v", err)
	}
	if res.Status != StatusReleased || res.Index != "" {
		t.Errorf("result %+v: want released, no index", res)
	}
	if _, err := os.Stat(filepath.Join(res.Dir, "report.json")); err != nil {
		t.Errorf("the report was undone: %v", err)
	}
	if es := h.entries(); len(es) != 1 {
		t.Errorf("ledger has %d entries, want the release recorded", len(es))
	}
	if !strings.Contains(h.logs.String(), `"level":"WARN"`) || !strings.Contains(h.logs.String(), "job index") {
		t.Errorf("no warning about the job index in the logs:\n%s", h.logs.String())
	}
	if err := os.RemoveAll(filepath.Join(jobDir, "index.html")); err != nil {
		t.Fatal(err)
	}
	ir, err := RegenerateIndex(h.out, "run-test")
	if err != nil {
		t.Fatal(err)
	}
	if ir.Released != 1 {
		t.Errorf("RegenerateIndex: %+v, want 1 released period", ir)
	}
	if _, err := os.Stat(filepath.Join(jobDir, "index.html")); err != nil {
		t.Error(err)
	}
	if _, err := RegenerateIndex(h.out, "no-such-job"); !errors.Is(err, ErrNoReports) {
		t.Errorf("RegenerateIndex of a job without reports: %v, want ErrNoReports", err)
	}
}
