//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFromRusage(t *testing.T) {
	ru := &syscall.Rusage{Maxrss: 1536}
	ru.Utime.Sec, ru.Utime.Usec = 2, 500_000
	ru.Stime.Sec, ru.Stime.Usec = 0, 250_000
	for goos, wantRSS := range map[string]int64{"linux": 1536 << 10, "freebsd": 1536 << 10, "darwin": 1536} {
		u := fromRusage(ru, goos)
		if u.MaxRSS != wantRSS {
			t.Errorf("%s: MaxRSS = %d, want %d", goos, u.MaxRSS, wantRSS)
		}
		if got, want := u.User, 2500*time.Millisecond; got != want {
			t.Errorf("%s: User = %v, want %v", goos, got, want)
		}
		if got, want := u.CPU(), 2750*time.Millisecond; got != want {
			t.Errorf("%s: CPU = %v, want %v", goos, got, want)
		}
	}
}

func TestCPUPerWall(t *testing.T) {
	u := usage{Wall: 2 * time.Second, User: 3 * time.Second, Sys: time.Second}
	if got, want := u.CPUPerWall(), 2.0; got != want {
		t.Errorf("CPUPerWall = %v, want %v", got, want)
	}
	if got := (usage{User: time.Second}).CPUPerWall(); got != 0 {
		t.Errorf("CPUPerWall without wall time = %v, want 0", got)
	}
}

// TestRunChildUsage starts a real child that touches 96 MiB: its peak RSS,
// as the OS reports it, must show them.
func TestRunChildUsage(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DPSTATS_BENCH_TEST_ROLE", "alloc")
	t.Setenv("DPSTATS_BENCH_TEST_MIB", "96")
	u, out, err := runChild(testContext(t), child{Name: "alloc", Path: exe})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "100663296 true"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if u.MaxRSS < 96<<20 || u.MaxRSS > 4<<30 {
		t.Errorf("MaxRSS = %d bytes, want at least 96 MiB (and not absurd)", u.MaxRSS)
	}
	if u.Wall <= 0 || u.User <= 0 {
		t.Errorf("usage = %+v, want wall and user time", u)
	}
	if self := selfMaxRSS(); self <= 0 {
		t.Errorf("selfMaxRSS = %d", self)
	}
}

func TestRunChildFailureQuotesStderr(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("DPSTATS_BENCH_TEST_ROLE", "fail")
	var log strings.Builder
	_, _, err = runChild(testContext(t), child{Name: "run 1M/200k", Path: exe, Args: []string{"run", "--out", "a b"}, Log: &log})
	if err == nil {
		t.Fatal("runChild succeeded, want the child's failure")
	}
	for _, want := range []string{"run 1M/200k: ", "run --out 'a b'", "exit status 65", "\n    something broke: input error"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if !strings.Contains(log.String(), "something broke") {
		t.Errorf("log = %q, want the child's stderr", log.String())
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	tb.Write([]byte("abc"))
	if got := tb.String(); got != "abc" {
		t.Errorf("String = %q", got)
	}
	tb.Write([]byte("defghijk"))
	if got, want := tb.String(), "…defghijk"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
