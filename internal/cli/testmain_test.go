package cli

// Helpers for the process-level tests (release_test.go): the dpstats binary,
// built once per test binary with `go build -o`, a synthetic export generated
// once with `dpstats gen`, and a way to run the binary and look at what it
// left on disk.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// shared is what the process-level tests build and generate once, lazily, so
// that tests that do not need them do not pay for them.
var shared struct {
	mu  sync.Mutex
	dir string // removed by TestMain

	binOnce sync.Once
	bin     string
	binErr  error

	dataOnce        sync.Once
	events, consent string
	dataErr         error
}

// Generated data: 200,000 events of 20,000 users over three UTC days. The
// days are in the recent past (ten days ago onwards), so that the periods
// have ended whatever the machine's clock says.
const (
	genRows  = 200000
	genUsers = 20000
	genDays  = 3
)

var dataStart = func() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day()-10, 0, 0, 0, 0, time.UTC)
}()

// day returns the i-th day of the generated data (i may be ≥ genDays: a day
// without events).
func day(i int) string { return dataStart.AddDate(0, 0, i).Format(time.DateOnly) }

// processTimeout bounds every process a test starts: generous, it only
// turns a hang into a failure.
const processTimeout = 2 * time.Minute

func sharedDir() (string, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dir == "" {
		dir, err := os.MkdirTemp("", "dpstats-cmd-test-")
		if err != nil {
			return "", err
		}
		shared.dir = dir
	}
	return shared.dir, nil
}

// dpstatsBin returns the path of the dpstats binary built from this package.
func dpstatsBin(t testing.TB) string {
	t.Helper()
	shared.binOnce.Do(func() {
		dir, err := sharedDir()
		if err != nil {
			shared.binErr = err
			return
		}
		bin := filepath.Join(dir, "dpstats")
		// go test puts the go command that runs it first in PATH.
		cmd := exec.Command("go", "build", "-o", bin, "../../cmd/dpstats")
		cmd.Env = testEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			shared.binErr = fmt.Errorf("go build -o %s ../../cmd/dpstats: %v\n%s", bin, err, out)
			return
		}
		shared.bin = bin
	})
	if shared.binErr != nil {
		t.Fatalf("building the dpstats binary: %v", shared.binErr)
	}
	return shared.bin
}

// genData returns the events and consent exports written by `dpstats gen`.
// Tests must not write into their directory.
func genData(t testing.TB) (events, consent string) {
	t.Helper()
	bin := dpstatsBin(t)
	shared.dataOnce.Do(func() {
		shared.dataErr = errors.New("dpstats gen did not complete")
		dir, err := sharedDir()
		if err != nil {
			shared.dataErr = err
			return
		}
		out := filepath.Join(dir, "gen")
		r := runIn(t, "", nil, bin, "gen", "--rows", fmt.Sprint(genRows), "--users", fmt.Sprint(genUsers),
			"--days", fmt.Sprint(genDays), "--start", dataStart.Format(time.DateOnly), "--out", out)
		if r.code != 0 {
			shared.dataErr = fmt.Errorf("dpstats gen: %s", r)
			return
		}
		shared.events, shared.consent = filepath.Join(out, "events.parquet"), filepath.Join(out, "consent.parquet")
		shared.dataErr = nil
	})
	if shared.dataErr != nil {
		t.Fatalf("generating the test data: %v", shared.dataErr)
	}
	return shared.events, shared.consent
}

// testEnv is the environment of the processes the tests start: the test's
// own, without any DPSTATS_* variable that would change what a flag means,
// plus extra ("KEY=value"; "KEY" alone removes KEY).
func testEnv(extra ...string) []string {
	drop := map[string]bool{}
	var add []string
	for _, kv := range extra {
		k, _, ok := strings.Cut(kv, "=")
		drop[k] = true
		if ok {
			add = append(add, kv)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DPSTATS_") || drop[k] {
			continue
		}
		env = append(env, kv)
	}
	return append(env, add...)
}

// result is how a process ended.
type result struct {
	code           int // exit status; -1 if killed by a signal
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runBin runs dpstats with args in the test's environment and waits for it.
func runBin(t testing.TB, args ...string) result {
	t.Helper()
	return runIn(t, "", nil, dpstatsBin(t), args...)
}

// runIn runs bin with args in directory dir ("": the test's) and the
// environment testEnv(env...), and waits for it.
func runIn(t testing.TB, dir string, env []string, bin string, args ...string) result {
	t.Helper()
	p := startIn(t, dir, env, bin, args...)
	<-p.done
	return p.result(t)
}

// proc is a started dpstats process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	cancel         context.CancelFunc
	started        time.Time
	done           chan struct{} // closed when the process has exited and its output is read
	waitErr        error
	ended          time.Time
}

func startBin(t testing.TB, args ...string) *proc {
	t.Helper()
	return startIn(t, "", nil, dpstatsBin(t), args...)
}

func startIn(t testing.TB, dir string, env []string, bin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	p := &proc{cmd: exec.CommandContext(ctx, bin, args...), cancel: cancel, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = testEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start dpstats %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.ended = time.Now()
		cancel()
		close(p.done)
	}()
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL (if the process is still running) and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL) // fails harmlessly if it already exited
	<-p.done
}

// killed reports whether the process died of SIGKILL (rather than exiting
// before the signal came).
func (p *proc) killed() bool {
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (p *proc) result(t testing.TB) result {
	t.Helper()
	var exit *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &exit) {
		t.Fatalf("dpstats %s: %v", strings.Join(p.cmd.Args[1:], " "), p.waitErr)
	}
	return result{code: p.cmd.ProcessState.ExitCode(), stdout: p.stdout.String(), stderr: p.stderr.String()}
}

// logLines returns the JSON log records a process wrote to stderr
// (--log-format json); other lines are skipped.
func logLines(stderr string) []map[string]any {
	var recs []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			recs = append(recs, m)
		}
	}
	return recs
}

// logged returns the first log record with message msg, or nil.
func logged(stderr, msg string) map[string]any {
	for _, m := range logLines(stderr) {
		if m["msg"] == msg {
			return m
		}
	}
	return nil
}

// playbackMetrics are the metric names of the built-in playback-daily job:
// every report must hold one CSV for each.
func playbackMetrics(t testing.TB) []string {
	t.Helper()
	data, ok := jobs.BuiltinSpec("playback-daily")
	if !ok {
		t.Fatal("no built-in playback-daily spec")
	}
	spec, err := jobs.ParseSpec("playback-daily.yaml", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse the built-in playback-daily spec: %v", err)
	}
	var names []string
	for _, m := range spec.Metrics {
		names = append(names, m.Name)
	}
	return names
}

// readLedger parses the ledger at path (nil if there is none yet) and checks
// that its lock can be taken at once: a dead run never holds it.
func readLedger(path string) ([]ledger.Entry, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	f, err := ledger.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ledger does not open: %w", err)
	}
	entries, err := f.Entries()
	if err != nil {
		return nil, fmt.Errorf("ledger does not parse: %w", err)
	}
	tx, err := f.Lock(context.Background())
	if err != nil {
		return nil, fmt.Errorf("ledger cannot be locked (no dead run may hold its lock): %w", err)
	}
	if err := tx.Unlock(); err != nil {
		return nil, fmt.Errorf("ledger: unlock: %w", err)
	}
	return entries, nil
}

// mustReadLedger is readLedger for a ledger that must parse.
func mustReadLedger(t testing.TB, path string) []ledger.Entry {
	t.Helper()
	entries, err := readLedger(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return entries
}

// entriesFor returns the ledger entries of (job, period).
func entriesFor(entries []ledger.Entry, job, period string) []ledger.Entry {
	var out []ledger.Entry
	for _, e := range entries {
		if e.Job == job && e.Period == period {
			out = append(out, e)
		}
	}
	return out
}

// snapshot describes every file and directory under root (relative path →
// kind, mode and content hash), to tell whether a process wrote anything
// there. A missing root gives an empty snapshot with the single key "!".
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		snap["!"] = "does not exist"
		return snap
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		desc := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		snap[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", root, err)
	}
	return snap
}

// diffSnapshots lists what changed between two snapshots of one tree,
// ignoring paths for which ignore returns true.
func diffSnapshots(before, after map[string]string, ignore func(rel string) bool) []string {
	var diff []string
	for p, a := range after {
		if ignore != nil && ignore(p) {
			continue
		}
		if b, ok := before[p]; !ok {
			diff = append(diff, "created "+p)
		} else if a != b && !strings.HasPrefix(a, "d") { // a directory's listing is compared through its entries
			diff = append(diff, "changed "+p)
		}
	}
	for p := range before {
		if ignore != nil && ignore(p) {
			continue
		}
		if _, ok := after[p]; !ok {
			diff = append(diff, "removed "+p)
		}
	}
	slices.Sort(diff)
	return diff
}
