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
	// ErrInputUnreadable: a named input exists but may not be read (its
	// permissions, or a directory on its path).
	ErrInputUnreadable = errors.New("input not readable")
	// ErrBadPattern: an input argument is a malformed glob pattern (a usage
	// error, not an input error).
	ErrBadPattern = errors.New("malformed glob pattern")
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
	// ErrRemoteInput: an input is a URI (gs://…, see IsRemote), which only
	// the beam engine reads (a usage error, not an input error).
	ErrRemoteInput = errors.New("a URI, not a local file: URIs need --engine beam (bin/dpstats-beam); " +
		"the local engine reads local files, directories and globs")
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
		msg := e.Err.Error()
		if errors.Is(e.Err, ErrCorrupt) || errors.Is(e.Err, ErrRowCount) || errors.Is(e.Err, ErrBudget) {
			msg = redactNumbers(msg)
		}
		b.WriteString(msg)
	} else {
		b.WriteString("input error")
	}
	return b.String()
}

func (e *InputError) Unwrap() error { return e.Err }

// redactNumbers replaces every number that does not stand inside a word
// (int64 stays) by "N": decimal, fractional, with an exponent, or hex, and
// also the number in front of a unit ("64bit" becomes "Nbit"). The
// messages of a malformed file come partly from the Parquet and Arrow
// libraries, which print row, value and byte counts ("expected 1000
// values, got 999"): counts derived from the data, which an error message
// must not carry (docs/privacy-channels.md). Our own messages carry no
// numbers at all; this catches the libraries'.
func redactNumbers(msg string) string {
	isWord := func(c byte) bool {
		return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	isHex := func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }
	digits := func(j int) int {
		for j < len(msg) && isDigit(msg[j]) {
			j++
		}
		return j
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		if !isDigit(msg[i]) || (i > 0 && isWord(msg[i-1])) {
			b.WriteByte(msg[i])
			i++
			continue
		}
		j := i + 1
		if msg[i] == '0' && j+1 < len(msg) && (msg[j] == 'x' || msg[j] == 'X') && isHex(msg[j+1]) {
			for j++; j < len(msg) && isHex(msg[j]); j++ {
			}
		} else {
			j = digits(j)
			if j+1 < len(msg) && msg[j] == '.' && isDigit(msg[j+1]) {
				j = digits(j + 1)
			}
			if k := j + 1; j < len(msg) && (msg[j] == 'e' || msg[j] == 'E') {
				if k < len(msg) && (msg[k] == '+' || msg[k] == '-') {
					k++
				}
				if k < len(msg) && isDigit(msg[k]) {
					j = digits(k)
				}
			}
		}
		b.WriteByte('N')
		i = j
	}
	return b.String()
}

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
