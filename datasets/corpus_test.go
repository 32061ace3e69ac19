package datasets

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The corpus (../shared/corpus, see its README.md) holds 359 Parquet and
// Arrow IPC files written by other tools, valid and malformed, with what
// arrow-go v18.8.0 itself did with each (expected.tsv: outcome_v18,
// rows_v18, footer_rows).
//
// TestCorpus runs Inspect (the `dpstats inspect` code path) over every file
// except parquet/stress/ and checks:
//   - a file v18 reads (outcome_v18 = ok) with all the rows its footer
//     counts reads here with exactly rows_v18 rows;
//   - every other file is an *InputError: v18's errors, its 16 recoverable
//     panics, and parquet/bad/parquet_column_num_values_mismatch.parquet,
//     which v18 short-reads silently (0 of 8 rows) and our reader rejects
//     with ErrRowCount;
//   - nothing panics, nothing runs longer than corpusTimeout, and the
//     memory the Go runtime holds stays under corpusMaxHeap.
//
// Files where dpstats deliberately differs from v18 are listed in
// corpusDeviations with the reason.
var corpusDeviations = map[string]string{
	// v18 reads these "ok"; dpstats rejects them on purpose. They lack the
	// leading magic bytes: arrow-go checks only the trailing "PAR1" /
	// "ARROW1" and reads fuzzer garbage as an empty table, while dpstats
	// detects the format from the magic at both ends (DetectFormat) and
	// calls such a file unrecognized (ErrFormat).
	"arrow/bad/clusterfuzz-testcase-minimized-arrow-ipc-file-fuzz-5707423356813312.arrow_file": "no leading ARROW1 magic",
	"parquet/bad/clusterfuzz-testcase-minimized-parquet-arrow-fuzz-4740205688193024":           "no leading PAR1 magic",
	"parquet/bad/clusterfuzz-testcase-minimized-parquet-arrow-fuzz-5665099979423744":           "no leading PAR1 magic",
	// A fuzzer-made map whose key field is named "iey": v18 reads it, but
	// Inspect validates every array fully and the map type is inconsistent.
	"parquet/bad/crash-649c71a618ae2fd80cec177a9676eb3e280fc1fa": "malformed map type (ValidateFull)",
}

// corpusRows lists files whose row count differs from v18's rows_v18.
var corpusRows = map[string]int64{
	// Zero columns, footer num_rows = 2: ReadTable returns an empty table
	// (0 rows); dpstats reports the footer's 2 rows, as records with no
	// columns, so the rows-read check holds for it too.
	"parquet/good/no_columns.parquet": 2,
}

const (
	corpusTimeout = 30 * time.Second
	corpusMaxHeap = 512 << 20
)

// corpusPath is where the corpus is: $DPSTATS_CORPUS, or ../shared/corpus
// next to the repository.
func corpusPath() string {
	if dir := os.Getenv("DPSTATS_CORPUS"); dir != "" {
		return dir
	}
	return filepath.Join("..", "..", "shared", "corpus")
}

// corpusDir returns the corpus directory. Without it the corpus tests
// skip, except under CI (CI=true), where a skipped corpus test would hide
// that the readers were never tried on foreign files: there it fails.
func corpusDir(t testing.TB) string {
	dir := corpusPath()
	if _, err := os.Stat(filepath.Join(dir, "expected.tsv")); err != nil {
		if underCI() {
			t.Fatalf("corpus not found at %s (%v), and CI is set: the corpus tests must run in CI (set DPSTATS_CORPUS to its location)", dir, err)
		}
		t.Skipf("corpus not found at %s: %v (set DPSTATS_CORPUS to its location; under CI=true this fails)", dir, err)
	}
	return dir
}

// underCI reports whether the tests run in CI (CI set, and not to false
// or 0), where tests that need the corpus must not skip.
func underCI() bool {
	ci := os.Getenv("CI")
	return ci != "" && ci != "false" && ci != "0"
}

type corpusEntry struct {
	path       string
	outcome    string
	rows       int64
	footerRows int64 // -1 if none
}

func readExpected(t testing.TB, dir string) []corpusEntry {
	f, err := os.Open(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var col map[string]int
	var out []corpusEntry
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = make(map[string]int)
			for i, name := range fields {
				col[name] = i
			}
			for _, need := range []string{"path", "outcome_v18", "rows_v18", "footer_rows"} {
				if _, ok := col[need]; !ok {
					t.Fatalf("expected.tsv has no column %q", need)
				}
			}
			continue
		}
		e := corpusEntry{path: fields[col["path"]], outcome: fields[col["outcome_v18"]], footerRows: -1}
		if v := fields[col["rows_v18"]]; v != "" {
			e.rows, _ = strconv.ParseInt(v, 10, 64)
		}
		if v := fields[col["footer_rows"]]; v != "" {
			e.footerRows, _ = strconv.ParseInt(v, 10, 64)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// inspectWithTimeout runs Inspect on its own goroutine so a hang fails the
// test instead of stalling it. (A panic would crash the binary: Inspect
// must never let one through, and this test is how we know.)
func inspectWithTimeout(path string, d time.Duration) (FileInfo, error, bool) {
	type result struct {
		info FileInfo
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		info, err := Inspect(path)
		ch <- result{info, err}
	}()
	select {
	case r := <-ch:
		return r.info, r.err, true
	case <-time.After(d):
		return FileInfo{}, nil, false
	}
}

func TestCorpus(t *testing.T) {
	dir := corpusDir(t)
	entries := readExpected(t, dir)
	if got, want := len(entries), 359; got != want {
		t.Logf("expected.tsv lists %d files, README says %d", got, want)
	}
	var nRead, nRejected int
	for _, e := range entries {
		if strings.HasPrefix(e.path, "parquet/stress/") {
			continue
		}
		e := e
		t.Run(e.path, func(t *testing.T) {
			path := filepath.Join(dir, filepath.FromSlash(e.path))
			start := time.Now()
			info, err, done := inspectWithTimeout(path, corpusTimeout)
			if !done {
				t.Fatalf("Inspect did not return within %v", corpusTimeout)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > corpusMaxHeap {
				t.Errorf("heap %d MiB after reading (limit %d MiB)", ms.HeapAlloc>>20, corpusMaxHeap>>20)
			}
			shouldRead := e.outcome == "ok" && (e.footerRows < 0 || e.footerRows == e.rows)
			if reason, ok := corpusDeviations[e.path]; ok {
				shouldRead = !shouldRead
				t.Logf("deviates from v18 on purpose: %s", reason)
			}
			if shouldRead {
				if err != nil {
					t.Fatalf("Inspect: %v (v18: ok, %d rows)", err, e.rows)
				}
				want := e.rows
				if n, ok := corpusRows[e.path]; ok {
					want = n
				}
				if got := info.Rows; got != want {
					t.Errorf("rows = %d, want %d", got, want)
				}
				nRead++
			} else {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("Inspect: got %v (%T, %d rows), want an *InputError (v18: %s, %d rows, footer %d)", err, err, info.Rows, e.outcome, e.rows, e.footerRows)
				}
				if ie.File != path {
					t.Errorf("InputError.File = %q, want %q", ie.File, path)
				}
				nRejected++
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Logf("slow: %v", d)
			}
		})
	}
	t.Logf("%d files read, %d rejected with an input error", nRead, nRejected)
}

// TestCorpusStress reads parquet/stress/ (slow or memory-hungry files),
// only when DPSTATS_STRESS=1: each must read or give an *InputError within
// 5 minutes, and the Go heap must stay under 1 GiB (seqs_table.parquet,
// 240,001 rows of nested lists, peaks near 560 MiB: arrow-go decodes
// a whole list column chunk of a batch at once).
func TestCorpusStress(t *testing.T) {
	if os.Getenv("DPSTATS_STRESS") != "1" {
		t.Skip("set DPSTATS_STRESS=1 to read parquet/stress/")
	}
	dir := filepath.Join(corpusDir(t), "parquet", "stress")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			start := time.Now()
			info, err, done := inspectWithTimeout(filepath.Join(dir, e.Name()), 5*time.Minute)
			if !done {
				t.Fatal("Inspect did not return within 5 minutes")
			}
			var ie *InputError
			if err != nil && !errors.As(err, &ie) {
				t.Fatalf("Inspect: %v (%T), want nil or *InputError", err, err)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("rows=%d err=%v in %v, heap %d MiB, total allocated %d MiB", info.Rows, err, time.Since(start), ms.HeapAlloc>>20, ms.TotalAlloc>>20)
			if ms.HeapAlloc > 1<<30 {
				t.Errorf("heap %d MiB (limit 1024 MiB)", ms.HeapAlloc>>20)
			}
		})
	}
}
