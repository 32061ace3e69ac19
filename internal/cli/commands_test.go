package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/jobs"
)

// In-process tests of the commands that read no event data (plan, explain)
// and of demo, through run(): the same code path as the binary, minus
// os.Exit. The process-level tests of the release protocol are in
// release_test.go.

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"dpstats"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlanCommand(t *testing.T) {
	spec, err := loadSpec("playback-daily")
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "plan", "--epsilon", "1", "--users", "40000")
	if code != exitOK {
		t.Fatalf("plan exit %d: %s", code, errOut)
	}
	for _, m := range spec.Metrics {
		if !strings.Contains(out, m.Name) {
			t.Errorf("plan does not list %s:\n%s", m.Name, out)
		}
	}
	for _, want := range []string{"ε = 1", "40000 users", "±", "pp"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	// More ε, less error: the first metric's ± shrinks as ε grows.
	_, low, _ := runCLI(t, "plan", "--epsilon", "0.1")
	_, high, _ := runCLI(t, "plan", "--epsilon", "1")
	if low == high {
		t.Error("plan output does not depend on --epsilon")
	}
	// Fewer events per user, more share error: the default (each metric's
	// max_per_partition, 10 for device_type_share) against 1 event per user.
	_, def, _ := runCLI(t, "plan", "--epsilon", "1", "--users", "99000")
	_, one, _ := runCLI(t, "plan", "--epsilon", "1", "--users", "99000", "--events-per-user", "1")
	shareOf := func(out string) string {
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "device_type_share ") {
				return strings.Fields(line)[7] // METRIC KIND ε δ EVENTS/USER ±VALUE (2 fields) ±SHARE
			}
		}
		return ""
	}
	// The share error scales as 1/(events per user): 10 events per user
	// give a tenth of the error of one (printed to 2 significant digits).
	d, errD := strconv.ParseFloat(strings.TrimPrefix(shareOf(def), "±"), 64)
	o, errO := strconv.ParseFloat(strings.TrimPrefix(shareOf(one), "±"), 64)
	if errD != nil || errO != nil || d <= 0 || o/d < 9 || o/d > 11 {
		t.Errorf("device_type_share share error: %q by default, %q at 1 event/user; want the second about 10 times the first\n%s\n%s",
			shareOf(def), shareOf(one), def, one)
	}
}

func TestPlanAndExplainRefuseBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"epsilon above the ceiling", []string{"plan", "--epsilon", "100"}, exitUsage},
		{"epsilon from the environment above the ceiling", []string{"plan"}, exitUsage},
		{"users < 1", []string{"plan", "--users", "0"}, exitUsage},
		{"events per user < 0", []string{"plan", "--events-per-user", "-2"}, exitUsage},
		{"partitions per user NaN", []string{"plan", "--partitions-per-user", "NaN"}, exitUsage},
		{"unknown job", []string{"explain", "--job", "no-such-job"}, exitUsage},
		{"unknown format", []string{"explain", "--format", "pdf"}, exitUsage},
		{"unknown flag", []string{"plan", "--epsilonn", "1"}, exitUsage},
		{"run without inputs", []string{"run", "--ledger", "x"}, exitUsage},
		{"run with a bad period", []string{"run", "--period", "tomorrow"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "environment") {
				t.Setenv("DPSTATS_EPSILON", "100")
			}
			code, _, errOut := runCLI(t, tt.args...)
			if code != tt.want {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.want, errOut)
			}
			if !strings.HasPrefix(errOut, "dpstats: ") && !strings.Contains(errOut, "Incorrect Usage") && !strings.Contains(errOut, "flag provided but not defined") {
				t.Errorf("stderr does not explain the error: %q", errOut)
			}
		})
	}
}

func TestExplainCommandJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "explain", "--format", "json")
	if code != exitOK {
		t.Fatalf("explain exit %d: %s", code, errOut)
	}
	var e struct {
		Statistics []jobs.Statistic `json:"statistics"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain --format json: %v\n%s", err, out)
	}
	spec, _ := loadSpec("playback-daily")
	// Every metric, then the quality gate's count of each consent category.
	if got, want := len(e.Statistics), len(spec.Metrics)+len(spec.ConsentCategories()); got != want {
		t.Errorf("explain lists %d statistics, the job has %d metrics and %d consent categories", got, len(spec.Metrics), len(spec.ConsentCategories()))
	}
}

// TestDemoTwice runs what `make run` runs, twice: the first releases 14
// days (the sample's, then generated ones) and names the newest day's
// index.html and the job's history; the second releases nothing.
func TestDemoTwice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, errOut := runCLI(t, "demo", "--out", out)
	if code != exitOK {
		t.Fatalf("demo exit %d: %s", code, errOut)
	}
	if got := strings.Count(stdout, "released playback-daily 2026-11-"); got != demoDays {
		t.Errorf("demo released %d days, want %d:\n%s", got, demoDays, stdout)
	}
	index := filepath.Join(out, "playback-daily", "2026-11-14", "index.html")
	jobIndex := filepath.Join(out, "playback-daily", "index.html")
	for _, p := range []string{index, jobIndex} {
		if !strings.Contains(stdout, p) {
			t.Errorf("demo does not print the path %s:\n%s", p, stdout)
		}
		if _, err := os.Stat(p); err != nil {
			t.Fatal(err)
		}
	}
	csv, err := os.ReadFile(filepath.Join(out, "playback-daily", "history.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(csv), "\n2026-11-14,"); got < 100 {
		t.Errorf("history.csv has %d rows of the newest day, want one per partition of every statistic", got)
	}
	indexBefore, err := os.ReadFile(jobIndex)
	if err != nil {
		t.Fatal(err)
	}
	ledgerBefore, err := os.ReadFile(filepath.Join(out, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, errOut = runCLI(t, "demo", "--out", out)
	if code != exitOK || !strings.Contains(stdout, "already released") {
		t.Errorf("second demo: exit %d, stdout %q, stderr %q; want exit 0, already released", code, stdout, errOut)
	}
	ledgerAfter, _ := os.ReadFile(filepath.Join(out, "ledger.jsonl"))
	if !bytes.Equal(ledgerBefore, ledgerAfter) {
		t.Error("a second demo changed the ledger")
	}
	if indexAfter, _ := os.ReadFile(jobIndex); !bytes.Equal(indexBefore, indexAfter) {
		t.Error("a second demo, which released nothing, changed the job index")
	}
	code, stdout, errOut = runCLI(t, "budget", "--ledger", filepath.Join(out, "ledger.jsonl"))
	if code != exitOK || !strings.Contains(stdout, "ε = 4.2") {
		t.Errorf("budget after demo: exit %d, %q %q; want ε = 4.2 spent (14 days of 0.3)", code, stdout, errOut)
	}
}
