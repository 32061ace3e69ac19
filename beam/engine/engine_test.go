package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		bad  string // substring of the error, "" for none
	}{
		{nil, ""},
		{map[string]string{"runner": "direct"}, ""},
		{map[string]string{"runner": "direct", "no_such_beam_option": "x"}, "unknown Beam option \"no_such_beam_option\""},
		{map[string]string{"runner": "dot"}, "not supported"},
	} {
		_, err := jobs.NewEngine(Name, tc.opts)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%v: %v", tc.opts, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad) || !errors.Is(err, jobs.ErrConfig)):
			t.Errorf("%v: error %v, want an ErrConfig saying %q", tc.opts, err, tc.bad)
		}
	}
	// The runner's own options are Beam's flags, set as given.
	if _, err := jobs.NewEngine(Name, map[string]string{"runner": "direct", "endpoint": "localhost:8099", "environment_type": "LOOPBACK"}); err != nil {
		t.Fatal(err)
	}
	// Back to the defaults for the other tests.
	if _, err := jobs.NewEngine(Name, map[string]string{"runner": "direct", "endpoint": "", "environment_type": "DOCKER"}); err != nil {
		t.Fatal(err)
	}
}

// What the engine cannot express is refused with ErrConfig (exit 64)
// before anything is charged (Check), and by Aggregate too.
func TestRefusesWhatItCannotExpress(t *testing.T) {
	zcdp := strings.Replace(adversarialSpec, "privacy: {epsilon: 30000, delta: 1e-9, max_epsilon: 30000, max_delta: 1e-9}",
		"privacy: {accounting: zcdp, rho: 0.5, max_rho: 1, delta: 1e-9, max_delta: 1e-9}", 1)
	spec := parseSpec(t, zcdp)
	in := engineInput(t, spec, []string{"/nonexistent/events.parquet"}, []string{"/nonexistent/consent.parquet"})
	e := beamEngine(t).(*Engine)
	for name, err := range map[string]error{
		"Check":     e.Check(context.Background(), in),
		"Aggregate": func() error { _, err := e.Aggregate(context.Background(), in); return err }(),
	} {
		if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), "zCDP") {
			t.Errorf("%s of a zcdp spec: %v, want ErrConfig naming zCDP", name, err)
		}
	}
	// A cluster runner needs a staging location the driver shares.
	dataflow := &Engine{options: map[string]string{"runner": "dataflow"}}
	if err := dataflow.Check(context.Background(), engineInput(t, parseSpec(t, adversarialSpec), nil, nil)); !errors.Is(err, jobs.ErrConfig) ||
		!strings.Contains(err.Error(), "--beam-temp-location") {
		t.Errorf("dataflow without a temp location: %v, want ErrConfig naming --beam-temp-location", err)
	}
	pure := parseSpec(t, adversarialSpec)
	in = engineInput(t, pure, nil, nil)
	in.Events = []datasets.Input{datasets.BytesInput("sample.parquet", []byte("x"))}
	if err := e.Check(context.Background(), in); !errors.Is(err, jobs.ErrConfig) {
		t.Errorf("in-memory input: %v, want ErrConfig", err)
	}
}

// A pipeline that fails publishes nothing and leaves no staged results.
func TestFailedPipelinePublishesNothing(t *testing.T) {
	dir := t.TempDir()
	events, consent := generate(t, dir, 500, 100, 3)
	// A file that passes the driver's checks (it is a Parquet file with the
	// user column) and fails inside the pipeline: its row data is cut off.
	b, err := os.ReadFile(events)
	must(t, err)
	bad := filepath.Join(dir, "bad.parquet")
	corrupt := append([]byte(nil), b...)
	for i := 200; i < len(corrupt)-2000 && i < 4000; i++ {
		corrupt[i] ^= 0xff
	}
	must(t, os.WriteFile(bad, corrupt, 0o644))
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	spec := parseSpec(t, equivSpec)
	l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl"))
	must(t, err)
	evs, err := datasets.FileInputs([]string{events, bad})
	must(t, err)
	cos, err := datasets.FileInputs([]string{consent})
	must(t, err)
	out := filepath.Join(dir, "out")
	_, err = jobs.Run(context.Background(), jobs.Config{Spec: spec, Events: evs, Consent: cos, Period: day.Format("2006-01-02"),
		OutDir: out, Ledger: l, Now: func() time.Time { return now }, Engine: beamEngine(t)})
	if err == nil {
		t.Fatal("a run over a corrupt file succeeded")
	}
	// The engine's error is one line (the driver adds what was charged).
	if first := strings.SplitN(err.Error(), "\n", 2)[0]; !strings.Contains(first, "beam pipeline") || !strings.Contains(first, "bad.parquet") {
		t.Fatalf("the run failed before the pipeline ran, or its error's first line does not name the file: %v", err)
	}
	if !strings.Contains(err.Error(), "bad.parquet") {
		t.Errorf("error %v: want it to name the file", err)
	}
	if _, statErr := os.Stat(filepath.Join(out, spec.Name, day.Format("2006-01-02"))); !os.IsNotExist(statErr) {
		t.Errorf("a failed run published a report (stat: %v)", statErr)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, ".engine-*"))
	if len(left) > 0 {
		t.Errorf("staged results left behind: %v", left)
	}
}
