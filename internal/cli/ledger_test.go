package cli

// Tests of a lost or replaced ledger (run never creates one; `dpstats ledger
// init` does; a published report the ledger does not record refuses every
// run) and of a charged period whose report never appeared (a full file
// system at each write of the release protocol, then the retry).

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dpstats/dpstats/jobs/ledger"
)

func TestLedgerInitCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.jsonl")
	code, stdout, stderr := runCLI(t, "ledger", "init", "--ledger", path)
	if code != exitOK || !strings.Contains(stdout, "created the ledger "+path) {
		t.Fatalf("ledger init: exit %d\n%s%s", code, stdout, stderr)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ledger init made %v (err %v), want an empty file of mode 0600", fi, err)
	}
	// Safe to repeat: on an existing ledger it changes nothing.
	writeLedgerLines(t, path, ledgerLine(fi.ModTime(), job, "2026-11-01", 1, "r1"))
	before, _ := os.ReadFile(path)
	beforeInfo, _ := os.Stat(path)
	code, stdout, stderr = runCLI(t, "ledger", "init", "--ledger", path)
	if code != exitOK || !strings.Contains(stdout, "exists (1 record(s)): nothing changed") {
		t.Errorf("second ledger init: exit %d\n%s%s", code, stdout, stderr)
	}
	after, _ := os.ReadFile(path)
	afterInfo, _ := os.Stat(path)
	if !bytes.Equal(before, after) || !afterInfo.ModTime().Equal(beforeInfo.ModTime()) {
		t.Errorf("a repeated ledger init changed the ledger")
	}

	t.Setenv("DPSTATS_LEDGER", filepath.Join(dir, "from-env.jsonl"))
	if code, _, stderr := runCLI(t, "ledger", "init"); code != exitOK {
		t.Errorf("ledger init with DPSTATS_LEDGER: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "from-env.jsonl")); err != nil {
		t.Errorf("ledger init did not create the ledger named by DPSTATS_LEDGER: %v", err)
	}
	t.Setenv("DPSTATS_LEDGER", "")

	corrupt := filepath.Join(dir, "corrupt.jsonl")
	if err := os.WriteFile(corrupt, []byte("not a ledger\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"corrupt ledger", []string{"ledger", "init", "--ledger", corrupt}, exitDataErr},
		{"missing directory", []string{"ledger", "init", "--ledger", filepath.Join(dir, "no", "ledger.jsonl")}, exitCantCreate},
		{"a directory", []string{"ledger", "init", "--ledger", dir}, exitCantCreate},
		{"no --ledger", []string{"ledger", "init"}, exitUsage},
		{"an argument", []string{"ledger", "init", "--ledger", path, "extra"}, exitUsage},
		{"unknown ledger command", []string{"ledger", "frobnicate"}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, stderr := runCLI(t, tc.args...); code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
		})
	}
	if b, _ := os.ReadFile(corrupt); string(b) != "not a ledger\n" {
		t.Errorf("ledger init changed a corrupt ledger: %q", b)
	}
}

// TestRunNeverCreatesLedger: a run whose ledger does not exist exits 73,
// says how to create one, and creates nothing; the scenario (the
// ledger deleted, the next day run) is refused, and so is a run with a new
// empty ledger over an OUT that holds reports it does not record. All
// before reading the input, which is garbage (reading it would exit 65).
func TestRunNeverCreatesLedger(t *testing.T) {
	events, consent := genData(t)
	dir := t.TempDir()
	garbage := garbageInput(t, dir, "garbage.parquet")
	out, led := filepath.Join(dir, "out"), filepath.Join(dir, "ledger", "ledger.jsonl")
	if err := os.MkdirAll(filepath.Dir(led), 0o755); err != nil {
		t.Fatal(err)
	}

	r := runBin(t, runArgs(events, consent, day(0), out, led)...)
	if r.code != exitCantCreate || !strings.Contains(r.stderr, "dpstats ledger init") || !strings.Contains(r.stderr, led) {
		t.Fatalf("run without a ledger: want exit 73 naming the ledger and `dpstats ledger init`: %s", r)
	}
	for _, p := range []string{led, led + ".lock", out} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a run without a ledger created %s (err %v)", p, err)
		}
	}

	if r := runBin(t, "ledger", "init", "--ledger", led); r.code != 0 {
		t.Fatalf("ledger init: %s", r)
	}
	if r := runBin(t, runArgs(events, consent, day(0), out, led)...); !released(r) {
		t.Fatalf("release with the new ledger: %s", r)
	}
	published := filepath.Join(out, job, day(0))

	// The ledger is lost; the next day's run must not release onto nothing.
	if err := os.Remove(led); err != nil {
		t.Fatal(err)
	}
	r = runBin(t, runArgs(garbage, garbage, day(1), out, led)...)
	if r.code != exitCantCreate || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("next day with the ledger deleted: want exit 73, the ledger does not exist: %s", r)
	}
	if _, err := os.Lstat(led); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the run recreated the deleted ledger (err %v)", err)
	}

	// The init step of a schedule (--out, or DPSTATS_OUT as in the CronJob
	// and the cron wrapper) sees that the ledger was lost, not never made,
	// and does not create it.
	for _, how := range [][]string{{"--out", out}, {"DPSTATS_OUT=" + out}} {
		var r result
		if len(how) == 2 {
			r = runBin(t, "ledger", "init", "--ledger", led, "--out", out)
		} else {
			r = runIn(t, "", how, dpstatsBin(t), "ledger", "init", "--ledger", led)
		}
		if r.code != exitCantCreate || !strings.Contains(r.stderr, published) || !strings.Contains(r.stderr, "would not record") {
			t.Errorf("ledger init %v with the ledger lost and OUT holding reports: want exit 73 naming %s: %s", how, published, r)
		}
		if _, err := os.Lstat(led); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ledger init %v created the lost ledger (err %v)", how, err)
		}
	}

	// Someone "fixes" it by hand with a new empty ledger: OUT holds day 0's
	// report, which it does not record. Any period, --rerun or not, is
	// refused.
	if r := runBin(t, "ledger", "init", "--ledger", led); r.code != 0 {
		t.Fatalf("ledger init: %s", r)
	}
	if r := runBin(t, "ledger", "init", "--ledger", led, "--out", out); r.code != 0 || !strings.Contains(r.stdout, "nothing changed") {
		t.Errorf("ledger init --out on an existing ledger: want exit 0, nothing changed: %s", r)
	}
	for _, extra := range [][]string{nil, {"--rerun"}} {
		r = runBin(t, runArgs(garbage, garbage, day(1), out, led, extra...)...)
		if r.code != exitCantCreate || !strings.Contains(r.stderr, published) || !strings.Contains(r.stderr, "does not record") {
			t.Errorf("run %v over an unrecorded report: want exit 73 naming %s: %s", extra, published, r)
		}
	}
	if entries := mustReadLedger(t, led); len(entries) != 0 {
		t.Errorf("refused runs charged the new ledger: %v", entries)
	}
	if _, err := os.Lstat(filepath.Join(out, job, day(1))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused run published day 1 (err %v)", err)
	}
}

// mountTmpfs mounts a tmpfs of the given size ("120k") on a new directory
// and unmounts it at the end of the test. It skips the test where mounting
// is not permitted (not root, or in a container without CAP_SYS_ADMIN); the
// in-process tests of jobs/recorded_test.go cover the same failures with
// injected errors.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s): the full-disk tests need root", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillUp writes a file into dir until the file system is full, and returns
// its path.
func fillUp(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// stagedIn lists the staged reports (.staged-*) in OUT/<job>.
func stagedIn(t *testing.T, out string) []string {
	t.Helper()
	des, err := os.ReadDir(filepath.Join(out, job))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".staged-") {
			names = append(names, de.Name())
		}
	}
	return names
}

// publishFails runs `dpstats run` args under strace, which fails the
// publish's rename, the one rename whose target is the report's directory
// final (OUT/<job>/<period>), with ENOSPC. strace counts injections per
// thread, so the rename is chosen by its path (-P), not by its rank among
// the run's renames, which Go's scheduler may spread over threads. It skips
// the test if strace cannot inject here.
func publishFails(t *testing.T, final string, args []string) result {
	t.Helper()
	strace := straceOrSkip(t)
	sargs := append([]string{"-f", "-qq", "-o", "/dev/null", "-P", final,
		"-e", "trace=rename,renameat,renameat2",
		"-e", "inject=rename,renameat,renameat2:error=ENOSPC",
		dpstatsBin(t)}, args...)
	return runIn(t, "", nil, strace, sargs...)
}

// TestFullDiskAtEachWrite fails each write of the release protocol as a full
// file system does: staging the report (OUT on a small tmpfs), recording
// the spend (the ledger on a full tmpfs) and publishing (the rename fails),
// and checks the exit code, what was published, what was charged, and what
// the retry then does.
func TestFullDiskAtEachWrite(t *testing.T) {
	events, consent := genData(t)
	metrics := playbackMetrics(t)

	t.Run("staging: OUT too small for the report", func(t *testing.T) {
		dir := t.TempDir()
		out, led := mountTmpfs(t, "120k"), newLedgerPath(t, dir)
		r := runBin(t, runArgs(events, consent, day(0), out, led)...)
		if r.code != exitCantCreate || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "nothing charged") {
			t.Fatalf("want exit 73, no space left, nothing charged: %s", r)
		}
		st := checkReleaseState(t, "after the failed staging", out, led, metrics)
		if len(st.entries) != 0 || len(st.visible) != 0 || len(st.leftovers) != 0 {
			t.Errorf("a failed staging charged %d, published %v, left %v; want nothing", len(st.entries), st.visible, st.leftovers)
		}
		if out, err := exec.Command("mount", "-o", "remount,size=2m", out).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v: %s", err, out)
		}
		r = runBin(t, runArgs(events, consent, day(0), out, led)...)
		if !released(r) {
			t.Fatalf("the retry with room: %s", r)
		}
		st = checkReleaseState(t, "after the retry", out, led, metrics)
		if len(st.entries) != 1 || st.visible[day(0)] != st.entries[0].RunID {
			t.Errorf("after the retry: %d entries, visible %v; want one release, published", len(st.entries), st.visible)
		}
	})

	t.Run("ledger append: the ledger's file system is full", func(t *testing.T) {
		dir := t.TempDir()
		out, led := filepath.Join(dir, "out"), filepath.Join(mountTmpfs(t, "64k"), "ledger.jsonl")
		if _, _, err := ledger.Init(led); err != nil {
			t.Fatal(err)
		}
		filler := fillUp(t, filepath.Dir(led))
		r := runBin(t, runArgs(events, consent, day(0), out, led)...)
		if r.code != exitCantCreate || !strings.Contains(r.stderr, "record spend in ledger") || !strings.Contains(r.stderr, "no space left on device") {
			t.Fatalf("want exit 73, the spend could not be recorded: %s", r)
		}
		st := checkReleaseState(t, "after the failed append", out, led, metrics)
		staged := stagedIn(t, out)
		if len(st.entries) != 0 || len(st.visible) != 0 || len(staged) != 1 {
			t.Fatalf("after the failed append: %d entries, visible %v, staged %v; want nothing charged or published, one staged",
				len(st.entries), st.visible, staged)
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		r = runBin(t, runArgs(events, consent, day(0), out, led)...)
		if !released(r) {
			t.Fatalf("the retry with room: %s", r)
		}
		st = checkReleaseState(t, "after the retry", out, led, metrics)
		if len(st.entries) != 1 || st.visible[day(0)] != st.entries[0].RunID || ".staged-"+st.entries[0].RunID == staged[0] {
			t.Errorf("after the retry: entries %v, visible %v; want one fresh release, published", runIDs(st.entries), st.visible)
		}
		if left := stagedIn(t, out); len(left) != 0 {
			t.Errorf("the unrecorded staged report survived (it must never be published): %v", left)
		}
	})

	t.Run("publish: the rename fails after the spend is recorded", func(t *testing.T) {
		dir := t.TempDir()
		out, led := filepath.Join(dir, "out"), newLedgerPath(t, dir)
		r := publishFails(t, filepath.Join(out, job, day(0)), runArgs(events, consent, day(0), out, led))
		if r.code != exitCantCreate || !strings.Contains(r.stderr, "its spend is recorded") {
			t.Fatalf("want exit 73, the spend recorded: %s", r)
		}
		st := checkReleaseState(t, "after the failed publish", out, led, metrics)
		staged := stagedIn(t, out)
		if len(st.entries) != 1 || len(st.visible) != 0 || len(staged) != 1 || staged[0] != ".staged-"+st.entries[0].RunID {
			t.Fatalf("after the failed publish: entries %v, visible %v, staged %v; want charged once, nothing visible, staged under the run id",
				runIDs(st.entries), st.visible, staged)
		}
		stagedSnap := snapshot(t, filepath.Join(out, job, staged[0]))
		ledgerBefore, _ := os.ReadFile(led)

		// The retry a CronJob's backoff makes (no --rerun) publishes the
		// staged report as it is: no new noise, no new charge, exit 0. Its
		// input is garbage: it reads nothing.
		garbage := garbageInput(t, dir, "garbage.parquet")
		r = runBin(t, runArgs(garbage, garbage, day(0), out, led)...)
		if !publishedStaged(r) {
			t.Fatalf("the retry: want exit 0, the staged report published: %s", r)
		}
		st = checkReleaseState(t, "after the retry", out, led, metrics)
		if st.visible[day(0)] != st.entries[0].RunID {
			t.Errorf("the retry published run %q, want the recorded run %s", st.visible[day(0)], st.entries[0].RunID)
		}
		if after, _ := os.ReadFile(led); !bytes.Equal(after, ledgerBefore) {
			t.Errorf("the retry changed the ledger:\n%s", after)
		}
		if diff := diffSnapshots(stagedSnap, snapshot(t, filepath.Join(out, job, day(0))), nil); len(diff) > 0 {
			t.Errorf("the published report differs from the staged one: %v", diff)
		}
		if left := stagedIn(t, out); len(left) != 0 {
			t.Errorf("staged reports left after publishing: %v", left)
		}
		if r := runBin(t, runArgs(garbage, garbage, day(0), out, led)...); !alreadyReleased(r) {
			t.Errorf("the run after that: want already released: %s", r)
		}
	})

	t.Run("publish fails and nothing staged survives: exit 74, then --rerun", func(t *testing.T) {
		dir := t.TempDir()
		out, led := filepath.Join(dir, "out"), newLedgerPath(t, dir)
		if r := publishFails(t, filepath.Join(out, job, day(1)), runArgs(events, consent, day(1), out, led)); r.code != exitCantCreate {
			t.Fatalf("want exit 73: %s", r)
		}
		for _, s := range stagedIn(t, out) {
			if err := os.RemoveAll(filepath.Join(out, job, s)); err != nil {
				t.Fatal(err)
			}
		}
		ledgerBefore, _ := os.ReadFile(led)
		r := runBin(t, runArgs(events, consent, day(1), out, led)...)
		if r.code != exitReportMissing || !strings.Contains(r.stderr, "never published") || !strings.Contains(r.stderr, "--rerun") {
			t.Fatalf("retry with nothing staged: want exit 74 saying what happened and to use --rerun: %s", r)
		}
		if after, _ := os.ReadFile(led); !bytes.Equal(after, ledgerBefore) {
			t.Errorf("the failed retry changed the ledger")
		}
		if _, err := os.Lstat(filepath.Join(out, job, day(1))); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the failed retry published something (err %v)", err)
		}
		if r := runBin(t, runArgs(events, consent, day(1), out, led, "--rerun")...); !released(r) {
			t.Fatalf("--rerun: %s", r)
		}
		st := checkReleaseState(t, "after --rerun", out, led, metrics)
		if n := len(entriesFor(st.entries, job, day(1))); n != 2 || st.visible[day(1)] != st.entries[1].RunID {
			t.Errorf("after --rerun: %d charges of %s, visible %v; want 2 (charged again), the rerun's report", n, day(1), st.visible)
		}
	})
}
