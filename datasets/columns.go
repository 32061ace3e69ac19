package datasets

import (
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// The column accessors read one column of a record batch as Go values
// whatever physical type the export used. Their constructors check the
// array's buffers once (offsets in range, dictionary indices in range,
// nullBits bitmap long enough), so that IsNull and Value never panic on a
// malformed file: a bad column is an error from the constructor, wrapping
// ErrCorrupt, or ErrColumnType for a type the accessor does not read.
// Accessors are valid while the record batch they came from is.

// nullBits is the null bitmap of an array (nil: no nulls).
type nullBits struct {
	bits   []byte
	offset int
}

func newNullBits(arr arrow.Array) (nullBits, error) {
	if arr.NullN() == 0 {
		return nullBits{}, nil
	}
	bits := arr.NullBitmapBytes()
	if bits == nil {
		if arr.NullN() == arr.Len() { // all-null arrays may omit the bitmap
			return nullBits{bits: make([]byte, bitutil.BytesForBits(int64(arr.Len()))), offset: 0}, nil
		}
		return nullBits{}, fmt.Errorf("%w: nulls but no validity bitmap", ErrCorrupt)
	}
	off := arr.Data().Offset()
	if int64(len(bits)) < bitutil.BytesForBits(int64(off+arr.Len())) {
		return nullBits{}, fmt.Errorf("%w: validity bitmap too short", ErrCorrupt)
	}
	return nullBits{bits: bits, offset: off}, nil
}

func (v nullBits) isNull(i int) bool {
	return v.bits != nil && !bitutil.BitIsSet(v.bits, v.offset+i)
}

// ---------------------------------------------------------------------------

// StringColumn reads string, large_string, string_view, binary,
// large_binary and dictionary<integer, string|large_string|binary> arrays.
type StringColumn struct {
	n     int
	valid nullBits
	kind  strKind
	// plain offsets (int32 or int64) into data
	off32 []int32
	off64 []int64
	data  []byte
	view  *array.StringView
	// dictionary-encoded: per-row index into dict
	idx  IntColumn
	dict *StringColumn
	// dictVals holds the dictionary's values as strings, decoded once per
	// batch (dictionaries are small next to the rows that point into them).
	dictVals []string
}

type strKind uint8

const (
	strOff32 strKind = iota
	strOff64
	strView
	strDict
)

// NewStringColumn returns an accessor for arr, or an error wrapping
// ErrColumnType (unsupported type) or ErrCorrupt (inconsistent buffers).
func NewStringColumn(arr arrow.Array) (StringColumn, error) {
	return newStringColumn(arr, true)
}

// newStringColumn is NewStringColumn; with dictVals false, a dictionary
// column does not convert its dictionary's values to strings up front (a
// caller that reads each entry once at most, like internDictUsers).
func newStringColumn(arr arrow.Array, dictVals bool) (StringColumn, error) {
	if arr == nil {
		return StringColumn{}, fmt.Errorf("%w: nil array", ErrColumnType)
	}
	c := StringColumn{n: arr.Len()}
	var err error
	if c.valid, err = newNullBits(arr); err != nil {
		return StringColumn{}, err
	}
	// Offsets are absolute positions in the whole data buffer (arrow's
	// ValueBytes would slice it, and panic on corrupt offsets).
	switch a := arr.(type) {
	case *array.String:
		c.kind, c.off32, c.data = strOff32, a.ValueOffsets(), dataBuffer(a)
	case *array.Binary:
		c.kind, c.off32, c.data = strOff32, a.ValueOffsets(), dataBuffer(a)
	case *array.LargeString:
		c.kind, c.off64, c.data = strOff64, a.ValueOffsets(), dataBuffer(a)
	case *array.LargeBinary:
		c.kind, c.off64, c.data = strOff64, a.ValueOffsets(), dataBuffer(a)
	case *array.StringView:
		if err := array.ValidateFull(a); err != nil {
			return StringColumn{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		c.kind, c.view = strView, a
		return c, nil
	case *array.Dictionary:
		dict, err := NewStringColumn(a.Dictionary())
		if err != nil {
			return StringColumn{}, fmt.Errorf("dictionary: %w", err)
		}
		if dict.kind == strDict {
			return StringColumn{}, fmt.Errorf("%w: nested dictionary", ErrColumnType)
		}
		idx, err := newIntColumn(a.Indices(), false)
		if err != nil {
			return StringColumn{}, fmt.Errorf("dictionary indices: %w", err)
		}
		if _, bad := badIndex(a.Indices(), idx, dict.n); bad {
			return StringColumn{}, fmt.Errorf("%w: a dictionary index is out of range", ErrCorrupt)
		}
		if idx.n != c.n {
			return StringColumn{}, fmt.Errorf("%w: fewer dictionary indices than rows", ErrCorrupt)
		}
		c.kind, c.idx, c.dict = strDict, idx, &dict
		if dictVals && dict.n <= idx.n {
			c.dictVals = make([]string, dict.n)
			for i := range c.dictVals {
				c.dictVals[i] = dict.Value(i)
			}
		}
		return c, nil
	default:
		return StringColumn{}, fmt.Errorf("%w: %s is not a string type", ErrColumnType, arr.DataType())
	}
	if err := c.checkOffsets(); err != nil {
		return StringColumn{}, err
	}
	return c, nil
}

// dataBuffer is the value data buffer of a binary-like array (nil if absent).
func dataBuffer(arr arrow.Array) []byte {
	bufs := arr.Data().Buffers()
	if len(bufs) < 3 || bufs[2] == nil {
		return nil
	}
	return bufs[2].Bytes()
}

// checkOffsets verifies that offsets are non-decreasing and inside data.
func (c *StringColumn) checkOffsets() error {
	switch c.kind {
	case strOff32:
		if len(c.off32) < c.n+1 {
			return fmt.Errorf("%w: fewer string offsets than values", ErrCorrupt)
		}
		o := c.off32[:c.n+1]
		if o[0] < 0 || int64(o[c.n]) > int64(len(c.data)) {
			return fmt.Errorf("%w: string offsets outside the data buffer", ErrCorrupt)
		}
		for i := 1; i < len(o); i++ {
			if o[i] < o[i-1] {
				return fmt.Errorf("%w: string offsets decrease", ErrCorrupt)
			}
		}
	case strOff64:
		if len(c.off64) < c.n+1 {
			return fmt.Errorf("%w: fewer string offsets than values", ErrCorrupt)
		}
		o := c.off64[:c.n+1]
		if o[0] < 0 || o[c.n] > int64(len(c.data)) {
			return fmt.Errorf("%w: string offsets outside the data buffer", ErrCorrupt)
		}
		for i := 1; i < len(o); i++ {
			if o[i] < o[i-1] {
				return fmt.Errorf("%w: string offsets decrease", ErrCorrupt)
			}
		}
	}
	return nil
}

// Len is the number of rows.
func (c StringColumn) Len() int { return c.n }

// IsNull reports whether row i is null (for a dictionary column, also when
// the dictionary entry it points to is null).
func (c StringColumn) IsNull(i int) bool {
	if c.valid.isNull(i) {
		return true
	}
	if c.kind == strDict {
		return c.dict.IsNull(int(c.idx.Value(i)))
	}
	return false
}

// Value returns row i ("" for null). The string shares memory with the
// record batch: it is valid until the next Scan; use strings.Clone to keep
// it longer (map keys, results). Bytes are returned as stored: invalid
// UTF-8 is not repaired here.
func (c StringColumn) Value(i int) string {
	switch c.kind {
	case strOff32:
		b := c.data[c.off32[i]:c.off32[i+1]]
		return unsafe.String(unsafe.SliceData(b), len(b))
	case strOff64:
		b := c.data[c.off64[i]:c.off64[i+1]]
		return unsafe.String(unsafe.SliceData(b), len(b))
	case strView:
		return c.view.Value(i)
	default:
		if c.valid.isNull(i) {
			return ""
		}
		if c.dictVals != nil {
			return c.dictVals[c.idx.Value(i)]
		}
		return c.dict.Value(int(c.idx.Value(i)))
	}
}

// DictionaryIndex returns, for a dictionary-encoded column, the index of
// row i into the dictionary and ok = true; callers can map the (few)
// dictionary values once per batch instead of once per row.
func (c StringColumn) DictionaryIndex(i int) (idx int, ok bool) {
	if c.kind != strDict {
		return 0, false
	}
	return int(c.idx.Value(i)), true
}

// Dictionary returns the dictionary of a dictionary-encoded column.
func (c StringColumn) Dictionary() (StringColumn, bool) {
	if c.kind != strDict {
		return StringColumn{}, false
	}
	return *c.dict, true
}

// ---------------------------------------------------------------------------

// IntColumn reads int8, int16, int32, int64, uint8, uint16 and uint32
// arrays (and, as indices, uint64 arrays whose values fit in int64).
type IntColumn struct {
	n     int
	valid nullBits
	kind  arrow.Type
	i8    []int8
	i16   []int16
	i32   []int32
	i64   []int64
	u8    []uint8
	u16   []uint16
	u32   []uint32
}

// NewIntColumn returns an accessor for arr, or an error wrapping
// ErrColumnType for other types. uint64 is refused: its values may not fit
// in int64.
func NewIntColumn(arr arrow.Array) (IntColumn, error) {
	c, err := newIntColumn(arr, false)
	if err != nil {
		return IntColumn{}, err
	}
	return c, nil
}

func newIntColumn(arr arrow.Array, allowUint64 bool) (IntColumn, error) {
	if arr == nil {
		return IntColumn{}, fmt.Errorf("%w: nil array", ErrColumnType)
	}
	c := IntColumn{n: arr.Len(), kind: arr.DataType().ID()}
	var err error
	if c.valid, err = newNullBits(arr); err != nil {
		return IntColumn{}, err
	}
	var have int
	switch a := arr.(type) {
	case *array.Int8:
		c.i8 = a.Int8Values()
		have = len(c.i8)
	case *array.Int16:
		c.i16 = a.Int16Values()
		have = len(c.i16)
	case *array.Int32:
		c.i32 = a.Int32Values()
		have = len(c.i32)
	case *array.Int64:
		c.i64 = a.Int64Values()
		have = len(c.i64)
	case *array.Uint8:
		c.u8 = a.Uint8Values()
		have = len(c.u8)
	case *array.Uint16:
		c.u16 = a.Uint16Values()
		have = len(c.u16)
	case *array.Uint32:
		c.u32 = a.Uint32Values()
		have = len(c.u32)
	default:
		return IntColumn{}, fmt.Errorf("%w: %s is not an integer type", ErrColumnType, arr.DataType())
	}
	if have < c.n {
		return IntColumn{}, fmt.Errorf("%w: fewer values than rows", ErrCorrupt)
	}
	return c, nil
}

// Len is the number of rows.
func (c IntColumn) Len() int { return c.n }

// IsNull reports whether row i is null.
func (c IntColumn) IsNull(i int) bool { return c.valid.isNull(i) }

// Value returns row i as int64 (0 for null).
func (c IntColumn) Value(i int) int64 {
	if c.i64 != nil {
		return c.i64[i]
	}
	if c.i32 != nil {
		return int64(c.i32[i])
	}
	switch c.kind {
	case arrow.INT64:
		return c.i64[i]
	case arrow.INT32:
		return int64(c.i32[i])
	case arrow.INT16:
		return int64(c.i16[i])
	case arrow.INT8:
		return int64(c.i8[i])
	case arrow.UINT32:
		return int64(c.u32[i])
	case arrow.UINT16:
		return int64(c.u16[i])
	default:
		return int64(c.u8[i])
	}
}

// Int64s returns the values as a slice when the column is int64 (no
// conversion needed), for tight loops; nulls hold unspecified values.
func (c IntColumn) Int64s() ([]int64, bool) {
	if c.kind != arrow.INT64 {
		return nil, false
	}
	return c.i64[:c.n], true
}

// ---------------------------------------------------------------------------

// TimeColumn reads timestamp arrays of any unit (Parquet INT96 arrives as
// timestamp[ns]) and date32/date64 arrays, as instants in UTC. Timestamps
// without a time zone are taken to be UTC.
type TimeColumn struct {
	ints IntColumn
	mul  int64 // nanoseconds per unit
}

// NewTimeColumn returns an accessor for arr, or an error wrapping
// ErrColumnType for other types.
func NewTimeColumn(arr arrow.Array) (TimeColumn, error) {
	if arr == nil {
		return TimeColumn{}, fmt.Errorf("%w: nil array", ErrColumnType)
	}
	valid, err := newNullBits(arr)
	if err != nil {
		return TimeColumn{}, err
	}
	c := TimeColumn{ints: IntColumn{n: arr.Len(), valid: valid, kind: arrow.INT64}}
	switch a := arr.(type) {
	case *array.Timestamp:
		vals := a.TimestampValues()
		c.ints.i64 = unsafe.Slice((*int64)(unsafe.SliceData(vals)), len(vals))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			c.mul = 1e9
		case arrow.Millisecond:
			c.mul = 1e6
		case arrow.Microsecond:
			c.mul = 1e3
		default:
			c.mul = 1
		}
	case *array.Date32:
		vals := a.Date32Values()
		c.ints.kind = arrow.INT32
		c.ints.i32 = unsafe.Slice((*int32)(unsafe.SliceData(vals)), len(vals))
		c.mul = 86400e9
	case *array.Date64:
		vals := a.Date64Values()
		c.ints.i64 = unsafe.Slice((*int64)(unsafe.SliceData(vals)), len(vals))
		c.mul = 1e6
	default:
		return TimeColumn{}, fmt.Errorf("%w: %s is not a timestamp or date type", ErrColumnType, arr.DataType())
	}
	if len(c.ints.i64)+len(c.ints.i32) < c.ints.n {
		return TimeColumn{}, fmt.Errorf("%w: fewer values than rows", ErrCorrupt)
	}
	return c, nil
}

// Len is the number of rows.
func (c TimeColumn) Len() int { return c.ints.n }

// IsNull reports whether row i is null.
func (c TimeColumn) IsNull(i int) bool { return c.ints.valid.isNull(i) }

// Value returns row i as Unix nanoseconds (0 for null). Instants outside
// the int64 nanosecond range (years before 1677 or after 2262) saturate to
// math.MinInt64 / math.MaxInt64: they fall outside every run period.
func (c TimeColumn) Value(i int) int64 {
	v := c.ints.Value(i)
	if c.mul == 1 {
		return v
	}
	if v > math.MaxInt64/c.mul {
		return math.MaxInt64
	}
	if v < math.MinInt64/c.mul {
		return math.MinInt64
	}
	return v * c.mul
}

// Time returns row i as a time.Time in UTC (the zero Time for null).
func (c TimeColumn) Time(i int) time.Time {
	if c.IsNull(i) {
		return time.Time{}
	}
	return time.Unix(0, c.Value(i)).UTC()
}

// badIndex returns a dictionary index out of [0, n) in a non-null slot,
// if there is one. Index arrays of the usual types take a fast path over
// the raw values (this check runs on every batch of every dimension): if
// no raw value is out of range, none in a non-null slot is. Null slots may
// hold any value, so only when some raw value is out of range, and the
// array has nulls, are the slots checked one by one.
func badIndex(indices arrow.Array, idx IntColumn, n int) (int64, bool) {
	if indices.Len() == idx.n {
		var v int64
		bad, known := false, true
		switch a := indices.(type) {
		case *array.Int8:
			v, bad = firstOutside(a.Int8Values(), n)
		case *array.Int16:
			v, bad = firstOutside(a.Int16Values(), n)
		case *array.Int32:
			v, bad = firstOutside(a.Int32Values(), n)
		default:
			known = false
		}
		if known && (!bad || indices.NullN() == 0) {
			return v, bad
		}
	}
	for i := 0; i < idx.n; i++ {
		if !idx.IsNull(i) {
			if v := idx.Value(i); v < 0 || v >= int64(n) {
				return v, true
			}
		}
	}
	return 0, false
}

func firstOutside[T int8 | int16 | int32](vals []T, n int) (int64, bool) {
	for _, v := range vals {
		if v < 0 || int64(v) >= int64(n) {
			return int64(v), true
		}
	}
	return 0, false
}
