package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// TestMeasure1M is a measurement, not a check: with
// DPSTATS_BEAM_MEASURE=local or beam it releases playback-daily over 1M
// generated rows (100k users; generated once into DPSTATS_BEAM_DATA, default
// a temporary directory) with that engine (beam: the direct runner) and logs
// rows/s and the process's peak RSS. Run each engine in its own process:
//
//	DPSTATS_BEAM_MEASURE=beam go test -run TestMeasure1M -v ./engine
func TestMeasure1M(t *testing.T) {
	mode := os.Getenv("DPSTATS_BEAM_MEASURE")
	if mode == "" {
		t.Skip("set DPSTATS_BEAM_MEASURE=local or beam")
	}
	const rows, users = 1_000_000, 100_000
	dir := os.Getenv("DPSTATS_BEAM_DATA")
	if dir == "" {
		dir = t.TempDir()
	}
	events, consent := filepath.Join(dir, "events-1m.parquet"), filepath.Join(dir, "consent-1m.parquet")
	if _, err := os.Stat(events); err != nil {
		var ev, co bytes.Buffer
		must(t, datasets.Generate(datasets.GenOptions{Rows: rows, Users: users, Seed: 1, Start: day}, &ev, &co))
		must(t, os.WriteFile(events, ev.Bytes(), 0o644))
		must(t, os.WriteFile(consent, co.Bytes(), 0o644))
	}
	raw, _ := jobs.BuiltinSpec("playback-daily")
	spec, err := jobs.ParseSpec("playback-daily.yaml", bytes.NewReader(raw))
	must(t, err)
	var e jobs.Engine
	if mode == "beam" {
		e = beamEngine(t)
	}
	out := t.TempDir()
	l, _, err := ledger.Init(filepath.Join(out, "ledger.jsonl"))
	must(t, err)
	evs, err := datasets.FileInputs([]string{events})
	must(t, err)
	cos, err := datasets.FileInputs([]string{consent})
	must(t, err)
	start := time.Now()
	res, err := jobs.Run(context.Background(), jobs.Config{Spec: spec, Events: evs, Consent: cos, Period: day.Format("2006-01-02"),
		OutDir: filepath.Join(out, "out"), Ledger: l, Now: func() time.Time { return now }, Engine: e})
	must(t, err)
	d := time.Since(start)
	t.Logf("%s engine: %s, %d rows in %v: %.0f rows/s, peak RSS %s", mode, res.Status, rows, d.Round(time.Millisecond),
		float64(rows)/d.Seconds(), peakRSS())
}

func peakRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}
