// Command testsummary runs `go test -json` with its arguments, prints what
// a plain `go test` prints (the ok / FAIL line of every package, the output
// of failing tests, build errors), and ends with the list of tests that
// skipped and why: a skipped test is otherwise invisible in `make test`.
// Its last line counts the tests (subtests included): "tests: N passed,
// N failed, N skipped". It exits with go test's exit status.
//
//	go run ./scripts/testsummary -count=1 ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

func main() {
	cmd := exec.Command("go", append([]string{"test", "-json"}, os.Args[1:]...)...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	s := newSummary(os.Stdout)
	if err := s.read(stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
	}
	err = cmd.Wait()
	s.printSkips()
	s.printTotals()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	case err != nil:
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

// summary turns a stream of events into plain go test output plus a list
// of skips.
type summary struct {
	w io.Writer
	// output buffers each running test's output (package + "\x00" + test),
	// printed only if it fails.
	output map[string][]string
	skips  []skip
	// passed, failed and skipped count tests and subtests; a test still
	// running when its package failed (a panic, a timeout) counts as failed.
	passed, failed, skipped int
}

type skip struct{ pkg, test, reason string }

func newSummary(w io.Writer) *summary {
	return &summary{w: w, output: map[string][]string{}}
}

func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &ev) != nil {
			fmt.Fprintf(s.w, "%s\n", line) // not an event: pass it through
			continue
		}
		s.handle(ev)
	}
	return sc.Err()
}

func (s *summary) handle(ev event) {
	key := ev.Package + "\x00" + ev.Test
	switch {
	case ev.Action == "build-output":
		fmt.Fprint(s.w, ev.Output)
	case ev.Test == "" && ev.Action == "output":
		// Package-level output: the ok / FAIL lines, and whatever a test
		// binary printed outside a test (a panic in TestMain, a timeout).
		// A plain go test prints no bare PASS line for a passing package.
		if ev.Output != "PASS\n" {
			fmt.Fprint(s.w, ev.Output)
		}
	case ev.Test == "" && ev.Action == "fail":
		// Tests that never finished (the binary panicked or timed out):
		// their output explains the failure.
		prefix := ev.Package + "\x00"
		var keys []string
		for k := range s.output {
			if strings.HasPrefix(k, prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprint(s.w, strings.Join(s.output[k], ""))
			delete(s.output, k)
			s.failed++
		}
	case ev.Test == "":
	case ev.Action == "output":
		// -json implies -v: drop the === RUN / PAUSE / CONT lines that a
		// plain go test does not print.
		if !strings.HasPrefix(ev.Output, "=== ") {
			s.output[key] = append(s.output[key], ev.Output)
		}
	case ev.Action == "fail":
		fmt.Fprint(s.w, strings.Join(s.output[key], ""))
		delete(s.output, key)
		s.failed++
	case ev.Action == "skip":
		s.skips = append(s.skips, skip{pkg: ev.Package, test: ev.Test, reason: skipReason(s.output[key])})
		delete(s.output, key)
		s.skipped++
	case ev.Action == "pass":
		delete(s.output, key)
		s.passed++
	}
}

// skipReason is what a skipped test said: its output without the === and
// --- lines go test adds, on one line.
func skipReason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}

// printSkips ends the output with one line per skipped test.
func (s *summary) printSkips() {
	if len(s.skips) == 0 {
		return
	}
	fmt.Fprintf(s.w, "\nskipped tests (%d):\n", len(s.skips))
	for _, sk := range s.skips {
		pkg := strings.TrimPrefix(sk.pkg, "github.com/dpstats/dpstats/")
		fmt.Fprintf(s.w, "  %s %s: %s\n", pkg, sk.test, sk.reason)
	}
}

// printTotals ends the output with the count of tests, in the plain form
// CI reads: "tests: N passed, N failed, N skipped".
func (s *summary) printTotals() {
	fmt.Fprintf(s.w, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
}
