package deploy

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const testVersion = "v0.0.0-static-test"

// podUID is the distroless "nonroot" user the Dockerfile and the CronJob use.
const podUID = 65532

// TestStaticBinary builds dpstats as the Dockerfile does (CGO off, -trimpath,
// version stamped) and runs it the way the container runs it: no
// environment at all (no HOME, no TMPDIR, no PATH), from a working directory
// it may not write to. The image cannot be built here (no container engine),
// so this is the check that the binary inside it works.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	work := t.TempDir()
	// Let uid 65532 reach the binary and its output in the "pod" subtest.
	for _, d := range []string{work, filepath.Dir(work)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(work, "dpstats")
	buildStatic(t, bin)

	// A working directory the process must not write to. Tests run as root
	// here, and root ignores 0555, so every subtest also compares its
	// content before and after.
	cwd := filepath.Join(work, "cwd")
	if err := os.Mkdir(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cwd, "keep"), []byte("x"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cwd, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(cwd, 0o755) })

	t.Run("static ELF", func(t *testing.T) {
		if runtime.GOOS != "linux" {
			t.Skip("ELF check on linux only")
		}
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary has a dynamic loader (PT_INTERP): it would not run on distroless/static or scratch")
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("binary links %v dynamically", libs)
		}
	})

	t.Run("version", func(t *testing.T) {
		stdout, _ := runBare(t, bin, cwd, nil, 0, "--version")
		if !strings.Contains(stdout, testVersion) {
			t.Errorf("dpstats --version printed %q, want the stamped %q", stdout, testVersion)
		}
	})

	t.Run("help", func(t *testing.T) {
		stdout, _ := runBare(t, bin, cwd, nil, 0, "--help")
		for _, cmd := range []string{"run", "demo", "budget", "ledger", "EXIT STATUS"} {
			if !strings.Contains(stdout, cmd) {
				t.Errorf("dpstats --help lacks %q:\n%s", cmd, stdout)
			}
		}
	})

	// The ConfigMap's keys (knownEnv) are exactly the environment
	// variables `dpstats run` reads: a renamed flag breaks the manifests.
	t.Run("run reads the environment the manifests set", func(t *testing.T) {
		stdout, _ := runBare(t, bin, cwd, nil, 0, "run", "--help")
		var got []string
		for _, m := range regexp.MustCompile(`\$(DPSTATS_[A-Z_]+)`).FindAllStringSubmatch(stdout, -1) {
			if !slices.Contains(got, m[1]) {
				got = append(got, m[1])
			}
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(knownEnv))
		if !slices.Equal(got, want) {
			t.Errorf("dpstats run --help lists env %v,\nmanifests_test.go knows %v", got, want)
		}
	})

	t.Run("demo in a bare environment", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out") // does not exist yet, like /tmp/out in `docker run IMAGE demo --out /tmp/out`
		stdout, _ := runBare(t, bin, cwd, nil, 0, "demo", "--out", out)
		index := checkDemoOutput(t, out)
		if !strings.Contains(stdout, index) {
			t.Errorf("demo did not print the report's path %s:\n%s", index, stdout)
		}
		ledger := filepath.Join(out, "ledger.jsonl")
		before, err := os.ReadFile(ledger)
		if err != nil {
			t.Fatal(err)
		}
		// Running it again (a retried pod) releases nothing new and spends
		// nothing: the ledger is unchanged.
		runBare(t, bin, cwd, nil, 0, "demo", "--out", out)
		after, err := os.ReadFile(ledger)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("a second demo run changed the ledger:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("TMPDIR and HOME stay untouched", func(t *testing.T) {
		tmp, home := t.TempDir(), t.TempDir()
		env := []string{"TMPDIR=" + tmp, "HOME=" + home, "XDG_CACHE_HOME=" + home}
		out := filepath.Join(t.TempDir(), "out")
		runBare(t, bin, cwd, env, 0, "demo", "--out", out)
		checkDemoOutput(t, out)
		for _, d := range []string{tmp, home} {
			if got := listTree(t, d); len(got) > 0 {
				t.Errorf("dpstats wrote into %s: %v (it must write only under --out)", d, got)
			}
		}
	})

	// The CronJob's init container and the cron wrapper run `dpstats ledger
	// init` before every run, with the ConfigMap's settings: it creates the
	// ledger once, changes nothing afterwards, and refuses to create a lost
	// ledger while the reports survive.
	t.Run("ledger init as the schedule's init step", func(t *testing.T) {
		dir := t.TempDir()
		reports := filepath.Join(dir, "reports")
		led := filepath.Join(dir, "ledger.jsonl")
		env := []string{"DPSTATS_LEDGER=" + led, "DPSTATS_OUT=" + reports}
		runBare(t, bin, cwd, env, 0, "ledger", "init")
		stdout, _ := runBare(t, bin, cwd, env, 0, "ledger", "init")
		if !strings.Contains(stdout, "nothing changed") {
			t.Errorf("a repeated ledger init does not say it changed nothing: %s", stdout)
		}
		runBare(t, bin, cwd, nil, 0, "demo", "--out", reports) // reports appear in OUT
		if err := os.Remove(led); err != nil {
			t.Fatal(err)
		}
		_, stderr := runBare(t, bin, cwd, env, 73, "ledger", "init")
		if !strings.Contains(stderr, "would not record") {
			t.Errorf("ledger init of a lost ledger: %s", stderr)
		}
		if _, err := os.Stat(led); err == nil {
			t.Error("ledger init created a lost ledger while the reports survive")
		}
	})

	t.Run("bad usage exits 64", func(t *testing.T) {
		_, stderr := runBare(t, bin, cwd, nil, 64, "demo", "--no-such-flag")
		if stderr == "" {
			t.Error("no message on stderr for a usage error")
		}
	})

	// As close to the pod as a test can get: a private mount namespace
	// where / is read-only and only the output directory is writable,
	// running as uid 65532 without privileges (no_new_privs, no
	// capabilities), with an empty environment.
	t.Run("demo like the pod: read-only root, uid 65532", func(t *testing.T) {
		requirePodSandbox(t)
		pod := filepath.Join(work, "pod")
		if err := os.Mkdir(pod, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(pod, podUID, podUID); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(pod, "out")
		script := `set -e
mount --bind "$1" "$1"
mount -o remount,bind,ro /
cd "$2"
if touch /dpstats-rootfs-probe 2>/dev/null; then echo "root filesystem is writable" >&2; exit 99; fi
exec setpriv --reuid 65532 --regid 65532 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all \
  env -i "$3" demo --out "$4"`
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", pod, cwd, bin, out)
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} // for unshare, mount and setpriv only; dpstats gets env -i
		before := listTree(t, cwd)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("pod-like demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		if after := listTree(t, cwd); !slices.Equal(before, after) {
			t.Errorf("working directory changed:\nbefore %v\nafter  %v", before, after)
		}
		checkDemoOutput(t, out)
		fi, err := os.Stat(filepath.Join(out, "ledger.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
			t.Errorf("ledger mode %v, want %v", got, want)
		}
		if _, err := os.Stat("/dpstats-rootfs-probe"); err == nil {
			t.Error("the read-only root was not read-only")
		}
	})
}

// buildStatic builds ./cmd/dpstats like deploy/Dockerfile does.
func buildStatic(t *testing.T, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-X main.version="+testVersion, "-o", bin, "./cmd/dpstats")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build -trimpath ./cmd/dpstats: %v\n%s", err, out)
	}
}

// runBare runs bin with exactly env (nil means none at all: exec.Cmd would
// inherit the test's environment for a nil Env, so an empty slice is
// passed) in dir, checks the exit code and that dir is unchanged, and
// returns stdout and stderr.
func runBare(t *testing.T, bin, dir string, env []string, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	before := listTree(t, dir)
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("dpstats %v: %v", args, err)
	}
	if code != wantCode {
		t.Errorf("dpstats %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, o.String(), e.String())
	}
	if after := listTree(t, dir); !slices.Equal(before, after) {
		t.Errorf("dpstats %s wrote into its working directory:\nbefore %v\nafter  %v", strings.Join(args, " "), before, after)
	}
	return o.String(), e.String()
}

// checkDemoOutput checks the demo's report and ledger under out and returns
// the newest index.html.
func checkDemoOutput(t *testing.T, out string) string {
	t.Helper()
	indexes, err := filepath.Glob(filepath.Join(out, "playback-daily", "*", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if len(indexes) == 0 {
		t.Fatalf("no %s/playback-daily/<period>/index.html; tree: %v", out, listTree(t, out))
	}
	for _, f := range []string{"ledger.jsonl", filepath.Join("playback-daily", "latest.json")} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("demo output lacks %s: %v", f, err)
		}
	}
	slices.Sort(indexes)
	return indexes[len(indexes)-1]
}

// listTree lists everything under dir (relative path, type, size), sorted.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %v %d", rel, fi.Mode(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requirePodSandbox skips unless the test can make a read-only root in a
// private mount namespace and drop to another user: linux, root, and
// util-linux's unshare and setpriv.
func requirePodSandbox(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs linux and root (mount namespace, setuid); the bare-environment subtests still ran")
	}
	for _, tool := range []string{"unshare", "mount", "setpriv", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	probe := exec.Command("unshare", "--mount", "--propagation", "private", "true")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot create a mount namespace here: %v %s", err, out)
	}
}
