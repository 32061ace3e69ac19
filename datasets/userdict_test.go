package datasets

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TestEventReaderDictionaryUsersNumberLikeRows reads the same events from
// Parquet, whose user_id the reader takes dictionary-encoded (interned once
// per dictionary entry) when every page of it is, and from Arrow IPC, whose
// plain strings are interned row by row: every row gets the same user
// number, so users are numbered in order of first appearance either way,
// and the counts agree. The Parquet files have row groups that span
// batches, null and empty ids, and rows outside the period (ids met first
// there must not be interned); in one, the dictionary outgrows its page
// limit and pages fall back to plain encoding: that file is read plain.
func TestEventReaderDictionaryUsersNumberLikeRows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		users     int
		dictLimit int64
		wantDict  bool
	}{
		{"dictionary pages", 60, 1 << 20, true},
		{"fallback to plain pages", 700, 2000, false},
	} {
		t.Run(tc.name, func(t *testing.T) { testDictionaryUsers(t, tc.users, tc.dictLimit, tc.wantDict) })
	}
}

func testDictionaryUsers(t *testing.T, numUsers int, dictLimit int64, wantDict bool) {
	const n = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]any, n)
	times := make([]any, n)
	for i := range ids {
		switch k := rng.IntN(100); {
		case k < 3:
			ids[i] = nil
		case k < 5:
			ids[i] = ""
		default:
			ids[i] = fmt.Sprintf("user-%d", rng.IntN(numUsers))
		}
		switch k := rng.IntN(100); {
		case k < 2:
			times[i] = nil
		case k < 12:
			times[i] = evEnd.Add(time.Duration(rng.IntN(1000)) * time.Second)
		default:
			times[i] = evStart.Add(time.Duration(rng.IntN(86400)) * time.Second)
		}
	}
	fields := []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}
	cols := []arrow.Array{strArr(ids...), tsArr(times...)}
	defer cols[0].Release()
	defer cols[1].Release()

	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, n)
	defer rec.Release()
	var pq bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &pq, parquet.NewWriterProperties(
		parquet.WithDictionaryDefault(true),
		parquet.WithMaxRowGroupLength(1300),
		parquet.WithDictionaryPageSizeLimit(dictLimit),
		parquet.WithDataPageSize(1500),
	), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	arrowFile := writeArrowFileT(t, fields, cols)

	spec := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd, BatchSize: 512}
	read := func(name string, data []byte) ([]uint32, ReadCounts, int, bool) {
		users := NewUserIndex()
		r, err := NewEventReaderFrom([]Input{BytesInput(name, data)}, spec, users)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got []uint32
		dict := false
		for r.Scan() {
			b := r.Batch()
			got = append(got, b.Users[:b.Len]...)
			if _, ok := r.s.Record().Column(r.userPos).(*array.Dictionary); ok {
				dict = true
			}
		}
		if err := r.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got, r.ExactCounts(), users.Len(), dict
	}
	wantUsers, wantCounts, wantN, _ := read("events.arrow", arrowFile)
	gotUsers, gotCounts, gotN, dict := read("events.parquet", pq.Bytes())
	if dict != wantDict {
		t.Fatalf("the Parquet user_id column was read as a dictionary: %v, want %v", dict, wantDict)
	}
	if !reflect.DeepEqual(gotUsers, wantUsers) {
		t.Errorf("users per row differ between the dictionary and the plain path (first 20: %v vs %v)", head(gotUsers), head(wantUsers))
	}
	if gotCounts != wantCounts || gotN != wantN {
		t.Errorf("counts %+v, %d users; plain path %+v, %d users", gotCounts, gotN, wantCounts, wantN)
	}
	if wantCounts.NullUser == 0 || wantCounts.OutOfPeriod == 0 || wantCounts.NullTime == 0 {
		t.Errorf("fixture lacks null users, null times or out-of-period rows: %+v", wantCounts)
	}
}

func head(s []uint32) []uint32 { return s[:min(20, len(s))] }
