package datasets

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// FuzzOpen feeds arbitrary bytes to the readers: whatever the input, the
// result is records or an *InputError, never a panic or a hang. Seeds are
// the corpus files (up to 64 KiB, except parquet/stress) and the test
// files of this package.
//
//	go test ./datasets -run '^$' -fuzz FuzzOpen -fuzztime 60s
func FuzzOpen(f *testing.F) {
	dir := corpusPath()
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if d.Name() == "stress" {
				return filepath.SkipDir
			}
			return nil
		}
		if info, err := d.Info(); err != nil || info.Size() > 64<<10 || filepath.Ext(path) == ".md" || filepath.Ext(path) == ".tsv" || filepath.Ext(path) == ".txt" {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
		return nil
	})
	tmp := f.TempDir()
	p := filepath.Join(tmp, "seed.parquet")
	writeParquet(f, p, 50, 20)
	a := filepath.Join(tmp, "seed.arrow")
	writeArrow(f, a, 50, 20, false)
	s := filepath.Join(tmp, "seed.stream")
	writeArrow(f, s, 50, 20, true)
	for _, path := range []string{p, a, s} {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := ScanOptions{MemoryLimit: 64 << 20, MaxAllocation: 16 << 20}
		sc, err := OpenReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), opt)
		if err == nil {
			for sc.Scan() {
				rec := sc.Record()
				for i := 0; i < int(rec.NumCols()); i++ {
					touchColumn(rec.Column(i))
				}
			}
			err = sc.Err()
			if cerr := sc.Close(); cerr != nil {
				t.Fatal(cerr)
			}
		}
		var ie *InputError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("error %v (%T) is not an *InputError", err, err)
		}
		if _, err := InspectReaderAt("fuzz", bytes.NewReader(data), int64(len(data))); err != nil && !errors.As(err, &ie) {
			t.Fatalf("Inspect error %v (%T) is not an *InputError", err, err)
		}
	})
}

// touchColumn reads every value through whichever accessor accepts the
// column; accessors must never panic once constructed.
func touchColumn(arr arrow.Array) (n int64) {
	if c, err := NewStringColumn(arr); err == nil {
		for i := 0; i < c.Len(); i++ {
			if !c.IsNull(i) {
				n += int64(len(c.Value(i)))
			}
		}
	}
	if c, err := NewIntColumn(arr); err == nil {
		for i := 0; i < c.Len(); i++ {
			if !c.IsNull(i) {
				n += c.Value(i)
			}
		}
	}
	if c, err := NewTimeColumn(arr); err == nil {
		for i := 0; i < c.Len(); i++ {
			if !c.IsNull(i) {
				n += c.Value(i)
			}
		}
	}
	return n
}
