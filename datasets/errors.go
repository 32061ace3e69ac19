package datasets

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Callers branch on them with errors.Is; the *InputError
// that carries them says which file, column and row group was at fault.
var (
	// ErrInputMissing: a named input file, directory or glob matched nothing.
	ErrInputMissing = errors.New("input missing")
	// ErrFormat: the file is not Parquet, an Arrow IPC file or an Arrow IPC stream.
	ErrFormat = errors.New("unrecognized file format")
	// ErrColumnMissing: a requested column is not in the file's schema.
	ErrColumnMissing = errors.New("column missing")
	// ErrColumnType: a column has a type the accessor cannot read.
	ErrColumnType = errors.New("unusable column type")
	// ErrRowCount: the rows read differ from the row count in the file's footer.
	ErrRowCount = errors.New("row count mismatch")
	// ErrCorrupt: the file's metadata or data is inconsistent (including
	// anything that made the underlying library panic).
	ErrCorrupt = errors.New("corrupt input")
	// ErrBudget: reading the file would need more memory than the per-file budget.
	ErrBudget = errors.New("per-file memory budget exceeded")
)

// InputError is a problem with one input file: the file cannot be opened, is
// malformed, lacks a column or has a column of an unusable type. It names the
// file and, where known, the column and the Parquet row group. It never
// contains data values from the file.
type InputError struct {
	File     string
	Column   string // "" if not about one column
	RowGroup int    // -1 if not applicable
	Err      error
}

func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Column != "" {
		b.WriteString(": column ")
		b.WriteString(e.Column)
	}
	if e.RowGroup >= 0 {
		b.WriteString(": row group ")
		b.WriteString(strconv.Itoa(e.RowGroup))
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("input error")
	}
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// inputErr builds an *InputError, or completes err if it already is one
// (built where the file name or row group was not known).
func inputErr(file, column string, rowGroup int, err error) error {
	if ie, ok := err.(*InputError); ok {
		if ie.File == "" {
			ie.File = file
		}
		if ie.Column == "" {
			ie.Column = column
		}
		if ie.RowGroup < 0 {
			ie.RowGroup = rowGroup
		}
		return ie
	}
	return &InputError{File: file, Column: column, RowGroup: rowGroup, Err: err}
}
