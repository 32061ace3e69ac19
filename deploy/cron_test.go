package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCronWrapper runs deploy/cron/dpstats-cron.sh against a fake dpstats
// that exits with a chosen code: silent on success (no cron mail), a
// diagnosis and the log on failure, the exit code passed through, the
// settings file exported to dpstats.
func TestCronWrapper(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	wrapper, err := filepath.Abs(filepath.Join("cron", "dpstats-cron.sh"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		code     int
		initCode int      // the exit code of `dpstats ledger init`
		wantOut  []string // each must appear in the output; none means no output
		envFile  string   // "" = the example file; "missing" = a path that does not exist
		wantCode int
	}{
		{name: "released", code: 0, wantCode: 0},
		{name: "ledger lost", initCode: 73, wantCode: 73, wantOut: []string{"dpstats ledger init failed (exit 73)", "the ledger is lost", "fake log line"}},
		{name: "ledger corrupt", initCode: 65, wantCode: 65, wantOut: []string{"dpstats ledger init failed (exit 65)", "does not parse"}},
		{name: "report missing", code: 74, wantCode: 74, wantOut: []string{"dpstats run failed (exit 74)", "--rerun"}},
		{name: "cannot publish", code: 73, wantCode: 73, wantOut: []string{"dpstats run failed (exit 73)", "staged copy"}},
		{name: "budget refused", code: 77, wantCode: 77, wantOut: []string{"exit 77", "budget refused", "dpstats budget --ledger /var/lib/dpstats/ledger/ledger.jsonl", "fake log line"}},
		{name: "locked", code: 75, wantCode: 75, wantOut: []string{"exit 75", "back-fill"}},
		{name: "input missing", code: 66, wantCode: 66, wantOut: []string{"input missing"}},
		{name: "withheld", code: 69, wantCode: 69, wantOut: []string{"exit 69", "quality gate", "--rerun"}},
		{name: "internal", code: 70, wantCode: 70, wantOut: []string{"bug"}},
		{name: "unreadable settings", envFile: "missing", wantCode: 64, wantOut: []string{"cannot read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			record := filepath.Join(dir, "record")
			fake := filepath.Join(dir, "dpstats")
			// Builtins only: PATH is empty so that the wrapper's logger(1)
			// is not found and nothing reaches the real syslog.
			initRecord := filepath.Join(dir, "init-record")
			script := "#!" + sh + "\n" +
				"echo '{\"msg\":\"fake log line\"}' >&2\n" +
				"if [ \"$1\" = ledger ]; then\n" +
				"  printf '%s\\n' \"$*\" \"$DPSTATS_LEDGER\" \"$DPSTATS_OUT\" > " + initRecord + "\n" +
				"  exit " + strconv.Itoa(tt.initCode) + "\n" +
				"fi\n" +
				"printf '%s\\n' \"$*\" \"$DPSTATS_LEDGER\" \"$DPSTATS_EPSILON\" > " + record + "\n" +
				"exit " + strconv.Itoa(tt.code) + "\n"
			if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			envFile, _ := filepath.Abs(filepath.Join("cron", "dpstats.env.example"))
			if tt.envFile == "missing" {
				envFile = filepath.Join(dir, "missing.env")
			}
			cmd := exec.Command(sh, wrapper, "--period", "2026-11-01")
			cmd.Env = []string{"PATH=" + dir + "/empty", "DPSTATS_BIN=" + fake, "DPSTATS_ENV_FILE=" + envFile}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) {
				code = exitErr.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.wantCode, out.String())
			}
			if len(tt.wantOut) == 0 && out.Len() > 0 {
				t.Errorf("printed %q on success: cron would mail it every day", out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.envFile == "missing" {
				return
			}
			// The init step runs first, every time, with the settings.
			got, err := os.ReadFile(initRecord)
			if err != nil {
				t.Fatalf("the wrapper did not run dpstats ledger init: %v", err)
			}
			if want := "ledger init\n/var/lib/dpstats/ledger/ledger.jsonl\n/var/lib/dpstats/reports\n"; string(got) != want {
				t.Errorf("dpstats ledger init got args and env %q, want %q", got, want)
			}
			if tt.initCode != 0 {
				if _, err := os.Stat(record); err == nil {
					t.Error("the wrapper ran dpstats run after ledger init failed")
				}
				return
			}
			got, err = os.ReadFile(record)
			if err != nil {
				t.Fatalf("the fake dpstats did not run: %v", err)
			}
			if want := "run --period 2026-11-01\n/var/lib/dpstats/ledger/ledger.jsonl\n0.3\n"; string(got) != want {
				t.Errorf("dpstats got args and env %q, want %q", got, want)
			}
		})
	}
}

// TestCronEnvExample: the settings file holds known dpstats settings only,
// the required ones, and never a scheduled rerun.
func TestCronEnvExample(t *testing.T) {
	f, err := os.Open(filepath.Join("cron", "dpstats.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(k, " \t") {
			t.Errorf("line %q: want KEY=value", line)
			continue
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for k := range env {
		if !slices.Contains(knownEnv, k) {
			t.Errorf("%s is not a dpstats setting; dpstats would ignore it", k)
		}
	}
	for _, k := range requiredEnv {
		if env[k] == "" {
			t.Errorf("%s is not set", k)
		}
	}
	if _, ok := env["DPSTATS_RERUN"]; ok {
		t.Error("DPSTATS_RERUN in a scheduled job's settings: a rerun is a deliberate one-off")
	}
	if got, want := env["DPSTATS_PERIOD"], "yesterday"; got != want {
		t.Errorf("DPSTATS_PERIOD = %q, want %q", got, want)
	}
}

// TestCrontabExample: one daily line in UTC, after UTC midnight, running
// the wrapper without flock(1).
func TestCrontabExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("cron", "crontab.example"))
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	tz := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t") {
			if k == "CRON_TZ" {
				tz = v
			}
			continue
		}
		jobs = append(jobs, line)
	}
	if got, want := tz, "UTC"; got != want {
		t.Errorf("CRON_TZ = %q, want %q (the period is a UTC day)", got, want)
	}
	if len(jobs) != 1 {
		t.Fatalf("crontab has %d job lines, want 1: %q", len(jobs), jobs)
	}
	f := strings.Fields(jobs[0])
	if len(f) < 7 {
		t.Fatalf("job line %q: want /etc/cron.d format: 5 time fields, user, command", jobs[0])
	}
	minute, hour, err := parseDaily(strings.Join(f[:5], " "))
	if err != nil {
		t.Fatalf("job line %q: %v", jobs[0], err)
	}
	if hour*60+minute < 60 {
		t.Errorf("runs at %02d:%02d UTC: want at least an hour after UTC midnight", hour, minute)
	}
	if f[5] == "root" {
		t.Error("runs as root: use a dedicated user that owns the ledger and reports")
	}
	if cmd := strings.Join(f[6:], " "); strings.Contains(cmd, "flock") || !strings.HasSuffix(f[6], "dpstats-cron") {
		t.Errorf("command %q: want the dpstats-cron wrapper, without flock(1) (the ledger locks itself)", cmd)
	}
}
