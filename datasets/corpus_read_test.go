package datasets

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCorpusDictionaryAndSplitReads reads every Parquet file of the
// external corpus that Inspect reads, as the event reader does: every
// top-level column, string ones offered as dictionaries (DictColumns), once
// with one Scanner and once with its row groups split over three Scanners
// merged in file order (parallelReadAhead). Both read the same number of
// rows in the same batches as Inspect's count, or, if the dictionary path
// fails, with an *InputError, never a panic or a hang.
func TestCorpusDictionaryAndSplitReads(t *testing.T) {
	dir := corpusDir(t)
	for _, e := range readExpected(t, dir) {
		if strings.HasPrefix(e.path, "parquet/stress/") || !strings.HasSuffix(e.path, ".parquet") {
			continue
		}
		path := filepath.Join(dir, filepath.FromSlash(e.path))
		info, err, done := inspectWithTimeout(path, corpusTimeout)
		if !done || err != nil || info.Format != FormatParquet {
			continue // TestCorpus covers the files Inspect rejects
		}
		t.Run(e.path, func(t *testing.T) {
			var names []string
			for _, f := range info.Schema.Fields() {
				names = append(names, f.Name)
			}
			opt := ScanOptions{DictColumns: names, pool: newBufPool()}
			read := func(n int) (int64, []int64, error) {
				s, err := Open(path, opt)
				if err != nil {
					return 0, nil, err
				}
				var src recordSource
				if n > 1 && s.rowGroups() > 1 {
					p, err := newParallelReadAhead(s, n, func() (*Scanner, error) { return Open(path, opt) })
					if err != nil {
						s.Close()
						return 0, nil, err
					}
					src = p
				} else {
					src = newReadAhead(s)
				}
				defer src.Close()
				var rows int64
				var lens []int64
				for src.Scan() {
					rows += src.Record().NumRows()
					lens = append(lens, src.Record().NumRows())
				}
				return rows, lens, src.Err()
			}
			type result struct {
				rows int64
				lens []int64
				err  error
			}
			run := func(n int) result {
				ch := make(chan result, 1)
				go func() {
					r, l, err := read(n)
					ch <- result{r, l, err}
				}()
				select {
				case r := <-ch:
					return r
				case <-time.After(corpusTimeout):
					t.Fatalf("%d scanners: no result within %v", n, corpusTimeout)
					return result{}
				}
			}
			one, three := run(1), run(3)
			for _, r := range []result{one, three} {
				var ie *InputError
				if r.err != nil && !errors.As(r.err, &ie) {
					t.Fatalf("got %v (%T), want nil or an *InputError", r.err, r.err)
				}
			}
			if one.err != nil {
				t.Logf("read as dictionaries: %v (Inspect reads %d rows)", one.err, info.Rows)
				return
			}
			if one.rows != info.Rows {
				t.Errorf("%d rows, Inspect reads %d", one.rows, info.Rows)
			}
			if three.err != nil || three.rows != one.rows || len(three.lens) != len(one.lens) {
				t.Errorf("three scanners: %d rows in %d batches, err %v; one: %d rows in %d batches", three.rows, len(three.lens), three.err, one.rows, len(one.lens))
			}
		})
	}
}
