package datasets

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// indexArray builds an index array of type dt holding raw values vals
// (whatever sits in null slots too) with the slots in nulls null.
func indexArray(t *testing.T, dt arrow.DataType, vals []int64, nulls ...int) arrow.Array {
	t.Helper()
	width := dt.(arrow.FixedWidthDataType).BitWidth() / 8
	raw := make([]byte, len(vals)*width)
	for i, v := range vals {
		for b := range width {
			raw[i*width+b] = byte(uint64(v) >> (8 * b))
		}
	}
	var validity *memory.Buffer
	if len(nulls) > 0 {
		bits := make([]byte, (len(vals)+7)/8)
		for i := range vals {
			bits[i/8] |= 1 << (i % 8)
		}
		for _, i := range nulls {
			bits[i/8] &^= 1 << (i % 8)
		}
		validity = memory.NewBufferBytes(bits)
	}
	data := array.NewData(dt, len(vals), []*memory.Buffer{validity, memory.NewBufferBytes(raw)}, nil, len(nulls), 0)
	defer data.Release()
	return array.MakeFromData(data)
}

// TestBadIndex finds an out-of-range dictionary index in a non-null slot,
// and only there: a null slot may hold any value (writers leave garbage or
// zeros), on the raw fast path (int8/16/32) and the slot-by-slot one.
func TestBadIndex(t *testing.T) {
	types := []arrow.DataType{arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64}
	for _, tc := range []struct {
		name  string
		vals  []int64
		nulls []int
		bad   bool
		value int64
	}{
		{"all in range", []int64{0, 1, 2, 1}, nil, false, 0},
		{"too high", []int64{0, 3, 2}, nil, true, 3},
		{"negative", []int64{0, -1, 2}, nil, true, -1},
		{"garbage in a null slot", []int64{0, 99, 2, -5}, []int{1, 3}, false, 0},
		{"garbage in a null slot, then a bad index", []int64{99, 1, 7}, []int{0}, true, 7},
		{"bad index before a null", []int64{0, 4, 99}, []int{2}, true, 4},
		{"nulls, all in range", []int64{0, 0, 2}, []int{1}, false, 0},
	} {
		for _, dt := range types {
			t.Run(tc.name+"/"+dt.String(), func(t *testing.T) {
				arr := indexArray(t, dt, tc.vals, tc.nulls...)
				defer arr.Release()
				idx, err := newIntColumn(arr, false)
				if err != nil {
					t.Fatal(err)
				}
				v, bad := badIndex(arr, idx, 3)
				if bad != tc.bad || (bad && v != tc.value) {
					t.Errorf("badIndex = %d, %v; want %d, %v", v, bad, tc.value, tc.bad)
				}
			})
		}
	}
}
