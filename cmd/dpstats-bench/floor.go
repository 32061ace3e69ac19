package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// floorBatchSize is the floor's rows per record batch, as in
// datasets.BenchmarkBareScan (datasets.DefaultBatchSize).
const floorBatchSize = 64 << 10

// scanFloor is the floor: arrow-go's own Parquet → Arrow record reader over
// the projected columns, touching nothing in the records, on goroutines
// goroutines (at least 1): with more than one, the row groups are split
// among them round-robin, each goroutine with a reader of its own (as the
// issue's "bare scan, 2 goroutines (row groups split)"). It returns the
// rows read.
func scanFloor(ctx context.Context, path string, columns []string, goroutines int) (int64, error) {
	pf, leaves, err := openFloor(path, columns)
	if err != nil {
		return 0, err
	}
	groups := pf.NumRowGroups()
	pf.Close()
	goroutines = max(1, min(goroutines, groups))
	if goroutines == 1 {
		return scanRowGroups(ctx, path, leaves, nil)
	}
	rows := make([]int64, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		var mine []int
		for rg := g; rg < groups; rg += goroutines {
			mine = append(mine, rg)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[g], errs[g] = scanRowGroups(ctx, path, leaves, mine)
		}()
	}
	wg.Wait()
	var total int64
	for g := range goroutines {
		total += rows[g]
	}
	return total, errors.Join(errs...)
}

// openFloor opens path's footer and finds the leaves of columns.
func openFloor(path string, columns []string) (*file.Reader, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	pf, err := file.NewParquetReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := pf.MetaData().Schema
	leaves := make([]int, len(columns))
	for i, name := range columns {
		if leaves[i] = sc.ColumnIndexByName(name); leaves[i] < 0 {
			pf.Close()
			return nil, nil, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	return pf, leaves, nil
}

// scanRowGroups reads the row groups rgs (nil: all) of path with a reader
// of its own, single-threaded, 64k-row batches.
func scanRowGroups(ctx context.Context, path string, leaves, rgs []int) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	pf, err := file.NewParquetReader(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: floorBatchSize, Parallel: false}, memory.DefaultAllocator)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	rr, err := fr.GetRecordReader(ctx, leaves, rgs)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	var rows int64
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return rows, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// floorChild is the hidden -floor-scan mode: scan, then print "rows N" for
// the parent to check against the footer.
func floorChild(ctx context.Context, o options, stdout io.Writer) error {
	rows, err := scanFloor(ctx, o.FloorFile, o.FloorColumns, o.FloorGoroutines)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "rows %d\n", rows)
	return err
}

// parseFloorOutput reads the floor child's "rows N" line.
func parseFloorOutput(out []byte) (int64, error) {
	s := strings.TrimSpace(string(out))
	v, ok := strings.CutPrefix(s, "rows ")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("floor printed %q, want \"rows N\"", s)
	}
	return n, nil
}

// parquetRows is the row count in a Parquet file's footer.
func parquetRows(path string) (int64, error) {
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, fmt.Errorf("read footer of %s: %w", path, err)
	}
	defer r.Close()
	return r.NumRows(), nil
}

// explanation is the part of `dpstats explain --format json` the harness
// uses (schema dpstats.explain/v1).
type explanation struct {
	Schema      string   `json:"schema"`
	Job         string   `json:"job"`
	ColumnsRead []string `json:"columns_read"`
	Statistics  []struct {
		Name    string   `json:"name"`
		Columns []string `json:"columns"`
	} `json:"statistics"`
}

// jobInfo is what the harness learns from `dpstats explain`.
type jobInfo struct {
	Spec            string   // what --job is given: a built-in name or a YAML file
	FloorGoroutines int      // the goroutines of the job's floor
	Name            string   // the job's name: reports go to OUT/<name>/<period>/
	Columns         []string // the floor's projection
	Warnings        []string
}

// parseExplain reads `dpstats explain --format json`. The projection is the
// union of the columns of every statistic, in first-seen order: exactly
// what the job reads. A warning says when the explanation's own
// columns_read disagrees.
func parseExplain(data []byte) (jobInfo, error) {
	var e explanation
	if err := json.Unmarshal(data, &e); err != nil {
		return jobInfo{}, fmt.Errorf("explain output: %w", err)
	}
	if len(e.Statistics) == 0 {
		return jobInfo{}, fmt.Errorf("explain output has no statistics")
	}
	j := jobInfo{Name: e.Job}
	for _, st := range e.Statistics {
		if len(st.Columns) == 0 {
			return jobInfo{}, fmt.Errorf("explain output: statistic %q lists no columns", st.Name)
		}
		for _, c := range st.Columns {
			if !slices.Contains(j.Columns, c) {
				j.Columns = append(j.Columns, c)
			}
		}
	}
	if e.ColumnsRead != nil {
		a, b := slices.Clone(j.Columns), slices.Clone(e.ColumnsRead)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			j.Warnings = append(j.Warnings, fmt.Sprintf("explain: the statistics read %s but columns_read says %s; the floor uses the statistics'",
				strings.Join(a, ","), strings.Join(b, ",")))
		}
	}
	return j, nil
}
