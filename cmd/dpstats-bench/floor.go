package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// floorBatchSize is the floor's rows per record batch, as in
// datasets.BenchmarkBareScan (datasets.DefaultBatchSize).
const floorBatchSize = 64 << 10

// scanFloor is the floor: arrow-go's own Parquet → Arrow record reader over
// the projected columns, single-threaded, touching nothing in the records.
// It returns the rows read.
func scanFloor(ctx context.Context, path string, columns []string) (int64, error) {
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
	sc := pf.MetaData().Schema
	leaves := make([]int, len(columns))
	for i, name := range columns {
		if leaves[i] = sc.ColumnIndexByName(name); leaves[i] < 0 {
			return 0, fmt.Errorf("%s: no column %q", path, name)
		}
	}
	rr, err := fr.GetRecordReader(ctx, leaves, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer rr.Release()
	var rows int64
	for rr.Next() {
		rows += rr.RecordBatch().NumRows()
	}
	if err := rr.Err(); err != nil {
		return rows, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// floorChild is the hidden -floor-scan mode: scan, then print "rows N" for
// the parent to check against the footer.
func floorChild(ctx context.Context, o options, stdout io.Writer) error {
	rows, err := scanFloor(ctx, o.FloorFile, o.FloorColumns)
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
	Name     string   // the job's name: reports go to OUT/<name>/<period>/
	Columns  []string // the floor's projection
	Warnings []string
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
