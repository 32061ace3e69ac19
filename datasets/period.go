package datasets

import "math"

// selectPeriod appends to dst the rows of c whose instant is in [start,
// end) (unix nanos), and returns how many rows were null and how many fell
// outside. It compares the raw values against the bounds converted to the
// column's unit (v·mul ≥ start ⇔ v ≥ ⌈start/mul⌉ for mul > 0, saturation
// included), so the usual int64 timestamp column is one tight loop.
func (c TimeColumn) selectPeriod(start, end int64, dst []int32) (_ []int32, nulls, outside int64) {
	n := c.ints.n
	vals := c.ints.i64
	if vals == nil || c.mul <= 0 {
		for i := 0; i < n; i++ {
			if c.IsNull(i) {
				nulls++
				continue
			}
			if t := c.Value(i); t < start || t >= end {
				outside++
				continue
			}
			dst = append(dst, int32(i))
		}
		return dst, nulls, outside
	}
	lo, hi := ceilDiv(start, c.mul), ceilDiv(end, c.mul)
	if start == math.MinInt64 {
		lo = math.MinInt64 // a value that saturates to MinInt64 is in
	}
	vals = vals[:n]
	kept := len(dst)
	if c.ints.valid.bits == nil {
		for i, v := range vals {
			if v >= lo && v < hi {
				dst = append(dst, int32(i))
			}
		}
		return dst, 0, int64(n) - int64(len(dst)-kept)
	}
	for i, v := range vals {
		if c.ints.valid.isNull(i) {
			nulls++
		} else if v >= lo && v < hi {
			dst = append(dst, int32(i))
		}
	}
	return dst, nulls, int64(n) - nulls - int64(len(dst)-kept)
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b > 0 {
		q++
	}
	return q
}
