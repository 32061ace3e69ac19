package cli

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets/sample"
	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// In-process tests of --engine and the --beam-* flags, with a test-only
// engine registered as "beam" in this test binary (the plain binary, as
// TestUserErrorsNeverExit70 runs it, has none). It charges before it
// computes, like the Privacy on Beam engine, and its pipeline fails.

var (
	testBeamOnce    sync.Once
	testBeamMu      sync.Mutex
	testBeamOptions map[string]string // what the last factory call got
	testBeamCalls   int               // Aggregate calls
)

type testBeam struct{}

func (testBeam) Name() string               { return "beam" }
func (testBeam) ChargesBeforeCompute() bool { return true }
func (testBeam) Aggregate(context.Context, jobs.EngineInput) ([]*dp.Released, error) {
	testBeamMu.Lock()
	testBeamCalls++
	testBeamMu.Unlock()
	return nil, errors.New("the pipeline failed: job server unreachable (test engine)")
}

func registerTestBeam() {
	testBeamOnce.Do(func() {
		jobs.RegisterEngine("beam", func(o map[string]string) (jobs.Engine, error) {
			testBeamMu.Lock()
			defer testBeamMu.Unlock()
			testBeamOptions = maps.Clone(o)
			if o["runner"] == "nonsense" {
				return nil, errors.New("unknown runner nonsense")
			}
			return testBeam{}, nil
		})
	})
}

// sampleRun is `dpstats run` of playback-daily over the sample exports in
// the repository, into dir, then extra.
func sampleRun(dir string, extra ...string) []string {
	return append([]string{"run", "--job", "playback-daily",
		"--input", filepath.Join("..", "..", "datasets", "sample", "events.parquet"),
		"--consent", filepath.Join("..", "..", "datasets", "sample", "consent.parquet"),
		"--period", sample.Start.Format(time.DateOnly), "--out", filepath.Join(dir, "out"),
		"--ledger", filepath.Join(dir, "ledger.jsonl"), "--log-format", "json"}, extra...)
}

func TestEngineFlags(t *testing.T) {
	registerTestBeam()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    map[string]string // the options the engine got
		code    int
		mention string
	}{
		{"every Beam flag, by its Beam option name", []string{"--engine", "beam", "--beam-runner", "dataflow", "--beam-endpoint", "localhost:8099",
			"--beam-environment-type", "DOCKER", "--beam-environment-config", "apache/beam_go_sdk:2.54.0", "--beam-project", "p",
			"--beam-region", "europe-west1", "--beam-temp-location", "gs://b/tmp", "--beam-staging-location", "gs://b/staging",
			"--beam-option", "max_num_workers=8", "--beam-option", "experiments=a,b=c"},
			nil, map[string]string{"runner": "dataflow", "endpoint": "localhost:8099", "environment_type": "DOCKER",
				"environment_config": "apache/beam_go_sdk:2.54.0", "project": "p", "region": "europe-west1",
				"temp_location": "gs://b/tmp", "staging_location": "gs://b/staging", "max_num_workers": "8", "experiments": "a,b=c"}, 0, ""},
		{"from the environment", nil, map[string]string{"DPSTATS_ENGINE": "beam", "DPSTATS_BEAM_RUNNER": "universal",
			"DPSTATS_BEAM_ENDPOINT": "flink:8099", "DPSTATS_BEAM_OPTIONS": "parallelism=4 sdk_worker_parallelism=2"},
			map[string]string{"runner": "universal", "endpoint": "flink:8099", "parallelism": "4", "sdk_worker_parallelism": "2"}, 0, ""},
		{"no options", []string{"--engine", "beam"}, nil, map[string]string{}, 0, ""},
		{"Beam flag with the local engine", []string{"--beam-runner", "direct"}, nil, nil, exitUsage, "--engine beam"},
		{"Beam env with the local engine", nil, map[string]string{"DPSTATS_BEAM_PROJECT": "p"}, nil, exitUsage, "--beam-project"},
		{"--beam-option with --engine local", []string{"--engine", "local", "--beam-option", "a=b"}, nil, nil, exitUsage, "--beam-option"},
		{"--beam-option without =", []string{"--engine", "beam", "--beam-option", "max_num_workers"}, nil, nil, exitUsage, "key=value"},
		{"--beam-option with a bad key", []string{"--engine", "beam", "--beam-option", "--runner=direct"}, nil, nil, exitUsage, "key=value"},
		{"--beam-option for a flag of its own", []string{"--engine", "beam", "--beam-option", "temp_location=gs://x"}, nil, nil, exitUsage, "--beam-temp-location"},
		{"--beam-option twice", []string{"--engine", "beam", "--beam-option", "a=1", "--beam-option", "a=2"}, nil, nil, exitUsage, "twice"},
		{"an engine not built in", []string{"--engine", "spark"}, nil, nil, exitUsage, "make beam"},
		{"the engine refuses its options", []string{"--engine", "beam", "--beam-runner", "nonsense"}, nil, nil, exitUsage, "unknown runner nonsense"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			if _, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl")); err != nil {
				t.Fatal(err)
			}
			testBeamMu.Lock()
			testBeamOptions, testBeamCalls = nil, 0
			testBeamMu.Unlock()
			code, _, stderr := runCLI(t, sampleRun(dir, tt.args...)...)
			testBeamMu.Lock()
			got, calls := testBeamOptions, testBeamCalls
			testBeamMu.Unlock()
			if tt.want == nil {
				if code != tt.code || !strings.Contains(stderr, tt.mention) {
					t.Errorf("exit %d, want %d, mentioning %q:\n%s", code, tt.code, tt.mention, stderr)
				}
				if calls != 0 {
					t.Errorf("the engine ran %d times on a usage error", calls)
				}
				return
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("the engine got options %v, want %v", got, tt.want)
			}
			// The test engine's pipeline fails after the charge.
			if calls != 1 || code == exitOK || !strings.Contains(stderr, "stays charged") {
				t.Errorf("engine ran %d times, exit %d; want its failure, charged:\n%s", calls, code, stderr)
			}
		})
	}
}

// TestEngineFailureThenRetry74: through the command line, a run whose
// engine charges at submit and fails leaves the period charged and nothing
// published; the retry exits 74 saying when it was charged and that
// --rerun releases it; the ledger names the engine.
func TestEngineFailureThenRetry74(t *testing.T) {
	registerTestBeam()
	dir := t.TempDir()
	l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, sampleRun(dir, "--engine", "beam", "--beam-runner", "direct")...)
	if code == exitOK || code == exitReportMissing || !strings.Contains(stderr, "job server unreachable") ||
		!strings.Contains(stderr, "stays charged") || !strings.Contains(stderr, "--rerun") {
		t.Fatalf("failing engine: exit %d:\n%s", code, stderr)
	}
	es, err := l.Entries()
	if err != nil || len(es) != 1 || !es[0].Submitted || es[0].Engine != "beam" || es[0].Epsilon <= 0 {
		t.Fatalf("ledger = %+v, %v; want the spend recorded at submit by engine beam", es, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "playback-daily", sample.Start.Format(time.DateOnly))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed run published something (err %v)", err)
	}
	code, _, stderr = runCLI(t, sampleRun(dir, "--engine", "beam", "--beam-runner", "direct")...)
	if code != exitReportMissing {
		t.Fatalf("retry: exit %d, want 74:\n%s", code, stderr)
	}
	for _, want := range []string{"when run " + es[0].RunID + " submitted its beam pipeline", "stays charged", "--rerun", "charged again"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("retry message lacks %q:\n%s", want, stderr)
		}
	}
	if es2, _ := l.Entries(); len(es2) != 1 {
		t.Errorf("the retry changed the ledger: %d entries", len(es2))
	}
}

func TestVersionListsEngines(t *testing.T) {
	code, out, _ := runCLI(t, "--version")
	if code != exitOK || !strings.Contains(out, "engines: "+strings.Join(jobs.Engines(), ", ")) || !strings.Contains(out, "local") {
		t.Errorf("--version = %d, %q; want the engines %v", code, out, jobs.Engines())
	}
}
