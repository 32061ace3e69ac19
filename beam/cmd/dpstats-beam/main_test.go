package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
)

// The release protocol end to end with the built binary on the direct
// runner: a release, a retry that reads nothing, a rerun charged again (on
// the direct runner, and on prism), and a budget refusal that submits
// nothing.
func TestReleaseProtocolWithBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bin/dpstats-beam")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dpstats-beam")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var ev, co bytes.Buffer
	if err := datasets.Generate(datasets.GenOptions{Rows: 20000, Users: 6000, Seed: 5}, &ev, &co); err != nil {
		t.Fatal(err)
	}
	events, consent := filepath.Join(dir, "events.parquet"), filepath.Join(dir, "consent.parquet")
	must(t, os.WriteFile(events, ev.Bytes(), 0o644))
	must(t, os.WriteFile(consent, co.Bytes(), 0o644))
	ledgerPath, out := filepath.Join(dir, "ledger.jsonl"), filepath.Join(dir, "out")
	run := func(wantCode int, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	run(0, "ledger", "init", "--ledger", ledgerPath)
	// playback-daily with a lower quality gate (the generated day has fewer
	// users than the gate's 2000 need with certainty), and a copy whose cap
	// holds two runs: after a release and a rerun, a third run is refused.
	raw, ok := jobs.BuiltinSpec("playback-daily")
	if !ok {
		t.Fatal("no built-in playback-daily")
	}
	lowGate := strings.Replace(string(raw), "min_users: 2000", "min_users: 100", 1)
	specPath, smallPath := filepath.Join(dir, "playback.yaml"), filepath.Join(dir, "small-cap.yaml")
	must(t, os.WriteFile(specPath, []byte(lowGate), 0o644))
	small := strings.Replace(strings.Replace(lowGate, "cap_epsilon: 10", "cap_epsilon: 1", 1), "max_epsilon: 1.0", "max_epsilon: 0.5", 1)
	must(t, os.WriteFile(smallPath, []byte(small), 0o644))
	release := []string{"run", "--engine", "beam", "--beam-runner", "direct", "--job", specPath,
		"--input", events, "--consent", consent, "--period", "2026-11-01", "--out", out, "--ledger", ledgerPath}
	got := run(0, release...)
	if !strings.Contains(got, "beam pipeline submitted") || !strings.Contains(got, "released playback-daily 2026-11-01") {
		t.Fatalf("first run: %s", got)
	}
	if _, err := os.Stat(filepath.Join(out, "playback-daily", "2026-11-01", "report.json")); err != nil {
		t.Fatal(err)
	}
	if got := run(0, release...); strings.Contains(got, "pipeline submitted") || !strings.Contains(got, "already released") {
		t.Fatalf("retry of a released period submitted a pipeline or did not say so: %s", got)
	}
	if got := run(0, append(release, "--rerun")...); !strings.Contains(got, "pipeline submitted") {
		t.Fatalf("rerun: %s", got)
	}
	// The same on the prism runner (Beam's portable local runner), whose
	// job server logs through the default logger: its lines must reach the
	// run's logger (minute timestamps, debug), not stderr.
	prism := append(append([]string{}, release...), "--rerun")
	prism[4] = "prism"
	if got := run(0, prism...); !strings.Contains(got, "pipeline submitted") || strings.Contains(got, "Serving JobManagement") {
		t.Fatalf("rerun on prism: %s", got)
	}
	b, err := os.ReadFile(ledgerPath)
	must(t, err)
	if n := strings.Count(string(b), `"engine":"beam"`); n != 3 {
		t.Fatalf("ledger has %d beam charges after a release and two reruns, want 3:\n%s", n, b)
	}
	ledger2, out2 := filepath.Join(dir, "ledger2.jsonl"), filepath.Join(dir, "out2")
	run(0, "ledger", "init", "--ledger", ledger2)
	second := []string{"run", "--engine", "beam", "--beam-runner", "direct", "--job", smallPath,
		"--input", events, "--consent", consent, "--period", "2026-11-01", "--out", out2, "--ledger", ledger2, "--epsilon", "0.45"}
	run(0, second...)
	run(0, append(second, "--rerun")...)
	if got := run(77, append(second, "--rerun")...); strings.Contains(got, "pipeline submitted") {
		t.Fatalf("a refused run submitted the pipeline: %s", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
