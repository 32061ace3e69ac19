package datasets

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FileInfo is what Inspect learns about one input file. Rows is an exact
// count: it is for an operator allowed to see the raw data, never for a
// report or a log line.
type FileInfo struct {
	Path      string
	Format    Format
	Schema    *arrow.Schema
	Rows      int64
	RowGroups int // Parquet row groups; 0 for Arrow IPC
	Batches   int // record batches read
	// Warnings are problems that do not stop the read (e.g. invalid UTF-8).
	Warnings []string
}

// Inspect reads every row group or record batch of the file at path to the
// end, all columns, and fully validates every array (offsets, dictionary
// indices, UTF-8 is not checked). For Parquet the rows read must equal the
// footer's row count. Any problem is an *InputError; Inspect prints nothing.
func Inspect(path string) (FileInfo, error) {
	s, err := Open(path, ScanOptions{})
	if err != nil {
		return FileInfo{}, err
	}
	defer s.Close()
	return inspect(s, path)
}

// InspectReaderAt is Inspect for data that is not a file on disk.
func InspectReaderAt(name string, r interface {
	ReadAt(p []byte, off int64) (int, error)
}, size int64) (FileInfo, error) {
	s, err := OpenReaderAt(name, r, size, ScanOptions{})
	if err != nil {
		return FileInfo{}, err
	}
	defer s.Close()
	return inspect(s, name)
}

func inspect(s *Scanner, name string) (info FileInfo, err error) {
	info = FileInfo{Path: name, Format: s.Format(), Schema: s.Schema()}
	if p, ok := s.src.(*parquetSource); ok {
		info.RowGroups = p.pf.NumRowGroups()
	}
	defer func() {
		if p := recover(); p != nil {
			err = &InputError{File: name, RowGroup: -1, Err: panicErr(p)}
		}
	}()
	badUTF8 := make(map[string]bool)
	for s.Scan() {
		rec := s.Record()
		for i, col := range rec.Columns() {
			verr := array.ValidateFull(col)
			if verr == nil {
				continue
			}
			colName := rec.Schema().Field(i).Name
			if strings.Contains(verr.Error(), "not valid utf8") {
				// Invalid UTF-8 is passed through as stored (consumers
				// sanitize before rendering); arrow's message quotes the
				// value, so it must not travel in an error. Check the
				// rest of the array with the O(1) validation.
				if !badUTF8[colName] {
					badUTF8[colName] = true
					info.Warnings = append(info.Warnings, fmt.Sprintf("column %s: invalid UTF-8 in string values (passed through as stored)", colName))
				}
				if verr = array.Validate(col); verr == nil {
					continue
				}
			}
			return info, &InputError{File: name, Column: colName, RowGroup: s.src.rowGroup(),
				Err: fmt.Errorf("%w: %w", ErrCorrupt, verr)}
		}
	}
	if err := s.Err(); err != nil {
		return info, err
	}
	info.Rows, info.Batches = s.rows, s.batches
	return info, nil
}
