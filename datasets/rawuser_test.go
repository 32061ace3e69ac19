package datasets

import (
	"bytes"
	"errors"
	"hash/maphash"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// readStrings reads column col of data (nil: the first string or binary
// column) with opt, and returns the column's name, its values (nil for
// null) and, when the records carry them, the user hashes.
func readStrings(data []byte, col string, opt ScanOptions) (name string, vals []*string, hashes []uint64, raw bool, err error) {
	sc, err := OpenReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), opt)
	if err != nil {
		return "", nil, nil, false, err
	}
	defer sc.Close()
	pos := -1
	for i, f := range sc.Schema().Fields() {
		t := f.Type
		if d, ok := t.(*arrow.DictionaryType); ok {
			t = d.ValueType
		}
		if (col == "" || f.Name == col) && (t.ID() == arrow.STRING || t.ID() == arrow.BINARY) {
			pos, name = i, f.Name
			break
		}
	}
	if pos < 0 {
		return "", nil, nil, false, nil
	}
	raw = true
	for sc.Scan() {
		rec := sc.Record()
		c, err := NewStringColumn(rec.Column(pos))
		if err != nil {
			return "", nil, nil, false, err
		}
		hs := userHashes(rec, len(sc.Schema().Fields()))
		raw = raw && hs != nil
		for i := 0; i < c.Len(); i++ {
			if c.IsNull(i) {
				vals = append(vals, nil)
			} else {
				v := c.Value(i)
				vals = append(vals, &v)
			}
			if hs != nil {
				hashes = append(hashes, hs[i])
			}
		}
		if len(vals) > 1<<20 {
			break
		}
	}
	return name, vals, hashes, raw, sc.Err()
}

// FuzzOpenRawUser reads a string column of arbitrary bytes through pqarrow
// and as the raw user column (see rawUser): the raw read gives records or
// an *InputError, never a panic; when both reads succeed they give the same
// values row for row, and every non-null row's hash is the user table's
// hash of its value (a wrong hash could give one user two numbers).
//
//	go test ./datasets -run '^$' -fuzz FuzzOpenRawUser -fuzztime 60s
func FuzzOpenRawUser(f *testing.F) {
	tmp := f.TempDir()
	p := filepath.Join(tmp, "seed.parquet")
	writeParquet(f, p, 300, 70)
	if data, err := os.ReadFile(p); err == nil {
		f.Add(data)
	}
	seeds, _ := filepath.Glob(filepath.Join(corpusPath(), "parquet", "*", "*"))
	for _, path := range seeds {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() || st.Size() > 64<<10 {
			continue
		}
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
	seed := maphash.MakeSeed()
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := ScanOptions{MemoryLimit: 64 << 20, MaxAllocation: 16 << 20, BatchSize: 100}
		name, want, _, _, werr := readStrings(data, "", opt)
		if werr != nil || name == "" {
			return
		}
		opt.rawUser, opt.userSeed = name, seed
		_, got, hashes, raw, err := readStrings(data, name, opt)
		var ie *InputError
		if err != nil {
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InputError", err, err)
			}
			return
		}
		if len(got) != len(want) {
			t.Fatalf("raw read: %d rows, pqarrow: %d", len(got), len(want))
		}
		for i := range got {
			if (got[i] == nil) != (want[i] == nil) || (got[i] != nil && *got[i] != *want[i]) {
				t.Fatalf("row %d differs between the raw read and pqarrow's", i)
			}
		}
		if !raw {
			return
		}
		for i, v := range got {
			if v != nil && hashes[i] != maphash.String(seed, *v) {
				t.Fatalf("row %d: the hash is not the value's", i)
			}
		}
	})
}

// TestRawUserReadsLikePqarrow reads the first string column of a test file
// and of the corpus's good Parquet files both ways (see FuzzOpenRawUser),
// with batches that split row groups and pages, and checks the raw path was
// taken; the corpus's bad Parquet files give an *InputError or the same
// values both ways.
func TestRawUserReadsLikePqarrow(t *testing.T) {
	tmp := t.TempDir()
	p := filepath.Join(tmp, "t.parquet")
	writeParquet(t, p, 1000, 170)
	files := []string{p}
	good, _ := filepath.Glob(filepath.Join(corpusPath(), "parquet", "good", "*.parquet"))
	bad, _ := filepath.Glob(filepath.Join(corpusPath(), "parquet", "bad", "*"))
	if len(good) == 0 || len(bad) == 0 {
		t.Fatal("no corpus files")
	}
	files = append(files, good...)
	isBad := make(map[string]bool)
	for _, b := range bad {
		isBad[b] = true
	}
	files = append(files, bad...)
	seed := maphash.MakeSeed()
	rawFiles := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{7, 64, 1 << 16} {
			opt := ScanOptions{BatchSize: batch}
			name, want, _, _, werr := readStrings(data, "", opt)
			if name == "" {
				continue
			}
			opt.rawUser, opt.userSeed = name, seed
			_, got, hashes, raw, err := readStrings(data, name, opt)
			var ie *InputError
			if err != nil && !errors.As(err, &ie) {
				t.Fatalf("%s: error %v (%T) is not an *InputError", filepath.Base(path), err, err)
			}
			if isBad[path] && (err != nil || werr != nil) {
				continue
			}
			if (err == nil) != (werr == nil) {
				t.Errorf("%s: raw read error %v, pqarrow's %v", filepath.Base(path), err, werr)
				continue
			}
			if err != nil {
				continue
			}
			if raw {
				rawFiles++
			}
			if len(got) != len(want) {
				t.Fatalf("%s column %s: raw read %d rows, pqarrow %d", filepath.Base(path), name, len(got), len(want))
			}
			for i := range got {
				if (got[i] == nil) != (want[i] == nil) || (got[i] != nil && *got[i] != *want[i]) {
					t.Fatalf("%s column %s batch %d: row %d differs", filepath.Base(path), name, batch, i)
				}
				if raw && got[i] != nil && hashes[i] != maphash.String(seed, *got[i]) {
					t.Fatalf("%s column %s: row %d: wrong hash", filepath.Base(path), name, i)
				}
			}
		}
	}
	if rawFiles == 0 {
		t.Fatal("no file was read with the raw user column")
	}
}
