package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunEndToEnd runs the whole harness against a fake dpstats (this test
// binary) on two tiny sizes: generate, explain, floor, run, table, and the
// cache reused the second time.
func TestRunEndToEnd(t *testing.T) {
	bin := fakeBin(t)
	o, err := parseArgs([]string{"-bin", bin, "-cache", t.TempDir(), "-sizes", "1k:10,3k:10", "-count", "2", "-profile"}, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	if err := run(testContext(t), o, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"dpstats version fake",
		"of the columns the job reads (4):\n  user_id, event_time, device_type, bitrate_kbps\n",
		"each measured 2 times",
		"events/users   ", "1k/10", "3k/10",
		"events (footer)", "1,000", "3,000",
		"run/floor", "run peak RSS", "run CPU/wall",
		"throughput at 3k/10: run/floor = ",
		"peak RSS at 3k/10: run ",
		"memory follows users, not rows: run RSS at 3k/10 ",
		"profiles of 3k/10:\n  go tool pprof -top -nodecount 25 " + bin + " " + filepath.Join(o.Cache, "3000-10", "cpu-playback-daily.prof"),
		// the second default job, against a two-goroutine floor
		"job device-2metric", "bare pqarrow scan, 2 goroutines (row groups split)",
		"dpstats run --job device-2metric",
		"\nbench: all 2 jobs: ",
		// the consent load of the size with the most users (3k/10 and 1k/10
		// tie: the first), for information below 2M users
		"\nconsent: the consent export of 1k/10 (8 rows), loaded into a fresh user index as `dpstats run` does before its events, fastest of 2 (highest peak RSS): ",
		"  INFO  consent of 10 users: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	// Every child ran twice per size and job, the fake run wrote its
	// profiles, and the temporary outputs are gone.
	if got := strings.Count(stderr.String(), ": floor   "); got != 8 {
		t.Errorf("%d floor runs, want 8:\n%s", got, stderr.String())
	}
	if got := strings.Count(stderr.String(), ": run     "); got != 8 {
		t.Errorf("%d runs, want 8:\n%s", got, stderr.String())
	}
	for _, job := range []string{"playback-daily", "device-2metric"} {
		if _, err := os.Stat(filepath.Join(o.Cache, "3000-10", "cpu-"+job+".prof")); err != nil {
			t.Error(err)
		}
	}
	if strings.Contains(stderr.String(), "kept") {
		t.Errorf("a run's temporary directory was kept:\n%s", stderr.String())
	}

	// Again, measuring the stand-in: the exports come from the cache.
	o.Child, o.Count, o.Profile = "inspect", 1, false
	stdout.Reset()
	stderr.Reset()
	if err := run(testContext(t), o, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if got := strings.Count(stderr.String(), "using the cached export"); got != 2 {
		t.Errorf("cache used %d times, want 2:\n%s", got, stderr.String())
	}
	if !strings.Contains(stdout.String(), "STAND-IN") || !strings.Contains(stdout.String(), "inspect/floor") {
		t.Errorf("stand-in report:\n%s", stdout.String())
	}
}

func TestRunErrors(t *testing.T) {
	bin := fakeBin(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no binary", []string{"-bin", filepath.Join(t.TempDir(), "dpstats")}, "make build"},
		{"unknown job", []string{"-bin", bin, "-job", "nightly"}, `explain: unknown job "nightly"`},
		{"unknown second job", []string{"-bin", bin, "-job", "playback-daily,nightly@2"}, `explain: unknown job "nightly"`},
		{"explain file missing", []string{"-bin", bin, "-explain", filepath.Join(t.TempDir(), "x.json")}, "x.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(append(tc.args, "-cache", t.TempDir(), "-sizes", "1k:10"), env(), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			err = run(testContext(t), o, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRunChildFailsKeepsItsDirectory(t *testing.T) {
	bin := fakeBin(t)
	for mode, want := range map[string]string{
		"fail":     "run: budget refused",
		"noreport": "exited 0 but wrote no",
	} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv("DPSTATS_BENCH_TEST_RUN", mode)
			o, err := parseArgs([]string{"-bin", bin, "-cache", t.TempDir(), "-sizes", "1k:10"}, env(), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			err = run(testContext(t), o, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run 1k/10") {
				t.Fatalf("err = %v, want one containing %q", err, want)
			}
			_, dir, ok := strings.Cut(stderr.String(), "kept the run's output, ledger and stderr.log in ")
			if !ok {
				t.Fatalf("stderr does not say where the run's files are:\n%s", stderr.String())
			}
			dir = strings.TrimSpace(dir)
			if _, err := os.Stat(filepath.Join(dir, "stderr.log")); err != nil {
				t.Error(err)
			}
			os.RemoveAll(dir)
		})
	}
}
