package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dpstats/dpstats/jobs"
)

// accountingRuns are the privacy accountings the key release-protocol tests
// of the command run under: the spec's pure accounting, and zcdp switched
// on by the flag (as `dpstats plan --accounting zcdp` lets an operator try).
var accountingRuns = []struct {
	name string
	// args returns the flags that select the accounting and, if eps is not
	// empty, a per-run budget: --epsilon eps, or --rho eps²/2 under zcdp.
	args func(eps string) []string
}{
	{"pure", func(eps string) []string {
		if eps == "" {
			return nil
		}
		return []string{"--epsilon", eps}
	}},
	{"zcdp", func(eps string) []string {
		args := []string{"--accounting", "zcdp"}
		if eps == "" {
			return args
		}
		e, err := strconv.ParseFloat(eps, 64)
		if err != nil {
			panic(err)
		}
		return append(args, "--rho", strconv.FormatFloat(e*e/2, 'g', -1, 64))
	}},
}

// TestZCDPCommands: an operator tries zcdp with the flag before changing the
// spec: plan says the run's ρ, what it promises and what it buys against
// pure; budget speaks ρ for a zcdp job and still reads a ledger of pure
// releases; --epsilon and a --rho above the ceiling are usage errors.
func TestZCDPCommands(t *testing.T) {
	dpstatsBin(t)
	r := runBin(t, "plan", "--job", job, "--accounting", "zcdp")
	if r.code != 0 {
		t.Fatalf("plan --accounting zcdp: %s", r)
	}
	for _, want := range []string{
		"zero-concentrated accounting (privacy.accounting: zcdp), gaussian noise",
		"One run spends ρ = 0.0594",
		"What it promises: one run on its own is (ε = 1.437, δ = 1e-05)-DP; 30 runs in 30 days add up to ρ = 1.782, together (ε = 9.998, δ = 1e-05)-DP.",
		"What zCDP buys",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	dir := t.TempDir()
	led := newLedgerPath(t, dir)
	now := time.Now()
	writeLedgerLines(t, led, ledgerLine(now.Add(-time.Hour), job, "2000-01-01", 0.3, "r1"),
		`{"time":"`+now.Add(-30*time.Minute).UTC().Format(time.RFC3339Nano)+`","job":"playback-daily","period":"2000-01-02","rho":0.0594,"delta":0,"run_id":"r2","rerun":false,"metrics":["device_type_share"]}`)
	spec := filepath.Join(dir, "zcdp.yaml")
	data, _ := jobs.BuiltinSpec(job)
	if err := os.WriteFile(spec, []byte(strings.Replace(string(data), "  accounting: pure\n", "  accounting: zcdp\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, "budget", "--job", spec, "--ledger", led)
	if r.code != 0 {
		t.Fatalf("budget: %s", r)
	}
	for _, want := range []string{
		"spent (all jobs):  ρ = 0.1044 (1 zCDP release(s) and 1 pure one(s), each counted as ε²/2), δ = 0",
		"which promises:    (ε = 1.737, δ = 1e-05)",
		"playback-daily spends ρ = 0.0594 a run (zero-concentrated accounting; on its own a run is (ε = 1.437, δ = 1e-05)-DP): 28 more run(s) fit in the window now.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("budget lacks %q:\n%s", want, r.stdout)
		}
	}
	// The shipped CronJob pins DPSTATS_EPSILON: under zcdp it counts as
	// ρ = ε²/2, so switching the spec's key alone keeps the schedule running.
	r = runBin(t, "plan", "--job", spec, "--epsilon", "0.3")
	if r.code != 0 || !strings.Contains(r.stdout, "One run spends ρ = 0.045, δ = 0 (from --epsilon 0.3") {
		t.Errorf("plan --epsilon 0.3 of a zcdp spec: %s", r)
	}
	for _, args := range [][]string{
		{"plan", "--job", spec, "--epsilon", "2"},
		{"plan", "--job", spec, "--rho", "0.6"},
		{"plan", "--job", spec, "--rho", "0.01", "--epsilon", "0.1"},
		{"plan", "--job", job, "--accounting", "zCDP"},
	} {
		if r := runBin(t, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d: %s", args, r.code, exitUsage, r)
		}
	}
}
