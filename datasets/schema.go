package datasets

import (
	"github.com/apache/arrow-go/v18/arrow"
)

// ColumnType returns the type of column in the input's schema, reading only
// the schema (a Parquet footer, an Arrow IPC file's footer, an Arrow IPC
// stream's schema message): no rows. Errors are *InputError naming the
// file, and the column when it is missing (ErrColumnMissing).
func ColumnType(in Input, column string) (arrow.DataType, error) {
	s, err := in.open(ScanOptions{Columns: []string{column}})
	if err != nil {
		return nil, inputErr(in.Name, column, -1, err)
	}
	defer s.Close()
	return s.Schema().Field(0).Type, nil
}

// UserIDClass is the kind of value a user-id column of type t holds:
// "string" (string, binary, their large and view forms, or a dictionary of
// them), "integer" (any integer type, or a dictionary of them), or "" for
// any other type (which the readers refuse when they read the column).
func UserIDClass(t arrow.DataType) string {
	if d, ok := t.(*arrow.DictionaryType); ok {
		t = d.ValueType
	}
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW:
		return "string"
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return "integer"
	}
	return ""
}
