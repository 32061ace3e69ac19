package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a child process: with childEnv set it runs one
// of the modes below instead of the tests, so that locking is tested between
// real processes.
const childEnv = "DPSTATS_LEDGER_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode, os.Args[len(os.Args)-3:]); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child runs mode with args (path, job, n):
//
//	append:  n times lock, append (job, period i), unlock
//	release: lock, append (job, "P") unless already released; print the outcome
//	ack:     append (job, period i) for i = 0, 1, … and print i after each
//	hold:    lock, print "locked", sleep until killed
func child(mode string, args []string) error {
	path, job := args[0], args[1]
	n, err := strconv.Atoi(args[2])
	if err != nil {
		return err
	}
	f, err := Open(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch mode {
	case "append":
		for i := 0; i < n; i++ {
			if err := lockedAppend(ctx, f, job, strconv.Itoa(i)); err != nil {
				return err
			}
		}
	case "release":
		appended, err := releaseOnce(ctx, f, job, "P")
		if err != nil {
			return err
		}
		fmt.Println(map[bool]string{true: "appended", false: "skipped"}[appended])
	case "ack":
		// Append forever, printing each period once Append has returned:
		// from then on the spend must survive anything.
		for i := 0; ; i++ {
			if err := lockedAppend(ctx, f, job, strconv.Itoa(i)); err != nil {
				return err
			}
			fmt.Println(i)
		}
	case "hold":
		tx, err := f.Lock(context.Background())
		if err != nil {
			return err
		}
		_ = tx
		fmt.Println("locked")
		time.Sleep(time.Hour)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	return nil
}

func lockedAppend(ctx context.Context, l Ledger, job, period string) error {
	tx, err := l.Lock(ctx)
	if err != nil {
		return err
	}
	defer tx.Unlock()
	return tx.Append(Entry{Job: job, Period: period, Epsilon: 0.5, Delta: 1e-10, RunID: strings.Repeat("x", 300)})
}

// releaseOnce is the first and third steps of the release protocol.
func releaseOnce(ctx context.Context, l Ledger, job, period string) (bool, error) {
	tx, err := l.Lock(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Unlock()
	if _, ok := tx.Released(job, period); ok {
		return false, nil
	}
	time.Sleep(time.Millisecond) // widen the check-then-append window
	return true, tx.Append(Entry{Job: job, Period: period, Epsilon: 1})
}

func startChild(t *testing.T, mode, path, job string, n int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", path, job, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.Stderr = os.Stderr
	return cmd
}

// checkLines verifies that the ledger holds exactly want[job][period] entries
// and that every line is a whole record.
func checkLines(t *testing.T, f *File, want map[string]int, periods int) {
	t.Helper()
	es, err := f.Entries()
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	seen := map[string]int{}
	for _, e := range es {
		if e.Torn {
			t.Errorf("line %d is torn: appends interleaved", e.Line)
		}
		seen[e.Job+"/"+e.Period]++
	}
	total := 0
	for job, n := range want {
		for p := 0; p < periods; p++ {
			if got := seen[job+"/"+strconv.Itoa(p)]; got != n {
				t.Errorf("%s period %d: %d entries, want %d", job, p, got, n)
			}
			total += n
		}
	}
	if len(es) != total {
		t.Errorf("%d entries, want %d", len(es), total)
	}
}

func TestConcurrentAppendGoroutines(t *testing.T) {
	f := openTemp(t)
	const workers, each = 8, 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := lockedAppend(ctx, f, fmt.Sprint("g", w), strconv.Itoa(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := map[string]int{}
	for w := 0; w < workers; w++ {
		want[fmt.Sprint("g", w)] = 1
	}
	checkLines(t, f, want, each)
}

func TestConcurrentAppendProcesses(t *testing.T) {
	f := openTemp(t)
	procs, each := 4, 25
	if testing.Short() {
		each = 5
	}
	var cmds []*exec.Cmd
	want := map[string]int{}
	for p := 0; p < procs; p++ {
		job := fmt.Sprint("p", p)
		want[job] = 1
		cmd := startChild(t, "append", f.Path(), job, each)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	// And goroutines of this process at the same time.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < each; i++ {
		if err := lockedAppend(ctx, f, "parent", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	want["parent"] = 1
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	checkLines(t, f, want, each)
}

func TestReleaseExactlyOnce(t *testing.T) {
	f := openTemp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Goroutines and processes race to release job X, period P.
	const goroutines, procs = 16, 4
	var appended sync.WaitGroup
	var mu sync.Mutex
	count := 0
	for g := 0; g < goroutines; g++ {
		appended.Add(1)
		go func() {
			defer appended.Done()
			ok, err := releaseOnce(ctx, f, "X", "P")
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	outs := make([]strings.Builder, procs)
	var cmds []*exec.Cmd
	for p := 0; p < procs; p++ {
		cmd := startChild(t, "release", f.Path(), "X", 0)
		cmd.Stdout = &outs[p]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	appended.Wait()
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
		switch out := strings.TrimSpace(outs[p].String()); out {
		case "appended":
			count++
		case "skipped":
		default:
			t.Errorf("child printed %q", out)
		}
	}
	if count != 1 {
		t.Errorf("%d releases of (X, P), want exactly 1", count)
	}
	es, err := f.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Errorf("ledger has %d entries, want 1: %+v", len(es), es)
	}
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	f := openTemp(t)
	cmd := startChild(t, "hold", f.Path(), "-", 0)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}

	// No deadline: ErrLocked at once, naming the holder.
	start := time.Now()
	_, err = f.Lock(context.Background())
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lock without deadline took %v", d)
	}
	if want := fmt.Sprintf("held by pid %d", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// A short deadline: ErrLocked after waiting for it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := f.Lock(ctx); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock with deadline = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 5*time.Second {
		t.Errorf("Lock with a 100ms deadline returned after %v", d)
	}

	// SIGKILL the holder: the kernel drops the flock and the ledger is
	// usable again, with no clean-up.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	tx, err := f.Lock(ctx2)
	if err != nil {
		t.Fatalf("Lock after the holder was killed = %v", err)
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Path() + ".lock"); err != nil {
		t.Errorf("lock file: %v (it must never be deleted)", err)
	}
}

// TestKillDuringAppends SIGKILLs an appending process at random moments:
// afterwards the ledger parses, holds every append that was acknowledged,
// and takes new appends.
func TestKillDuringAppends(t *testing.T) {
	f := openTemp(t)
	trials := 20
	if testing.Short() {
		trials = 5
	}
	acked := map[string]bool{}
	for trial := 0; trial < trials; trial++ {
		job := fmt.Sprint("k", trial)
		cmd := startChild(t, "ack", f.Path(), job, 0)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				acked[job+"/"+sc.Text()] = true
			}
			close(done)
		}()
		time.Sleep(time.Duration(5+trial*7%40) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		cmd.Wait()

		es, err := f.Entries()
		if err != nil {
			t.Fatalf("trial %d: ledger unreadable after SIGKILL: %v", trial, err)
		}
		have := map[string]bool{}
		for _, e := range es {
			have[e.Job+"/"+e.Period] = true
		}
		for k := range acked {
			if !have[k] {
				t.Fatalf("trial %d: acknowledged append %s is missing", trial, k)
			}
		}
	}
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged: the test did not test anything")
	}
	if err := lockedAppend(context.Background(), f, "after", "0"); err != nil {
		t.Fatalf("append after the kills: %v", err)
	}
	t.Logf("%d trials, %d acknowledged appends", trials, len(acked))
}
