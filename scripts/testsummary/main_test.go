package main

import (
	"bytes"
	"strings"
	"testing"
)

// A go test -json stream with a passing, a failing and a skipped test in
// one package, a skipped subtest in another, a package without tests, a
// build error and a line that is not JSON.
const stream = `{"Action":"start","Package":"example.com/a"}
{"Action":"run","Package":"example.com/a","Test":"TestPass"}
{"Action":"output","Package":"example.com/a","Test":"TestPass","Output":"=== RUN   TestPass\n"}
{"Action":"output","Package":"example.com/a","Test":"TestPass","Output":"    a_test.go:5: chatty log of a passing test\n"}
{"Action":"output","Package":"example.com/a","Test":"TestPass","Output":"--- PASS: TestPass (0.00s)\n"}
{"Action":"pass","Package":"example.com/a","Test":"TestPass"}
{"Action":"run","Package":"example.com/a","Test":"TestFail"}
{"Action":"output","Package":"example.com/a","Test":"TestFail","Output":"=== RUN   TestFail\n"}
{"Action":"output","Package":"example.com/a","Test":"TestFail","Output":"    a_test.go:9: got 1, want 2\n"}
{"Action":"output","Package":"example.com/a","Test":"TestFail","Output":"--- FAIL: TestFail (0.00s)\n"}
{"Action":"fail","Package":"example.com/a","Test":"TestFail"}
{"Action":"run","Package":"example.com/a","Test":"TestBrowser"}
{"Action":"output","Package":"example.com/a","Test":"TestBrowser","Output":"=== RUN   TestBrowser\n"}
{"Action":"output","Package":"example.com/a","Test":"TestBrowser","Output":"    browser_test.go:34: chromium not installed\n"}
{"Action":"output","Package":"example.com/a","Test":"TestBrowser","Output":"--- SKIP: TestBrowser (0.00s)\n"}
{"Action":"skip","Package":"example.com/a","Test":"TestBrowser"}
{"Action":"output","Package":"example.com/a","Output":"FAIL\n"}
{"Action":"output","Package":"example.com/a","Output":"FAIL\texample.com/a\t0.01s\n"}
{"Action":"fail","Package":"example.com/a"}
{"Action":"run","Package":"github.com/dpstats/dpstats/b","Test":"TestCorpus/stress"}
{"Action":"output","Package":"github.com/dpstats/dpstats/b","Test":"TestCorpus/stress","Output":"    corpus_test.go:201: set DPSTATS_STRESS=1\n"}
{"Action":"skip","Package":"github.com/dpstats/dpstats/b","Test":"TestCorpus/stress"}
{"Action":"output","Package":"github.com/dpstats/dpstats/b","Output":"PASS\n"}
{"Action":"output","Package":"github.com/dpstats/dpstats/b","Output":"ok  \tgithub.com/dpstats/dpstats/b\t0.02s\n"}
{"Action":"pass","Package":"github.com/dpstats/dpstats/b"}
{"Action":"output","Package":"example.com/c","Output":"?   \texample.com/c\t[no test files]\n"}
{"Action":"skip","Package":"example.com/c"}
{"ImportPath":"example.com/d","Action":"build-output","Output":"d.go:3:1: syntax error\n"}
go: something the go command said
{"Action":"run","Package":"example.com/e","Test":"TestHang"}
{"Action":"output","Package":"example.com/e","Test":"TestHang","Output":"panic: test timed out after 1s\n"}
{"Action":"output","Package":"example.com/e","Output":"FAIL\texample.com/e\t1.00s\n"}
{"Action":"fail","Package":"example.com/e"}
`

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out)
	if err := s.read(strings.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	s.printSkips()
	got := out.String()
	for _, want := range []string{
		"    a_test.go:9: got 1, want 2\n--- FAIL: TestFail (0.00s)\n",
		"FAIL\texample.com/a\t0.01s\n",
		"ok  \tgithub.com/dpstats/dpstats/b\t0.02s\n",
		"?   \texample.com/c\t[no test files]\n",
		"d.go:3:1: syntax error\n",
		"go: something the go command said\n",
		"panic: test timed out after 1s\n",
		"\nskipped tests (2):\n  example.com/a TestBrowser: browser_test.go:34: chromium not installed\n  b TestCorpus/stress: corpus_test.go:201: set DPSTATS_STRESS=1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"chatty log of a passing test", "PASS\n", "=== RUN"} {
		if strings.Contains(strings.ReplaceAll(got, "--- FAIL", ""), bad) {
			t.Errorf("output has %q, which a plain go test does not print:\n%s", bad, got)
		}
	}
	if !strings.HasSuffix(got, "set DPSTATS_STRESS=1\n") {
		t.Errorf("the skip list is not at the end:\n%s", got)
	}
	// The last line counts the tests: TestPass; TestFail and TestHang
	// (its package failed while it ran); TestBrowser and TestCorpus/stress.
	out.Reset()
	s.printTotals()
	if got, want := out.String(), "\ntests: 1 passed, 2 failed, 2 skipped\n"; got != want {
		t.Errorf("totals = %q, want %q", got, want)
	}
}

func TestSummaryNoSkips(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out)
	if err := s.read(strings.NewReader(`{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	s.printSkips()
	if got, want := out.String(), "ok  \tp\t0.1s\n"; got != want {
		t.Errorf("output = %q, want %q (no skip list when nothing skipped)", got, want)
	}
}
