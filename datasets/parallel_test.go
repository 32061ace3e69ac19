package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// parallelFixture writes n events in row groups of rg rows (the last one
// shorter), with users, a dictionary dimension, a number and times of which
// some fall outside the period (one row group entirely).
func parallelFixture(t *testing.T, n, rg int) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	ids, times, devs, nums := make([]any, n), make([]any, n), make([]any, n), make([]any, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("u%d", rng.IntN(300))
		times[i] = evStart.Add(time.Duration(rng.IntN(86400)) * time.Second)
		if i/rg == 2 || rng.IntN(20) == 0 {
			times[i] = evEnd.Add(time.Hour) // row group 2: nothing kept
		}
		devs[i] = []string{"tv", "web", "phone"}[rng.IntN(3)]
		nums[i] = rng.IntN(5000)
	}
	fields := []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "device_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}
	cols := []arrow.Array{strArr(ids...), tsArr(times...), strArr(devs...), int64Arr(nums...)}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return writeParquetRowGroupsT(t, fields, cols, rg)
}

type readOut struct {
	Users  []uint32
	Codes  []int32
	Nums   []int64
	Times  []int64
	Lens   []int
	Counts ReadCounts
	Values []string
}

func readAllDecoders(t *testing.T, data []byte, decoders int) readOut {
	t.Helper()
	spec := EventSpec{User: "user_id", Time: "event_time", Dimensions: []string{"device_type"},
		Numbers: []NumberSpec{{Column: "duration_s", Gen: Generalizer{Min: 0, Max: 14400}}},
		Start:   evStart, End: evEnd, BatchSize: 300, CodesOnly: true, Times: true, Decoders: decoders}
	r, err := NewEventReaderFrom([]Input{BytesInput("a.parquet", data), BytesInput("b.parquet", data)}, spec, NewUserIndex())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var o readOut
	for r.Scan() {
		b := r.Batch()
		o.Lens = append(o.Lens, b.Len)
		o.Users = append(o.Users, b.Users[:b.Len]...)
		o.Codes = append(o.Codes, b.Codes[0][:b.Len]...)
		o.Nums = append(o.Nums, b.Numbers[0][:b.Len]...)
		o.Times = append(o.Times, b.Times[:b.Len]...)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("decoders %d: %v", decoders, err)
	}
	o.Counts, o.Values = r.ExactCounts(), r.DimValues(0)
	return o
}

// TestEventReaderDecodersSameBatches reads files of 7 row groups (one with
// no row in the period, the last shorter, each several batches long) with 1
// to 8 decoding goroutines: the batches, their rows in order, the users'
// numbers, the dimension codes and the counts are identical.
func TestEventReaderDecodersSameBatches(t *testing.T) {
	data := parallelFixture(t, 6500, 1000)
	want := readAllDecoders(t, data, 1)
	if want.Counts.Kept == 0 || len(want.Lens) < 14 {
		t.Fatalf("fixture too small: %+v, %d batches", want.Counts, len(want.Lens))
	}
	for _, d := range []int{2, 3, 8} {
		if got := readAllDecoders(t, data, d); !reflect.DeepEqual(got, want) {
			t.Errorf("decoders %d: batches differ from one decoder's (batch lengths %v vs %v, counts %+v vs %+v)",
				d, got.Lens, want.Lens, got.Counts, want.Counts)
		}
	}
}

// TestEventReaderDecodersCloseEarly closes readers with several decoders
// after one batch: every goroutine they started ends.
func TestEventReaderDecodersCloseEarly(t *testing.T) {
	data := parallelFixture(t, 6500, 1000)
	before := runtime.NumGoroutine()
	for range 20 {
		spec := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd, BatchSize: 100, Decoders: 3}
		r, err := NewEventReaderFrom([]Input{BytesInput("a.parquet", data)}, spec, NewUserIndex())
		if err != nil {
			t.Fatal(err)
		}
		if !r.Scan() {
			t.Fatal(r.Err())
		}
		r.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestEventReaderDecodersCorruptRowGroup breaks the page header of one row
// group in the middle of a file: with one decoder or several, the reader
// returns an *InputError naming the file (and no panic, no hang), after the
// rows of the row groups before it.
func TestEventReaderDecodersCorruptRowGroup(t *testing.T) {
	data := parallelFixture(t, 6500, 1000)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(4).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	off := cc.DataPageOffset()
	if cc.HasDictionaryPage() {
		off = cc.DictionaryPageOffset()
	}
	pf.Close()
	bad := bytes.Clone(data)
	for i := off; i < off+16; i++ {
		bad[i] = 0xff
	}
	for _, d := range []int{1, 2, 3} {
		spec := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd, BatchSize: 300, Decoders: d}
		r, err := NewEventReaderFrom([]Input{BytesInput("bad.parquet", bad)}, spec, NewUserIndex())
		if err != nil {
			t.Fatal(err)
		}
		for r.Scan() {
		}
		var ie *InputError
		if err := r.Err(); !errors.As(err, &ie) || ie.File != "bad.parquet" {
			t.Errorf("decoders %d: Err = %v, want an *InputError naming bad.parquet", d, err)
		}
		if rows := r.ExactCounts().Rows; rows < 4000 && d == 1 {
			t.Errorf("decoders %d: %d rows read before the error, want the 4 row groups before it", d, rows)
		}
		r.Close()
	}
}

// TestParallelReadAheadDecodesAhead holds the first record of a file read
// by two decoders and does not ask for more: the second decoder still
// decodes its whole first row group (10 batches) meanwhile, instead of
// stopping after one batch until the reader gets to that row group.
func TestParallelReadAheadDecodesAhead(t *testing.T) {
	data := parallelFixture(t, 6500, 1000)
	in := BytesInput("a.parquet", data)
	opt := ScanOptions{Columns: []string{"user_id", "duration_s"}, BatchSize: 100}
	sc, err := in.open(opt)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newParallelReadAhead(sc, 2, func() (*Scanner, error) { return in.open(opt) })
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Scan() {
		t.Fatal(p.Err())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(p.ws[1].recs) < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(p.ws[1].recs); n < 10 {
		t.Errorf("the second decoder holds %d records ahead, want its whole row group (10)", n)
	}
}
