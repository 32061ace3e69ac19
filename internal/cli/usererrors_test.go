package cli

// TestUserErrorsNeverExit70 runs the built binary with every user error we
// could think of: bad flags, bad values, bad environment variables, bad job
// specs, missing, unreadable and malformed files, weird periods, NaN, ∞,
// negative and tiny ε and δ. Exit 70 means "a bug in dpstats", so none of
// them may exit 70; each must exit with its documented code, in one message
// in our words: no Go function names ("WithOverrides:", "Check:") and no
// panic.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// unprivileged is the user the unreadable-file cases run as when the tests
// run as root (for whom permissions stop nothing): nobody.
const unprivileged = 65534

// internalName matches a Go identifier used as an error prefix: a CamelCase
// name ("WithOverrides:", "NewStringColumn:"), a method ("EventSpec.Validate:")
// or one of the single-word function names dpstats' packages used as
// prefixes ("Check:", "Lock /path/ledger.jsonl:").
var internalName = regexp.MustCompile(`\b([A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*(\.[A-Z][A-Za-z0-9]*)?|[A-Z][A-Za-z0-9]*\.[A-Z][A-Za-z0-9]*)(:| [^ :]+:) ` +
	`|\b(Open|Lock|Append|Unlock|Entries|Check|Plan|Explain|Validate|Release|Merge|Generate|Publish|Inspect|Scan|Read)(:| /[^ :]*:) `)

// libraryWords are phrases of the DP library's own messages: a user sees
// ours instead.
var libraryWords = []string{"must be at least 2^-50", "Epsilon is", "Delta is", "This should never happen"}

func TestInternalNamePattern(t *testing.T) {
	for _, s := range []string{
		"dpstats: WithOverrides: epsilon must be > 0",
		"dpstats: events: ExpandInputs: bad pattern",
		"dpstats: Check: budget refused",
		"dpstats: read events: NewEventReader: EventSpec.Validate: period",
		"dpstats: lock ledger: Lock /tmp/x/ledger.jsonl: open /tmp/x/ledger.jsonl: permission denied",
		"dpstats: Plan: PlanError: metric",
		"dpstats: job spec: LoadSpec: open x: permission denied",
	} {
		if !internalName.MatchString(s) {
			t.Errorf("internalName does not match %q", s)
		}
	}
	for _, s := range []string{
		"dpstats: --period \"x\": want a UTC day like 2026-11-01",
		"Try: lower ε",
		"dpstats: invalid job spec:\njob.yaml:3: privacy.epsilon: must be > 0",
		"dpstats: events: /tmp/a.parquet: unrecognized file format: not Parquet or Arrow IPC",
		"job.yaml:5: YAML syntax: did not find expected node content",
	} {
		if internalName.MatchString(s) {
			t.Errorf("internalName matches the plain message %q", s)
		}
	}
}

// userErrorCase is one user error: args (and environment) for the binary,
// run in a fresh working directory, and the exit code it must end with.
type userErrorCase struct {
	name string
	// args returns the arguments; it may create files in dir (the working
	// directory, which the process may write to).
	args func(t *testing.T, f *fixture) []string
	env  []string
	want int
	// stderr must contain each of these (in our words).
	mention []string
	// asUser: run as an unprivileged user when the test runs as root, so
	// that file permissions apply.
	asUser bool
	// stdout, if set, is the file standard output is redirected to.
	stdout string
}

// fixture is what every case may use: a valid export, its consent, an
// existing empty ledger and a day whose period is over.
type fixture struct {
	dir             string // the case's own directory (working directory)
	events, consent string
	ledger, out     string
	period          string
}

// file writes content to name in the case's directory and returns its path.
func (f *fixture) file(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// mkdir makes a directory in the case's directory with mode and returns it.
func (f *fixture) mkdir(t *testing.T, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(p, 0o755) })
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyFile copies src into the case's directory as name.
func (f *fixture) copyFile(t *testing.T, src, name string, mode os.FileMode) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// run is `dpstats run` with valid flags, then extra (a later flag wins).
func (f *fixture) run(extra ...string) []string {
	return append([]string{"run", "--job", job, "--input", f.events, "--consent", f.consent,
		"--period", f.period, "--out", f.out, "--ledger", f.ledger, "--log-format", "json"}, extra...)
}

// runWithout is `dpstats run` with valid flags except the named one.
func (f *fixture) runWithout(flag string) []string {
	args := f.run()
	for i := 1; i < len(args); i += 2 {
		if args[i] == flag {
			return append(args[:i:i], args[i+2:]...)
		}
	}
	panic("no flag " + flag)
}

// spec writes a job spec: the built-in playback-daily spec with the line
// starting with `from` replaced by `to` (or the whole text if from is "").
func (f *fixture) spec(t *testing.T, from, to string) string {
	t.Helper()
	data := builtinSpecText(t)
	if from != "" {
		var lines []string
		found := false
		for _, l := range strings.Split(data, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), from) && !found {
				indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
				l, found = indent+to, true
			}
			lines = append(lines, l)
		}
		if !found {
			t.Fatalf("the built-in spec has no line starting with %q", from)
		}
		data = strings.Join(lines, "\n")
	} else {
		data = to
	}
	return f.file(t, "job.yaml", data, 0o644)
}

func builtinSpecText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "jobs", "playback-daily.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func userErrorCases() []userErrorCase {
	usage, dataErr, noInput, cantCreate := exitUsage, exitDataErr, exitNoInput, exitCantCreate
	c := func(name string, want int, args func(t *testing.T, f *fixture) []string, mention ...string) userErrorCase {
		return userErrorCase{name: name, args: args, want: want, mention: mention}
	}
	fixed := func(args ...string) func(*testing.T, *fixture) []string {
		return func(*testing.T, *fixture) []string { return args }
	}
	runWith := func(extra ...string) func(*testing.T, *fixture) []string {
		return func(_ *testing.T, f *fixture) []string { return f.run(extra...) }
	}
	withEnv := func(tc userErrorCase, env ...string) userErrorCase { tc.env = env; return tc }
	asUser := func(tc userErrorCase) userErrorCase { tc.asUser = true; return tc }
	toFull := func(tc userErrorCase) userErrorCase { tc.stdout = "/dev/full"; return tc }
	today := time.Now().UTC().Format(time.DateOnly)

	cases := []userErrorCase{
		// Commands and flags.
		c("unknown command", usage, fixed("frobnicate"), "frobnicate"),
		c("help for an unknown command", usage, fixed("help", "frobnicate"), "frobnicate"),
		c("unknown global flag", usage, fixed("--frobnicate"), "frobnicate"),
		c("unknown run flag", usage, runWith("--frobnicate"), "frobnicate"),
		c("run with arguments", usage, runWith("events.parquet"), "unexpected arguments"),
		c("flag without its value", usage, runWith("--epsilon"), "epsilon"),
		c("run without --input", usage, func(_ *testing.T, f *fixture) []string { return f.runWithout("--input") }, "--input"),
		c("run without --consent", usage, func(_ *testing.T, f *fixture) []string { return f.runWithout("--consent") }, "--consent"),
		c("run without --ledger", usage, func(_ *testing.T, f *fixture) []string { return f.runWithout("--ledger") }, "--ledger"),
		c("empty --out", usage, runWith("--out", ""), "--out"),
		c("empty --input", usage, runWith("--input", ""), "--input"),
		c("--input of commas", usage, runWith("--input", ",,"), "--input"),
		c("stray comma in --consent", usage, func(_ *testing.T, f *fixture) []string { return f.run("--consent", f.consent+",") }, "--consent"),
		c("bad --log-format", usage, runWith("--log-format", "xml"), "xml"),
		c("bad --lock-wait", usage, runWith("--lock-wait", "soon"), "lock-wait"),
		c("negative --lock-wait", usage, runWith("--lock-wait", "-1s"), "lock wait"),
		c("bad --rerun", usage, runWith("--rerun=maybe"), "rerun"),

		// Engines: the plain binary has only the local one.
		c("--engine beam in the plain binary", usage, runWith("--engine", "beam", "--beam-runner", "direct"), "bin/dpstats-beam", "make beam"),
		withEnv(c("DPSTATS_ENGINE=beam in the plain binary", usage, runWith(), "make beam"), "DPSTATS_ENGINE=beam"),
		c("--engine of no such engine", usage, runWith("--engine", "spark"), "spark", "make beam"),
		c("--beam-runner without --engine beam", usage, runWith("--beam-runner", "direct"), "--beam-runner", "--engine beam"),
		c("--beam-option without --engine beam", usage, runWith("--beam-option", "max_num_workers=2"), "--beam-option", "--engine beam"),
		// URIs: only the beam engine reads them; refused before anything is charged.
		c("gs:// --input with the local engine", usage, runWith("--input", "gs://bucket/events/2026-11-01.parquet"),
			"--input gs://bucket/events/2026-11-01.parquet", "--engine beam"),
		c("memfs:// --consent with --engine local", usage, runWith("--engine", "local", "--consent", "memfs://consent.parquet"),
			"--consent memfs://consent.parquet", "--engine beam"),
		withEnv(c("DPSTATS_INPUT of a URI with the local engine", usage, func(_ *testing.T, f *fixture) []string { return f.runWithout("--input") },
			"s3://b/e.parquet", "--engine beam"), "DPSTATS_INPUT=s3://b/e.parquet"),
		withEnv(c("DPSTATS_BEAM_TEMP_LOCATION without --engine beam", usage, runWith(), "--beam-temp-location", "--engine beam"),
			"DPSTATS_BEAM_TEMP_LOCATION=gs://bucket/tmp"),
		c("--beam-option without a value", usage, runWith("--beam-option"), "beam-option"),

		// Periods.
		c("period: a word", usage, runWith("--period", "tomorrow"), "--period"),
		c("period: empty", usage, runWith("--period", ""), "--period"),
		c("period: month 13", usage, runWith("--period", "2026-13-01"), "--period"),
		c("period: 30 February", usage, runWith("--period", "2026-02-30"), "--period"),
		c("period: no leading zeros", usage, runWith("--period", "2026-1-1"), "--period"),
		c("period: with a time", usage, runWith("--period", "2026-01-01T00:00:00Z"), "--period"),
		c("period: YESTERDAY", usage, runWith("--period", "YESTERDAY"), "--period"),
		c("period: year 1", usage, runWith("--period", "0001-01-01"), "0001-01-01"),
		c("period: before 1970", usage, runWith("--period", "1969-12-31"), "1969-12-31"),
		c("period: year 9999", usage, runWith("--period", "9999-12-31"), "9999-12-31"),
		c("period: today, not over", usage, runWith("--period", today), "has not ended"),

		// ε and δ.
		c("epsilon: a word", usage, runWith("--epsilon", "lots"), "epsilon"),
		c("epsilon: NaN", usage, runWith("--epsilon", "NaN"), "epsilon"),
		c("epsilon: +Inf", usage, runWith("--epsilon", "+Inf"), "epsilon"),
		c("epsilon: -Inf", usage, runWith("--epsilon", "-Inf"), "epsilon"),
		c("epsilon: overflows", usage, runWith("--epsilon", "1e400"), "epsilon"),
		c("epsilon: negative", usage, runWith("--epsilon", "-1"), "epsilon"),
		c("epsilon: zero", usage, runWith("--epsilon", "0"), "epsilon"),
		c("epsilon: negative zero", usage, runWith("--epsilon", "-0"), "epsilon"),
		c("epsilon: 1e-300", usage, runWith("--epsilon", "1e-300"), "epsilon", "too small"),
		c("epsilon: smallest float", usage, runWith("--epsilon", "5e-324"), "epsilon", "too small"),
		c("epsilon: under the floor of about 5e-14", usage, runWith("--epsilon", "1e-15"), "epsilon", "too small"),
		c("epsilon: above the ceiling", usage, runWith("--epsilon", "100"), "max_epsilon"),
		// Under a ceiling raised to 10⁷, ε = 10⁶ with Gaussian noise would
		// hand the library's Gaussian noise an ε it never returns from: refused.
		c("epsilon: 1e6 hangs the library's gaussian noise", usage, func(t *testing.T, f *fixture) []string {
			text := strings.Replace(strings.Replace(builtinSpecText(t), "max_epsilon: 1.0 ", "max_epsilon: 1e7 ", 1), "cap_epsilon: 10\n", "cap_epsilon: 1e8\n", 1)
			return f.run("--job", f.spec(t, "", text), "--epsilon", "1e6", "--noise", "gaussian", "--delta", "1e-7")
		}, "privacy.epsilon", "too large", "noise library", "this job needs ε ≤"),
		c("delta: a word", usage, runWith("--delta", "tiny"), "delta"),
		c("delta: NaN", usage, runWith("--delta", "NaN"), "delta"),
		c("delta: +Inf", usage, runWith("--delta", "Inf"), "delta"),
		c("delta: negative", usage, runWith("--delta", "-1e-9"), "delta"),
		c("delta: one", usage, runWith("--delta", "1"), "delta"),
		c("delta: above the ceiling", usage, runWith("--delta", "0.5"), "max_delta"),
		c("gaussian without delta", usage, runWith("--noise", "gaussian", "--delta", "0"), "delta"),
		c("gaussian with a subnormal delta", usage, runWith("--noise", "gaussian", "--delta", "5e-324"), "delta"),
		c("unknown noise", usage, runWith("--noise", "uniform"), "uniform"),
		c("empty noise", usage, runWith("--noise", ""), "noise"),

		// The same through the environment.
		withEnv(c("env: epsilon a word", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "epsilon"), "DPSTATS_EPSILON=lots"),
		withEnv(c("env: epsilon NaN", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "epsilon"), "DPSTATS_EPSILON=NaN"),
		withEnv(c("env: epsilon tiny", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "too small"), "DPSTATS_EPSILON=1e-300"),
		withEnv(c("env: delta negative", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "delta"), "DPSTATS_DELTA=-1"),
		withEnv(c("env: bad period", usage, func(_ *testing.T, f *fixture) []string {
			return []string{"run", "--input", f.events, "--consent", f.consent, "--ledger", f.ledger, "--out", f.out}
		}, "period"), "DPSTATS_PERIOD=0001-01-01"),
		withEnv(c("env: bad lock wait", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "LOCK_WAIT"), "DPSTATS_LOCK_WAIT=soon"),
		withEnv(c("env: bad rerun", usage, func(_ *testing.T, f *fixture) []string { return f.run() }, "RERUN"), "DPSTATS_RERUN=maybe"),
		withEnv(c("env: missing input", noInput, func(_ *testing.T, f *fixture) []string {
			return []string{"run", "--consent", f.consent, "--ledger", f.ledger, "--out", f.out, "--period", f.period}
		}, "no-such.parquet"), "DPSTATS_INPUT=no-such.parquet"),
		withEnv(c("env: empty out", usage, func(_ *testing.T, f *fixture) []string { return f.runWithout("--out") }, "--out"), "DPSTATS_OUT="),
		withEnv(c("env: bad plan users", usage, fixed("plan"), "users"), "DPSTATS_PLAN_USERS=many"),
		withEnv(c("env: unknown job", usage, fixed("explain"), "no-such-job"), "DPSTATS_JOB=no-such-job"),

		// Job specs.
		c("job: no such file or built-in", usage, runWith("--job", "no-such-job"), "no-such-job"),
		c("job: empty name", usage, runWith("--job", ""), "--job"),
		c("job: a directory", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.mkdir(t, "jobdir", 0o755)) }, "jobdir"),
		c("job: empty file", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.file(t, "empty.yaml", "", 0o644)) }, "empty"),
		c("job: /dev/null", usage, runWith("--job", os.DevNull), "empty"),
		c("job: /dev/zero", usage, runWith("--job", "/dev/zero"), "not a job spec"),
		c("job: a Parquet file", usage, func(_ *testing.T, f *fixture) []string { return f.run("--job", f.events) }, "job spec"),
		c("job: YAML syntax error", usage, func(t *testing.T, f *fixture) []string {
			return f.run("--job", f.file(t, "bad.yaml", "version: 1\nname: [x\n", 0o644))
		}, "YAML syntax"),
		c("job: unknown key", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.spec(t, "period:", "periodd: daily")) }, "periodd"),
		c("job: epsilon is a word", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.spec(t, "epsilon:", "epsilon: lots")) }, "privacy.epsilon"),
		c("job: epsilon NaN", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.spec(t, "epsilon:", "epsilon: .nan")) }, "privacy.epsilon"),
		c("job: epsilon negative", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.spec(t, "epsilon:", "epsilon: -1")) }, "privacy.epsilon"),
		c("job: epsilon tiny", usage, func(t *testing.T, f *fixture) []string {
			return f.run("--job", f.spec(t, "epsilon:", "epsilon: 1e-300"))
		}, "privacy.epsilon", "too small"),
		c("job: weight tiny", usage, func(t *testing.T, f *fixture) []string { return f.run("--job", f.spec(t, "weight:", "weight: 1e-300")) }, "too small"),
		c("job: not a mapping", usage, func(t *testing.T, f *fixture) []string {
			return f.run("--job", f.file(t, "list.yaml", "- a\n- b\n", 0o644))
		}, "mapping"),
		c("job: too large", usage, func(t *testing.T, f *fixture) []string {
			return f.run("--job", f.file(t, "huge.yaml", "# "+strings.Repeat("x", 2<<20)+"\n", 0o644))
		}, "larger than"),
		asUser(c("job: unreadable file", usage, func(t *testing.T, f *fixture) []string {
			return f.run("--job", f.file(t, "secret.yaml", builtinSpecText(t), 0o000))
		}, "secret.yaml")),

		// Inputs.
		c("input: no such file", noInput, runWith("--input", "no-such.parquet"), "no-such.parquet"),
		c("input: glob matches nothing", noInput, runWith("--input", "nothing-*.parquet"), "nothing-*.parquet"),
		c("input: bad glob", usage, runWith("--input", "events[.parquet"), "events[.parquet"),
		c("input: empty directory", noInput, func(t *testing.T, f *fixture) []string { return f.run("--input", f.mkdir(t, "empty", 0o755)) }, "empty"),
		c("input: /dev/null", dataErr, runWith("--input", os.DevNull), os.DevNull),
		c("input: a FIFO", dataErr, func(t *testing.T, f *fixture) []string {
			p := filepath.Join(f.dir, "fifo.parquet")
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
			return f.run("--input", p)
		}, "fifo.parquet"),
		c("input: a text file", dataErr, func(t *testing.T, f *fixture) []string {
			return f.run("--input", f.file(t, "events.csv", "user_id,time\n1,2\n", 0o644))
		}, "events.csv"),
		c("input: empty file", dataErr, func(t *testing.T, f *fixture) []string { return f.run("--input", f.file(t, "zero.parquet", "", 0o644)) }, "zero.parquet"),
		c("input: truncated Parquet", dataErr, func(t *testing.T, f *fixture) []string {
			b, err := os.ReadFile(f.events)
			if err != nil {
				t.Fatal(err)
			}
			return f.run("--input", f.file(t, "cut.parquet", string(b[:len(b)/2]), 0o644))
		}, "cut.parquet"),
		c("input: event_time is a string", dataErr, func(t *testing.T, f *fixture) []string {
			return f.run("--input", writeStringTimes(t, filepath.Join(f.dir, "strings.parquet")))
		}, "strings.parquet", "unusable column type"),
		c("input: the consent export", dataErr, func(_ *testing.T, f *fixture) []string { return f.run("--input", f.consent) }, "consent.parquet"),
		c("consent: the events export", dataErr, func(_ *testing.T, f *fixture) []string { return f.run("--consent", f.events) }, "events.parquet"),
		c("consent: no such file", noInput, runWith("--consent", "no-such-consent.parquet"), "no-such-consent.parquet"),
		c("consent: bad glob", usage, runWith("--consent", "[consent"), "[consent"),
		asUser(c("input: unreadable file", noInput, func(t *testing.T, f *fixture) []string {
			return f.run("--input", f.copyFile(t, f.events, "locked.parquet", 0o000))
		}, "locked.parquet")),
		asUser(c("input: unreadable directory", noInput, func(t *testing.T, f *fixture) []string {
			d := f.mkdir(t, "locked", 0o755)
			f.copyFile(t, f.events, filepath.Join("locked", "events.parquet"), 0o644)
			if err := os.Chmod(d, 0o000); err != nil {
				t.Fatal(err)
			}
			return f.run("--input", d)
		}, "locked")),
		asUser(c("input: inside an unsearchable directory", noInput, func(t *testing.T, f *fixture) []string {
			d := f.mkdir(t, "nox", 0o755)
			p := f.copyFile(t, f.events, filepath.Join("nox", "events.parquet"), 0o644)
			if err := os.Chmod(d, 0o600); err != nil {
				t.Fatal(err)
			}
			return f.run("--input", p)
		}, "events.parquet")),

		// The ledger.
		c("ledger: a directory", cantCreate, func(t *testing.T, f *fixture) []string { return f.run("--ledger", f.mkdir(t, "ledgerdir", 0o755)) }, "ledgerdir"),
		c("ledger: /dev/null", cantCreate, runWith("--ledger", os.DevNull), os.DevNull),
		c("ledger: corrupt", dataErr, func(t *testing.T, f *fixture) []string {
			return f.run("--ledger", f.file(t, "corrupt.jsonl", "{\"time\": not json\n{}\n", 0o644))
		}, "corrupt.jsonl"),
		asUser(c("ledger: read-only file", cantCreate, func(t *testing.T, f *fixture) []string {
			p := f.file(t, "ro.jsonl", "", 0o444)
			return f.run("--ledger", p)
		}, "ro.jsonl")),
		asUser(c("ledger: in a read-only directory", cantCreate, func(t *testing.T, f *fixture) []string {
			d := f.mkdir(t, "rodir", 0o755)
			p := f.file(t, filepath.Join("rodir", "ledger.jsonl"), "", 0o644)
			if err := os.Chmod(d, 0o555); err != nil {
				t.Fatal(err)
			}
			return f.run("--ledger", p)
		}, "ledger.jsonl")),

		// The output.
		c("out: under a regular file", cantCreate, func(t *testing.T, f *fixture) []string {
			return f.run("--out", filepath.Join(f.file(t, "plain", "x", 0o644), "sub"))
		}, "plain"),
		c("out: /dev/null", cantCreate, runWith("--out", os.DevNull), os.DevNull),
		asUser(c("out: read-only directory", cantCreate, func(t *testing.T, f *fixture) []string { return f.run("--out", f.mkdir(t, "ro-out", 0o555)) }, "ro-out")),
		c("cpuprofile: in a missing directory", cantCreate, runWith("--cpuprofile", filepath.Join("no-such-dir", "cpu.prof")), "cpu.prof"),
		c("metrics textfile in a missing directory, bad period", usage,
			runWith("--metrics-textfile", filepath.Join("no-such-dir", "dpstats.prom"), "--period", "nope"), "--period"),
		c("metrics push to a bad URL, bad period", usage, runWith("--metrics-push", "::not a url", "--period", "nope"), "--period"),

		// Other commands.
		c("budget without --ledger", usage, fixed("budget"), "--ledger"),
		c("budget: ledger is a directory", noInput, func(t *testing.T, f *fixture) []string {
			return []string{"budget", "--ledger", f.mkdir(t, "ledgerdir", 0o755)}
		}, "ledgerdir"),
		c("budget: corrupt ledger", dataErr, func(t *testing.T, f *fixture) []string {
			return []string{"budget", "--ledger", f.file(t, "corrupt.jsonl", "garbage\n{}\n", 0o644)}
		}, "corrupt.jsonl"),
		asUser(c("budget: unreadable ledger", noInput, func(t *testing.T, f *fixture) []string {
			return []string{"budget", "--ledger", f.file(t, "locked.jsonl", "", 0o000)}
		}, "locked.jsonl")),
		c("budget: unknown job", usage, func(_ *testing.T, f *fixture) []string {
			return []string{"budget", "--job", "nope", "--ledger", f.ledger}
		}, "nope"),
		c("plan: users zero", usage, fixed("plan", "--users", "0"), "users"),
		c("plan: users a word", usage, fixed("plan", "--users", "many"), "users"),
		c("plan: epsilon tiny", usage, fixed("plan", "--epsilon", "1e-300"), "too small"),
		c("plan: delta NaN", usage, fixed("plan", "--delta", "NaN"), "delta"),
		c("explain: bad format", usage, fixed("explain", "--format", "pdf"), "pdf"),
		c("explain: epsilon negative", usage, fixed("explain", "--epsilon", "-1"), "epsilon"),
		c("inspect: nothing named", usage, fixed("inspect"), "inspect"),
		c("inspect: no such file", noInput, fixed("inspect", "no-such.parquet"), "no-such.parquet"),
		c("inspect: bad glob", usage, fixed("inspect", "[x"), "[x"),
		c("inspect: a URI", usage, fixed("inspect", "gs://bucket/events.parquet"), "gs://bucket/events.parquet", "local files"),
		c("inspect: a text file", dataErr, func(t *testing.T, f *fixture) []string {
			return []string{"inspect", f.file(t, "notes.txt", "hello\n", 0o644)}
		}, "notes.txt"),
		c("inspect: /dev/null", dataErr, fixed("inspect", os.DevNull), os.DevNull),
		asUser(c("inspect: unreadable file", noInput, func(t *testing.T, f *fixture) []string {
			return []string{"inspect", f.copyFile(t, f.events, "locked.parquet", 0o000)}
		}, "locked.parquet")),
		c("gen: rows negative", usage, fixed("gen", "--rows", "-1", "--out", "g"), "rows"),
		c("gen: users zero", usage, fixed("gen", "--users", "0", "--out", "g"), "users"),
		c("gen: days zero", usage, fixed("gen", "--days", "0", "--out", "g"), "days"),
		c("gen: days too many", usage, fixed("gen", "--days", "100000", "--rows", "10", "--out", "g"), "days"),
		c("gen: bad start", usage, fixed("gen", "--start", "someday", "--out", "g"), "start"),
		c("gen: bad format", usage, fixed("gen", "--format", "csv", "--out", "g"), "csv"),
		c("gen: rows a word", usage, fixed("gen", "--rows", "many", "--out", "g"), "rows"),
		c("gen: out under a regular file", cantCreate, func(t *testing.T, f *fixture) []string {
			return []string{"gen", "--rows", "10", "--users", "2", "--out", filepath.Join(f.file(t, "plain", "x", 0o644), "g")}
		}, "plain"),
		c("demo: out under a regular file", cantCreate, func(t *testing.T, f *fixture) []string {
			return []string{"demo", "--out", filepath.Join(f.file(t, "plain", "x", 0o644), "o")}
		}, "plain"),
		c("demo: epsilon tiny", usage, fixed("demo", "--epsilon", "1e-300", "--out", "o"), "too small"),
		// Standard output on a full disk.
		toFull(c("explain to a full disk", cantCreate, fixed("explain"), "standard output")),
		toFull(c("plan to a full disk", cantCreate, fixed("plan"), "standard output")),
		toFull(c("inspect to a full disk", cantCreate, func(_ *testing.T, f *fixture) []string { return []string{"inspect", f.events} }, "standard output")),
		c("demo: empty --out", usage, fixed("demo", "--out", ""), "--out"),
		c("demo: bad log format", usage, fixed("demo", "--log-format", "xml", "--out", "o"), "xml"),
	}
	return cases
}

func TestUserErrorsNeverExit70(t *testing.T) {
	events, consent := genData(t)
	bin := dpstatsBin(t)
	// A world-readable copy of the binary and the data, for the cases that
	// run as an unprivileged user.
	base, err := os.MkdirTemp("", "dpstats-usererrors-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTo := func(src, name string, mode os.FileMode) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(base, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin = copyTo(bin, "dpstats", 0o755)
	events = copyTo(events, "events.parquet", 0o644)
	consent = copyTo(consent, "consent.parquet", 0o644)

	for i, tc := range userErrorCases() {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("case%03d", i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			f := &fixture{dir: dir, events: events, consent: consent,
				ledger: filepath.Join(dir, "ledger.jsonl"), out: filepath.Join(dir, "out"), period: day(0)}
			if err := os.WriteFile(f.ledger, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			args := tc.args(t, f)
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			cmd.Env = testEnv(tc.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if tc.stdout != "" {
				out, err := os.OpenFile(tc.stdout, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer out.Close()
				cmd.Stdout = out
			}
			if tc.asUser && os.Geteuid() == 0 {
				chownTree(t, dir, unprivileged)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: unprivileged, Gid: unprivileged}}
			}
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(processTimeout):
				cmd.Process.Kill()
				<-done
				t.Fatalf("dpstats %q did not exit within %v", args, processTimeout)
			}
			code := cmd.ProcessState.ExitCode()
			r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
			if code == exitInternal {
				t.Errorf("dpstats %q exited 70 (internal error) on a user error:\n%s", args, r)
			} else if code != tc.want {
				t.Errorf("dpstats %q: exit %d, want %d:\n%s", args, code, tc.want, r)
			}
			if m := internalName.FindString(r.stderr); m != "" {
				t.Errorf("the message names an internal Go function (%q):\n%s", m, r.stderr)
			}
			for _, w := range libraryWords {
				if strings.Contains(r.stderr, w) {
					t.Errorf("the message is the DP library's (%q), not ours:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("dpstats panicked:\n%s", r.stderr)
			}
			lower := strings.ToLower(r.stderr)
			for _, m := range tc.mention {
				if !strings.Contains(lower, strings.ToLower(m)) {
					t.Errorf("stderr does not mention %q:\n%s", m, r.stderr)
				}
			}
		})
	}
}

// chownTree gives dir and everything under it to uid (for the cases that run
// unprivileged; their files keep their modes).
func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeStringTimes writes a Parquet export whose columns are all strings,
// event_time too: a type the reader must refuse by name.
func writeStringTimes(t *testing.T, path string) string {
	t.Helper()
	names := []string{"user_id", "event_time", "device_type", "platform", "video_codec", "audio_codec", "container",
		"media_type", "resolution", "decision", "bitrate_kbps", "duration_s"}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: arrow.BinaryTypes.String, Nullable: true}
	}
	sc := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), sc)
	defer b.Release()
	for i := range names {
		b.Field(i).(*array.StringBuilder).AppendValues([]string{"u1", "2026-11-01T10:00:00Z"}, nil)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pqarrow.NewFileWriter(sc, f, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}
