package datasets

import (
	"errors"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func TestUserIDClass(t *testing.T) {
	dict := func(v arrow.DataType) arrow.DataType {
		return &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: v}
	}
	for _, tt := range []struct {
		typ  arrow.DataType
		want string
	}{
		{arrow.BinaryTypes.String, "string"},
		{arrow.BinaryTypes.LargeString, "string"},
		{arrow.BinaryTypes.StringView, "string"},
		{arrow.BinaryTypes.Binary, "string"},
		{dict(arrow.BinaryTypes.String), "string"},
		{arrow.PrimitiveTypes.Int64, "integer"},
		{arrow.PrimitiveTypes.Int8, "integer"},
		{arrow.PrimitiveTypes.Uint32, "integer"},
		{dict(arrow.PrimitiveTypes.Int64), "integer"},
		{arrow.PrimitiveTypes.Float64, ""},
		{arrow.FixedWidthTypes.Timestamp_us, ""},
	} {
		if got := UserIDClass(tt.typ); got != tt.want {
			t.Errorf("UserIDClass(%s) = %q, want %q", tt.typ, got, tt.want)
		}
	}
}

// TestColumnType reads the schema of every format, and only the schema: a
// file whose row data is garbage still answers.
func TestColumnType(t *testing.T) {
	for _, format := range []Format{FormatParquet, FormatArrowFile} {
		in := BytesInput("events", eventsFixture(t, format))
		typ, err := ColumnType(in, "user_id")
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if UserIDClass(typ) != "string" {
			t.Errorf("%s: user_id type %s", format, typ)
		}
		_, err = ColumnType(in, "no_such_column")
		var ie *InputError
		if !errors.As(err, &ie) || !errors.Is(err, ErrColumnMissing) || ie.File != "events" || ie.Column != "no_such_column" {
			t.Errorf("%s: missing column: err = %#v", format, err)
		}
	}
	// Garbage after a Parquet footer's schema would fail a read, not a
	// schema check: overwrite the row data of the consent fixture (the
	// footer, at the end, stays intact).
	data := consentFile(t, true, []consentRow{{1, "c", true, nil}})
	for i := 4; i < 40 && i < len(data)-200; i++ {
		data[i] = 0xff
	}
	if _, err := LoadConsentFrom([]Input{BytesInput("c.parquet", data)}, NewUserIndex(), evEnd, ConsentColumns{}); err == nil {
		t.Fatal("the garbage is not in the row data: reading the file succeeds, so this test proves nothing")
	}
	typ, err := ColumnType(BytesInput("c.parquet", data), "user_id")
	if err != nil || UserIDClass(typ) != "integer" {
		t.Errorf("ColumnType over a file with garbage row data = %v, %v; want int64", typ, err)
	}
}
