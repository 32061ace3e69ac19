package datasets

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var strVals = []string{"android_tv", "", "roku", "apple_tv"}
var strValid = []bool{true, true, false, true}

func buildStrings(t *testing.T, dt arrow.DataType) arrow.Array {
	t.Helper()
	mem := memory.NewGoAllocator()
	if d, ok := dt.(*arrow.DictionaryType); ok {
		// dictionary [apple_tv, roku, android_tv, ""] built by hand: arrow-go
		// has no builder for every index/value combination.
		dict := buildStrings(t, d.ValueType)
		defer dict.Release()
		ib := array.NewBuilder(mem, d.IndexType)
		defer ib.Release()
		for i := range strVals {
			if !strValid[i] {
				ib.AppendNull()
				continue
			}
			if err := ib.AppendValueFromString(strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		idx := ib.NewArray()
		defer idx.Release()
		return array.NewDictionaryArray(dt, idx, dict)
	}
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for i, v := range strVals {
		if !strValid[i] {
			b.AppendNull()
			continue
		}
		switch bb := b.(type) {
		case *array.StringBuilder:
			bb.Append(v)
		case *array.LargeStringBuilder:
			bb.Append(v)
		case *array.StringViewBuilder:
			bb.Append(v)
		case *array.BinaryBuilder: // binary and large_binary
			bb.AppendString(v)
		case *array.BinaryDictionaryBuilder:
			if err := bb.AppendString(v); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("no builder case for %s (%T)", dt, b)
		}
	}
	return b.NewArray()
}

func TestStringColumnTypes(t *testing.T) {
	types := []arrow.DataType{
		arrow.BinaryTypes.String,
		arrow.BinaryTypes.LargeString,
		arrow.BinaryTypes.StringView,
		arrow.BinaryTypes.Binary,
		arrow.BinaryTypes.LargeBinary,
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String},
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String},
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Uint16, ValueType: arrow.BinaryTypes.LargeString},
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int64, ValueType: arrow.BinaryTypes.String},
	}
	for _, dt := range types {
		t.Run(dt.String(), func(t *testing.T) {
			arr := buildStrings(t, dt)
			defer arr.Release()
			for _, sliced := range []bool{false, true} {
				a, vals, valid := arr, strVals, strValid
				if sliced { // a non-zero array offset
					a = array.NewSlice(arr, 1, 4)
					defer a.Release()
					vals, valid = strVals[1:], strValid[1:]
				}
				c, err := NewStringColumn(a)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := c.Len(), len(vals); got != want {
					t.Fatalf("Len = %d, want %d", got, want)
				}
				for i := range vals {
					if got, want := c.IsNull(i), !valid[i]; got != want {
						t.Errorf("sliced=%v row %d: IsNull = %v, want %v", sliced, i, got, want)
					}
					if valid[i] {
						if got, want := c.Value(i), vals[i]; got != want {
							t.Errorf("sliced=%v row %d: Value = %q, want %q", sliced, i, got, want)
						}
					}
				}
				_, isDict := c.DictionaryIndex(0)
				if got, want := isDict, dt.ID() == arrow.DICTIONARY; got != want {
					t.Errorf("DictionaryIndex ok = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestStringColumnRejects(t *testing.T) {
	mem := memory.NewGoAllocator()
	ints := array.NewInt64Builder(mem)
	ints.AppendValues([]int64{1, 2}, nil)
	intArr := ints.NewArray()
	defer intArr.Release()
	if _, err := NewStringColumn(intArr); !errors.Is(err, ErrColumnType) {
		t.Errorf("int64: %v, want ErrColumnType", err)
	}
	if _, err := NewStringColumn(nil); !errors.Is(err, ErrColumnType) {
		t.Errorf("nil: %v, want ErrColumnType", err)
	}

	// Corrupt offsets: data of 3 bytes, offsets claim 10 and decrease.
	for name, offsets := range map[string][]int32{
		"past end":   {0, 2, 10},
		"decreasing": {0, 3, 1},
		"negative":   {-1, 1, 2},
	} {
		t.Run(name, func(t *testing.T) {
			data := array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{
				nil,
				memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(offsets)),
				memory.NewBufferBytes([]byte("abc")),
			}, nil, 0, 0)
			defer data.Release()
			var arr arrow.Array
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Logf("arrow-go itself refuses to build this array: %v", p)
					}
				}()
				arr = array.MakeFromData(data)
			}()
			if arr == nil {
				return
			}
			defer arr.Release()
			if _, err := NewStringColumn(arr); !errors.Is(err, ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}

	// Dictionary index out of range.
	dictB := array.NewStringBuilder(mem)
	dictB.AppendValues([]string{"a", "b"}, nil)
	dict := dictB.NewArray()
	defer dict.Release()
	idxB := array.NewInt8Builder(mem)
	idxB.AppendValues([]int8{0, 5}, nil)
	idx := idxB.NewArray()
	defer idx.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	bad := array.NewDictionaryArray(dt, idx, dict)
	defer bad.Release()
	if _, err := NewStringColumn(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("dictionary index 5 of 2: %v, want ErrCorrupt", err)
	}
}

func TestIntColumnTypes(t *testing.T) {
	mem := memory.NewGoAllocator()
	want := []int64{0, 1, 100, 127}
	valid := []bool{true, false, true, true}
	types := []arrow.DataType{
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32,
	}
	for _, dt := range types {
		t.Run(dt.String(), func(t *testing.T) {
			b := array.NewBuilder(mem, dt)
			defer b.Release()
			for i, v := range want {
				if !valid[i] {
					b.AppendNull()
					continue
				}
				switch bb := b.(type) {
				case *array.Int8Builder:
					bb.Append(int8(v))
				case *array.Int16Builder:
					bb.Append(int16(v))
				case *array.Int32Builder:
					bb.Append(int32(v))
				case *array.Int64Builder:
					bb.Append(v)
				case *array.Uint8Builder:
					bb.Append(uint8(v))
				case *array.Uint16Builder:
					bb.Append(uint16(v))
				case *array.Uint32Builder:
					bb.Append(uint32(v))
				}
			}
			arr := b.NewArray()
			defer arr.Release()
			c, err := NewIntColumn(arr)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got, w := c.IsNull(i), !valid[i]; got != w {
					t.Errorf("row %d: IsNull = %v, want %v", i, got, w)
				}
				if valid[i] {
					if got := c.Value(i); got != want[i] {
						t.Errorf("row %d: Value = %d, want %d", i, got, want[i])
					}
				}
			}
		})
	}
	t.Run("large uint32", func(t *testing.T) {
		b := array.NewUint32Builder(mem)
		defer b.Release()
		b.Append(math.MaxUint32)
		arr := b.NewArray()
		defer arr.Release()
		c, err := NewIntColumn(arr)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Value(0), int64(math.MaxUint32); got != want {
			t.Errorf("Value = %d, want %d", got, want)
		}
	})
	for _, dt := range []arrow.DataType{arrow.PrimitiveTypes.Uint64, arrow.PrimitiveTypes.Float64, arrow.BinaryTypes.String} {
		t.Run("rejects "+dt.String(), func(t *testing.T) {
			b := array.NewBuilder(mem, dt)
			defer b.Release()
			b.AppendNull()
			arr := b.NewArray()
			defer arr.Release()
			if _, err := NewIntColumn(arr); !errors.Is(err, ErrColumnType) {
				t.Errorf("got %v, want ErrColumnType", err)
			}
		})
	}
}

func TestTimeColumnTypes(t *testing.T) {
	mem := memory.NewGoAllocator()
	instant := time.Date(2025, 3, 10, 20, 0, 0, 0, time.UTC)
	day := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		dt   arrow.DataType
		raw  int64
		want time.Time
	}{
		{&arrow.TimestampType{Unit: arrow.Second}, instant.Unix(), instant},
		{&arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, instant.UnixMilli(), instant},
		{&arrow.TimestampType{Unit: arrow.Microsecond}, instant.UnixMicro(), instant},
		{&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Paris"}, instant.UnixNano(), instant},
		{arrow.FixedWidthTypes.Date32, day.Unix() / 86400, day},
		{arrow.FixedWidthTypes.Date64, day.UnixMilli(), day},
	}
	for _, tt := range tests {
		t.Run(tt.dt.String(), func(t *testing.T) {
			b := array.NewBuilder(mem, tt.dt)
			defer b.Release()
			switch bb := b.(type) {
			case *array.TimestampBuilder:
				bb.Append(arrow.Timestamp(tt.raw))
			case *array.Date32Builder:
				bb.Append(arrow.Date32(tt.raw))
			case *array.Date64Builder:
				bb.Append(arrow.Date64(tt.raw))
			}
			b.AppendNull()
			arr := b.NewArray()
			defer arr.Release()
			c, err := NewTimeColumn(arr)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Value(0), tt.want.UnixNano(); got != want {
				t.Errorf("Value = %d, want %d", got, want)
			}
			if got := c.Time(0); !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("Time = %v, want %v in UTC", got, tt.want)
			}
			if !c.IsNull(1) || c.IsNull(0) {
				t.Errorf("IsNull = %v, %v; want false, true", c.IsNull(0), c.IsNull(1))
			}
		})
	}
	t.Run("saturates", func(t *testing.T) {
		b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: arrow.Second})
		defer b.Release()
		b.AppendValues([]arrow.Timestamp{math.MaxInt64 / 2, math.MinInt64 / 2, 1 << 33}, nil)
		arr := b.NewArray()
		defer arr.Release()
		c, err := NewTimeColumn(arr)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []int64{math.MaxInt64, math.MinInt64, (1 << 33) * 1e9} {
			if got := c.Value(i); got != want {
				t.Errorf("row %d: Value = %d, want %d", i, got, want)
			}
		}
	})
	t.Run("rejects int64", func(t *testing.T) {
		b := array.NewInt64Builder(mem)
		defer b.Release()
		b.Append(1)
		arr := b.NewArray()
		defer arr.Release()
		if _, err := NewTimeColumn(arr); !errors.Is(err, ErrColumnType) {
			t.Errorf("got %v, want ErrColumnType", err)
		}
	})
}

// TestUserIDTypes: the privacy unit may be an integer or a string column;
// both read through Parquet and the accessors.
func TestUserIDTypes(t *testing.T) {
	mem := memory.NewGoAllocator()
	for _, dt := range []arrow.DataType{arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString} {
		t.Run(dt.String(), func(t *testing.T) {
			sc := arrow.NewSchema([]arrow.Field{{Name: "user_id", Type: dt, Nullable: true}}, nil)
			b := array.NewRecordBuilder(mem, sc)
			defer b.Release()
			for i := 0; i < 10; i++ {
				switch fb := b.Field(0).(type) {
				case *array.Int32Builder:
					fb.Append(int32(i))
				case *array.Int64Builder:
					fb.Append(int64(i))
				case *array.StringBuilder:
					fb.Append(string(rune('a' + i)))
				case *array.LargeStringBuilder:
					fb.Append(string(rune('a' + i)))
				}
			}
			b.Field(0).AppendNull()
			rec := b.NewRecordBatch()
			defer rec.Release()
			path := t.TempDir() + "/u.parquet"
			writeRecordParquet(t, path, rec)
			s, err := Open(path, ScanOptions{Columns: []string{"user_id"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got []string
			for s.Scan() {
				col := s.Record().Column(0)
				if ic, err := NewIntColumn(col); err == nil {
					for i := 0; i < ic.Len(); i++ {
						if ic.IsNull(i) {
							got = append(got, "null")
						} else {
							got = append(got, string(rune('a'+ic.Value(i))))
						}
					}
				} else if sc, err := NewStringColumn(col); err == nil {
					for i := 0; i < sc.Len(); i++ {
						if sc.IsNull(i) {
							got = append(got, "null")
						} else {
							got = append(got, sc.Value(i))
						}
					}
				} else {
					t.Fatalf("neither accessor reads %s", col.DataType())
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "null"}
			if len(got) != len(want) {
				t.Fatalf("got %d values, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("row %d: %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}
