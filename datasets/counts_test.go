package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Errors about a malformed file must not carry counts derived from the data
// (rows read, rows in the footer, values, bytes): an error message reaches
// logs and alerts, and `dpstats inspect` is the operator's tool for exact
// counts. These tests corrupt files of distinctive sizes and check that no
// number stands in the message (the file's name, the column's name and
// "row group N" aside).

// standaloneNumber matches a number that is not part of a word (int64 is a
// type name, not a number).
var standaloneNumber = regexp.MustCompile(`(^|[^A-Za-z0-9_])[0-9]+`)

// countsIn returns the numbers standing in err's message outside the file
// name, column name and row group index that *InputError adds.
func countsIn(err error) []string {
	var ie *InputError
	msg := err.Error()
	if errors.As(err, &ie) {
		rest := &InputError{RowGroup: -1, Err: ie.Err}
		msg = strings.TrimPrefix(rest.Error(), ": ")
	}
	return standaloneNumber.FindAllString(msg, -1)
}

func TestRedactNumbers(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"read 7919 rows, footer says 7920", "read N rows, footer says N"},
		{"slice bounds out of range [:605590388752] with capacity 64", "slice bounds out of range [:N] with capacity N"},
		{"footer row count -25 is negative", "footer row count -N is negative"},
		{"metadata said 3514 bytes, got 3.5e3", "metadata said N bytes, got N"},
		{"int64 column in V2 page of type decimal(4, 2)", "int64 column in V2 page of type decimal(N, N)"},
		{"no numbers here", "no numbers here"},
		{"at 0x1F, a 64bit value, 1e-5 and 2.5E+3", "at N, a Nbit value, N and N"},
		{"v1.2.3 and 1.2.3", "v1.N and N.N"},
	} {
		if got := redactNumbers(tt.in); got != tt.want {
			t.Errorf("redactNumbers(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Only data errors are redacted: a path in an open error keeps its digits.
	ie := &InputError{File: "x", RowGroup: -1, Err: fmt.Errorf("open /data/2026-11-01/a.parquet: %w", fs.ErrNotExist)}
	if !strings.Contains(ie.Error(), "2026-11-01") {
		t.Errorf("an open error lost its path's digits: %v", ie)
	}
	ie = &InputError{File: "x", RowGroup: -1, Err: fmt.Errorf("%w: parquet: expected 1000 values", ErrCorrupt)}
	if strings.Contains(ie.Error(), "1000") {
		t.Errorf("a corrupt-input error kept a count: %v", ie)
	}
}

// readAll opens path, reads every batch and inspects it: the two ways a run
// and `dpstats inspect` meet a malformed file. It returns their errors.
func readAll(path string) []error {
	var errs []error
	s, err := Open(path, ScanOptions{MemoryLimit: 64 << 20, MaxAllocation: 16 << 20})
	if err != nil {
		errs = append(errs, err)
	} else {
		for s.Scan() {
			rec := s.Record()
			for i := 0; i < int(rec.NumCols()); i++ {
				touchColumn(rec.Column(i))
			}
		}
		if err := s.Err(); err != nil {
			errs = append(errs, err)
		}
		s.Close()
	}
	if _, err := Inspect(path); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// i64Field is the Thrift compact encoding of an i64 field one id after the
// previous field (header 0x16) holding v: how a Parquet footer stores the
// file's and each row group's num_rows and each column chunk's num_values.
func i64Field(v int64) []byte {
	b := []byte{0x16}
	return binary.AppendUvarint(b, uint64(v<<1^v>>63))
}

// patchFooter replaces the occurrences of i64 field value from with to
// (same encoded length) in the Parquet footer of data, those whose index
// among all occurrences is in which (nil: all). It returns the number of
// occurrences.
func patchFooter(t *testing.T, data []byte, from, to int64, which []int) ([]byte, int) {
	t.Helper()
	out := bytes.Clone(data)
	metaLen := int(binary.LittleEndian.Uint32(out[len(out)-8:]))
	meta := out[len(out)-8-metaLen : len(out)-8]
	old, repl := i64Field(from), i64Field(to)
	if len(old) != len(repl) {
		t.Fatalf("%d and %d encode to different lengths", from, to)
	}
	n := 0
	for i := 0; i+len(old) <= len(meta); i++ {
		if !bytes.Equal(meta[i:i+len(old)], old) {
			continue
		}
		if which == nil || containsInt(which, n) {
			copy(meta[i:], repl)
		}
		n++
	}
	return out, n
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCorruptFileErrorsCarryNoCounts(t *testing.T) {
	dir := t.TempDir()
	// Distinctive sizes: 7919 rows, in one row group, and in row groups of
	// 4000 and 3919.
	const rows = 7919
	check := func(t *testing.T, name string, data []byte) (errs []error) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, err := range readAll(p) {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("%s: %v (%T) is not an *InputError", name, err, err)
			}
			if nums := countsIn(err); len(nums) > 0 {
				t.Errorf("%s: the error carries numbers %q: %v", name, nums, err)
			}
			errs = append(errs, err)
		}
		return errs
	}

	t.Run("footer row counts", func(t *testing.T) {
		p := filepath.Join(dir, "one.parquet")
		writeParquet(t, p, rows, 8192)
		good, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, n := patchFooter(t, good, rows, rows+1, nil)
		// The file's num_rows, then the column chunks' num_values, then the
		// row group's num_rows.
		if n < 3 {
			t.Fatalf("found %d footer fields holding %d, want at least 3", n, rows)
		}
		mustRowCount := map[string][]int{
			"file num_rows":                  {0},
			"row group num_rows":             {n - 1},
			"file and row group num_rows":    {0, n - 1},
			"every count in the footer":      nil,
			"the first column's num_values":  {1},
			"the second column's num_values": {2},
		}
		for name, which := range mustRowCount {
			data, _ := patchFooter(t, good, rows, rows+1, which)
			errs := check(t, strings.ReplaceAll(name, " ", "_")+".parquet", data)
			if strings.Contains(name, "num_rows") && !anyIs(errs, ErrRowCount) {
				t.Errorf("%s changed: errors %v, want a row count mismatch", name, errs)
			}
		}
	})

	t.Run("byte flips and truncations", func(t *testing.T) {
		p := filepath.Join(dir, "multi.parquet")
		writeParquet(t, p, rows, 4000)
		a := filepath.Join(dir, "multi.arrow")
		writeArrow(t, a, rows, 4000, false)
		s := filepath.Join(dir, "multi.stream")
		writeArrow(t, s, rows, 4000, true)
		failed := 0
		for _, src := range []string{p, a, s} {
			good, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(len(good)), 7919))
			for i := range 60 {
				data := bytes.Clone(good)
				switch i % 3 {
				case 0: // flip a few bytes anywhere
					for range 1 + rng.IntN(4) {
						data[rng.IntN(len(data))] ^= byte(1 + rng.IntN(255))
					}
				case 1: // flip bytes in the footer / metadata end
					for range 1 + rng.IntN(3) {
						data[len(data)-1-rng.IntN(min(len(data), 600))] ^= byte(1 + rng.IntN(255))
					}
				case 2: // cut a piece out of the middle, keep both ends
					at, n := rng.IntN(len(data)/2)+8, 1+rng.IntN(64)
					data = append(data[:at:at], data[at+n:]...)
				}
				if len(check(t, filepath.Base(src)+"."+strconv.Itoa(i), data)) > 0 {
					failed++
				}
			}
		}
		if failed < 30 {
			t.Errorf("only %d of 180 corrupted files failed to read: the test corrupts too little", failed)
		}
	})

	t.Run("corpus", func(t *testing.T) {
		root := corpusDir(t)
		seen := 0
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "stress" {
					return filepath.SkipDir
				}
				return nil
			}
			switch filepath.Ext(path) {
			case ".md", ".tsv", ".txt":
				return nil
			}
			for _, err := range readAll(path) {
				seen++
				if !anyIs([]error{err}, ErrCorrupt, ErrRowCount, ErrBudget) {
					continue // format, column and type errors carry type names, not counts
				}
				if nums := countsIn(err); len(nums) > 0 {
					t.Errorf("%s: the error carries numbers %q: %v", path, nums, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seen < 100 {
			t.Errorf("only %d corpus files failed to read; the corpus has hundreds of malformed files", seen)
		}
	})
}

func anyIs(errs []error, targets ...error) bool {
	for _, err := range errs {
		for _, target := range targets {
			if errors.Is(err, target) {
				return true
			}
		}
	}
	return false
}

// FuzzRedactNumbers: whatever the message, redaction does not panic, is
// idempotent, and leaves no number standing alone.
func FuzzRedactNumbers(f *testing.F) {
	for _, s := range []string{"read 7919 rows", "[:-5] 3.5e3 x1 0x1F", "9", "a.1.2.3", "é12ü"} {
		f.Add(s)
	}
	alone := regexp.MustCompile(`(^|[^A-Za-z0-9_])[0-9]+([^A-Za-z0-9_]|$)`)
	f.Fuzz(func(t *testing.T, s string) {
		r := redactNumbers(s)
		if redactNumbers(r) != r {
			t.Errorf("redactNumbers is not idempotent on %q: %q, then %q", s, r, redactNumbers(r))
		}
		if m := alone.FindString(r); m != "" {
			t.Errorf("redactNumbers(%q) = %q keeps the number %q", s, r, m)
		}
	})
}
