package datasets

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestSelectPeriodMatchesValue checks the unit-converted comparison of
// selectPeriod against the definition (Value in nanoseconds, saturating,
// compared with [start, end)) for every timestamp unit, with values on and
// next to the bounds, negative and saturating values, and nulls.
func TestSelectPeriodMatchesValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	units := []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}
	periods := [][2]int64{
		{evStart.UnixNano(), evEnd.UnixNano()},
		{evStart.UnixNano() + 1, evEnd.UnixNano() - 1}, // bounds not on a unit
		{-86_400e9 - 7, -3},
		{math.MinInt64, math.MaxInt64},
	}
	for _, unit := range units {
		mul := int64(unit.Multiplier())
		for _, p := range periods {
			for _, nulls := range []bool{false, true} {
				b := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: unit})
				for i := 0; i < 2000; i++ {
					if nulls && rng.IntN(10) == 0 {
						b.AppendNull()
						continue
					}
					var v int64
					switch rng.IntN(6) {
					case 0:
						v = p[0]/mul + rng.Int64N(5) - 2
					case 1:
						v = p[1]/mul + rng.Int64N(5) - 2
					case 2:
						v = math.MaxInt64 - rng.Int64N(3)
					case 3:
						v = math.MinInt64 + rng.Int64N(3)
					default:
						v = p[0]/mul + rng.Int64N(max(1, (p[1]/mul-p[0]/mul)))
					}
					b.Append(arrow.Timestamp(v))
				}
				arr := b.NewArray()
				b.Release()
				col, err := NewTimeColumn(arr)
				if err != nil {
					t.Fatal(err)
				}
				var want []int32
				var wantNull, wantOut int64
				for i := 0; i < col.Len(); i++ {
					switch v := col.Value(i); {
					case col.IsNull(i):
						wantNull++
					case v < p[0] || v >= p[1]:
						wantOut++
					default:
						want = append(want, int32(i))
					}
				}
				got, gotNull, gotOut := col.selectPeriod(p[0], p[1], []int32{-1})
				if len(got) != len(want)+1 || gotNull != wantNull || gotOut != wantOut {
					t.Fatalf("unit %v period %v nulls %v: %d rows, %d null, %d outside; want %d, %d, %d",
						unit, p, nulls, len(got)-1, gotNull, gotOut, len(want), wantNull, wantOut)
				}
				for i := range want {
					if got[i+1] != want[i] {
						t.Fatalf("unit %v period %v: row %d is %d, want %d", unit, p, i, got[i+1], want[i])
					}
				}
				arr.Release()
			}
		}
	}
}
