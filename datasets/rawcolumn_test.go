package datasets

import (
	"bytes"
	"errors"
	"hash/maphash"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// readResult is what readStrings read.
type readResult struct {
	name   string
	vals   []*string // nil for null
	hashes []uint64  // per row: its hash, if its batch carried hashes
	hashed []bool    // per row: whether its batch carried hashes
	raw    bool      // the column was read raw (see rawColumn)
	stats  rawStats
}

// readStrings reads column col of data (nil: the first string or binary
// column) with opt; name is "" if there is no such column.
func readStrings(data []byte, col string, opt ScanOptions) (res readResult, err error) {
	return readStringsFailing(data, col, opt, 0)
}

// readStringsFailing is readStrings with every row group's failAt-th data
// page of the raw user column made undecodable (0: none; see
// columnPages.failAt).
func readStringsFailing(data []byte, col string, opt ScanOptions, failAt int) (res readResult, err error) {
	sc, err := OpenReaderAt("t.parquet", bytes.NewReader(data), int64(len(data)), opt)
	if err != nil {
		return res, err
	}
	defer sc.Close()
	pos := -1
	for i, f := range sc.Schema().Fields() {
		t := f.Type
		if d, ok := t.(*arrow.DictionaryType); ok {
			t = d.ValueType
		}
		if (col == "" || f.Name == col) && (t.ID() == arrow.STRING || t.ID() == arrow.BINARY) {
			pos, res.name = i, f.Name
			break
		}
	}
	if pos < 0 {
		return res, nil
	}
	var user *rawColumn
	if p, ok := sc.src.(*parquetSource); ok && p.user != nil {
		user, res.raw = p.user, true
		user.failAt = failAt
	}
	for sc.Scan() {
		rec := sc.Record()
		c, err := NewStringColumn(rec.Column(pos))
		if err != nil {
			return res, err
		}
		hs := userHashes(rec, len(sc.Schema().Fields()))
		for i := 0; i < c.Len(); i++ {
			if c.IsNull(i) {
				res.vals = append(res.vals, nil)
			} else {
				v := c.Value(i)
				res.vals = append(res.vals, &v)
			}
			res.hashed = append(res.hashed, hs != nil)
			if hs != nil {
				res.hashes = append(res.hashes, hs[i])
			} else {
				res.hashes = append(res.hashes, 0)
			}
		}
		if len(res.vals) > 1<<20 {
			break
		}
	}
	if user != nil {
		res.stats = user.stats
	}
	return res, sc.Err()
}

// sameStrings reports the first row where got and want differ, or -1.
func sameStrings(got, want []*string) int {
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || (got[i] == nil) != (want[i] == nil) || (got[i] != nil && *got[i] != *want[i]) {
			return i
		}
	}
	return -1
}

// badHash returns the first row of res whose batch carried hashes and
// whose hash is not the user table's hash of its value (a wrong hash could
// give one user two numbers), or -1.
func badHash(res readResult, seed maphash.Seed) int {
	for i, v := range res.vals {
		if res.hashed[i] && v != nil && res.hashes[i] != maphash.String(seed, *v) {
			return i
		}
	}
	return -1
}

// addCorpusSeeds adds the corpus's Parquet files of at most 64 KiB to f's
// seeds.
func addCorpusSeeds(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(corpusPath(), "parquet", "*", "*"))
	for _, path := range seeds {
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() || st.Size() > 64<<10 {
			continue
		}
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
}

// FuzzOpenRawUser reads a string column of arbitrary bytes through pqarrow
// and as the raw user column (see rawColumn): the raw read gives records or
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
	addCorpusSeeds(f)
	seed := maphash.MakeSeed()
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := ScanOptions{MemoryLimit: 64 << 20, MaxAllocation: 16 << 20, BatchSize: 100}
		want, werr := readStrings(data, "", opt)
		if werr != nil || want.name == "" {
			return
		}
		opt.rawUser, opt.userSeed = want.name, seed
		got, err := readStrings(data, want.name, opt)
		var ie *InputError
		if err != nil {
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InputError", err, err)
			}
			return
		}
		if i := sameStrings(got.vals, want.vals); i >= 0 {
			t.Fatalf("row %d differs between the raw read (%d rows) and pqarrow's (%d)", i, len(got.vals), len(want.vals))
		}
		if i := badHash(got, seed); i >= 0 {
			t.Fatalf("row %d: the hash is not the value's", i)
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
	var rawFiles int
	var total rawStats
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, batch := range []int{7, 64, 1 << 16} {
			opt := ScanOptions{BatchSize: batch}
			want, werr := readStrings(data, "", opt)
			if want.name == "" {
				continue
			}
			opt.rawUser, opt.userSeed = want.name, seed
			got, err := readStrings(data, want.name, opt)
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
			if got.raw {
				rawFiles++
			}
			total.dictBatches += got.stats.dictBatches
			total.plainBatches += got.stats.plainBatches
			total.readerBatches += got.stats.readerBatches
			if i := sameStrings(got.vals, want.vals); i >= 0 {
				t.Fatalf("%s column %s batch %d: row %d differs (raw read %d rows, pqarrow %d)", filepath.Base(path), want.name, batch, i, len(got.vals), len(want.vals))
			}
			if i := badHash(got, seed); i >= 0 {
				t.Fatalf("%s column %s: row %d: wrong hash", filepath.Base(path), want.name, i)
			}
		}
	}
	if rawFiles == 0 || total.dictBatches == 0 {
		t.Fatalf("raw reads: %d files, batches %+v: want some from dictionary pages", rawFiles, total)
	}
}

// readCells reads every string, binary, int64 and timestamp column of
// data, raw (see rawColumn) or through pqarrow, and returns each column's
// cells as text ("\x00" for null); nil if there is no such column.
func readCells(data []byte, raw bool) ([][]string, error) {
	opt := ScanOptions{MemoryLimit: 64 << 20, MaxAllocation: 16 << 20, BatchSize: 100}
	sc, err := OpenReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), opt)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range sc.Schema().Fields() {
		t := f.Type
		if d, ok := t.(*arrow.DictionaryType); ok {
			t = d.ValueType
		}
		switch t.ID() {
		case arrow.STRING, arrow.BINARY, arrow.INT64, arrow.TIMESTAMP:
			names = append(names, f.Name)
		}
	}
	sc.Close()
	if len(names) == 0 {
		return nil, nil
	}
	opt.Columns = names
	if raw {
		opt.rawColumns = names
	}
	if sc, err = OpenReaderAt("fuzz", bytes.NewReader(data), int64(len(data)), opt); err != nil {
		return nil, err
	}
	defer sc.Close()
	cells := make([][]string, len(names))
	rows := 0
	for sc.Scan() && rows < 1<<18 {
		rec := sc.Record()
		rows += int(rec.NumRows())
		for c := range names {
			arr := rec.Column(c)
			if s, err := NewStringColumn(arr); err == nil {
				for i := range s.Len() {
					if s.IsNull(i) {
						cells[c] = append(cells[c], "\x00")
					} else {
						cells[c] = append(cells[c], s.Value(i))
					}
				}
				continue
			}
			for i := range arr.Len() {
				if arr.IsNull(i) {
					cells[c] = append(cells[c], "\x00")
				} else {
					cells[c] = append(cells[c], arr.ValueStr(i))
				}
			}
		}
	}
	return cells, sc.Err()
}

// FuzzOpenRawColumns reads every string, binary, int64 and timestamp
// column of arbitrary bytes raw (see rawColumn, columnPages) and through
// pqarrow: the raw read gives records or an *InputError, never a panic;
// when both succeed, every cell is the same.
//
//	go test ./datasets -run '^$' -fuzz FuzzOpenRawColumns -fuzztime 60s
func FuzzOpenRawColumns(f *testing.F) {
	p := filepath.Join(f.TempDir(), "seed.parquet")
	writeParquet(f, p, 300, 70)
	if data, err := os.ReadFile(p); err == nil {
		f.Add(data)
	}
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := readCells(data, false)
		if werr != nil || want == nil {
			return
		}
		got, err := readCells(data, true)
		var ie *InputError
		if err != nil {
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InputError", err, err)
			}
			return
		}
		for c := range want {
			if !slices.Equal(got[c], want[c]) {
				t.Fatalf("column %d: the raw read (%d cells) differs from pqarrow's (%d)", c, len(got[c]), len(want[c]))
			}
		}
	})
}
