package datasets

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// rawDictRecord reports whether rec's user column was read from
// dictionary pages (see userPages).
func rawDictRecord(rec arrow.RecordBatch) bool {
	return rec.Schema().Metadata().FindKey(rawDictKey) >= 0
}

// TestEventReaderDictionaryUsersNumberLikeRows reads the same events from
// Parquet, whose user_id the reader takes raw (see rawColumn), or, without
// that, dictionary-encoded (interned once per dictionary entry) when every
// page of it is, and from Arrow IPC, whose plain strings are interned row
// by row: every row gets the same user number, so users are numbered in
// order of first appearance either way, and the counts agree. The Parquet files have row groups that span
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
		for _, required := range []bool{false, true} {
			for _, decoders := range []int{1, 2} {
				name := fmt.Sprintf("%s/required=%v/decoders=%d", tc.name, required, decoders)
				t.Run(name, func(t *testing.T) { testDictionaryUsers(t, tc.users, tc.dictLimit, tc.wantDict, required, decoders) })
			}
		}
	}
}

// testDictionaryUsers reads the events with the user and dimension columns
// read raw (see rawColumn, the default), and once more through pqarrow only
// (noRawUser):
// as a dictionary when wantDict (every page is dictionary-encoded), else
// plain (pages that fell back to plain encoding after dictionary ones),
// from 1 or 2 decoders; required: the user column is
// non-nullable and has no null ids.
func testDictionaryUsers(t *testing.T, numUsers int, dictLimit int64, wantDict, required bool, decoders int) {
	const n = 5000
	rng := rand.New(rand.NewPCG(1, 2))
	ids := make([]any, n)
	times := make([]any, n)
	// Two dimensions, read raw too: a few values, and many (whose
	// dictionary falls back to plain pages with the small page limit).
	devices := make([]any, n)
	shows := make([]any, n)
	for i := range ids {
		if k := rng.IntN(20); k > 0 {
			devices[i] = fmt.Sprintf("device-%d", k%7)
		}
		if k := rng.IntN(600); k > 0 {
			shows[i] = fmt.Sprintf("a show name long enough to fill pages %d", k)
		}
		switch k := rng.IntN(100); {
		case k < 3 && !required:
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
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: !required},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "show", Type: arrow.BinaryTypes.String, Nullable: true},
	}
	cols := []arrow.Array{strArr(ids...), tsArr(times...), strArr(devices...), strArr(shows...)}
	for _, c := range cols {
		defer c.Release()
	}

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

	spec := EventSpec{User: "user_id", Time: "event_time", Dimensions: []string{"device", "show"},
		Start: evStart, End: evEnd, BatchSize: 512, Decoders: decoders}
	// kinds counts batches: read raw from dictionary pages, raw plain (with
	// hashes), by pqarrow as a dictionary, by pqarrow plain.
	// dimDicts counts batches whose dimensions came as dictionaries.
	type kinds struct{ rawDict, rawPlain, pqDict, pqPlain, dimDicts int }
	var dims [2][]string // the last read's dimension values per row
	read := func(name string, data []byte, noRaw bool) ([]uint32, ReadCounts, int, kinds) {
		dims = [2][]string{}
		users := NewUserIndex()
		r, err := NewEventReaderFrom([]Input{BytesInput(name, data)}, spec, users)
		if err != nil {
			t.Fatal(err)
		}
		r.noRawUser = noRaw
		defer r.Close()
		var got []uint32
		var k kinds
		for r.Scan() {
			b := r.Batch()
			got = append(got, b.Users[:b.Len]...)
			for d := range dims {
				dims[d] = append(dims[d], b.Dims[d][:b.Len]...)
			}
			rec := r.s.Record()
			for _, p := range r.dimPos {
				if _, ok := rec.Column(p).(*array.Dictionary); ok {
					k.dimDicts++
				}
			}
			_, dict := rec.Column(r.userPos).(*array.Dictionary)
			switch {
			case rawDictRecord(rec):
				k.rawDict++
			case userHashes(rec, len(r.cols)) != nil:
				k.rawPlain++
			case dict:
				k.pqDict++
			default:
				k.pqPlain++
			}
		}
		if err := r.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got, r.ExactCounts(), users.Len(), k
	}
	wantUsers, wantCounts, wantN, _ := read("events.arrow", arrowFile, false)
	wantDims := dims
	for _, noRaw := range []bool{false, true} {
		gotUsers, gotCounts, gotN, k := read("events.parquet", pq.Bytes(), noRaw)
		if (k.dimDicts > 0) == noRaw {
			t.Fatalf("noRawUser=%v: %d batches of dimensions came as dictionaries", noRaw, k.dimDicts)
		}
		if !reflect.DeepEqual(dims, wantDims) {
			t.Errorf("noRawUser=%v: dimension values per row differ between Parquet and the plain Arrow path", noRaw)
		}
		switch {
		case noRaw && (k.rawDict+k.rawPlain > 0 || (k.pqDict > 0) != wantDict || (k.pqPlain > 0) == wantDict):
			t.Fatalf("without the raw read: batches %+v, want pqarrow's only, as dictionaries: %v", k, wantDict)
		case !noRaw && (k.pqDict+k.pqPlain > 0 || k.rawDict == 0 || (k.rawPlain > 0) == wantDict):
			// Both files start with dictionary pages; one falls back to
			// plain pages.
			t.Fatalf("raw read: batches %+v, want raw ones only, from dictionary pages, and from plain pages: %v", k, !wantDict)
		}
		if !reflect.DeepEqual(gotUsers, wantUsers) {
			t.Errorf("noRawUser=%v: users per row differ between Parquet and the plain Arrow path (first 20: %v vs %v)", noRaw, head(gotUsers), head(wantUsers))
		}
		if gotCounts != wantCounts || gotN != wantN {
			t.Errorf("noRawUser=%v: counts %+v, %d users; plain Arrow path %+v, %d users", noRaw, gotCounts, gotN, wantCounts, wantN)
		}
	}
	if slices.Index(wantDims[0], "") < 0 || slices.Index(wantDims[1], "") < 0 {
		t.Errorf("fixture lacks null dimensions")
	}
	if (!required && wantCounts.NullUser == 0) || wantCounts.OutOfPeriod == 0 || wantCounts.NullTime == 0 {
		t.Errorf("fixture lacks null users, null times or out-of-period rows: %+v", wantCounts)
	}
}

func head(s []uint32) []uint32 { return s[:min(20, len(s))] }

// TestInternDictUsersKeepsDictionaryOnlyWhileSame feeds internDictUsers a
// sequence of batches whose dictionaries are the same as the previous
// batch's, or differ from it in ways a cheap check could miss: the same
// number of entries and offsets with other bytes, the same bytes cut at
// other offsets, offsets that do not start at 0, null entries, one more
// entry. Every batch's users must be what interning its rows one at a time
// gives, and the entries' users are reused exactly when the dictionary is
// byte for byte the kept one.
func TestInternDictUsersKeepsDictionaryOnlyWhileSame(t *testing.T) {
	sliced := func(vals ...any) arrow.Array { // offsets start past 0
		a := strArr(append([]any{"zzzz", "yy"}, vals...)...)
		defer a.Release()
		return array.NewSlice(a, 2, int64(a.Len()))
	}
	r := &EventReader{users: NewUserIndex()}
	ref := NewUserIndex() // interned one row at a time
	for _, tc := range []struct {
		name  string
		dict  arrow.Array
		idx   []int // -1: a null row
		reuse bool
	}{
		{"first", strArr("aa", "bb", "cc"), []int{2, 0, 2, -1, 1}, false},
		{"same bytes, new arrays", strArr("aa", "bb", "cc"), []int{1, 0, 0, 2}, true},
		{"same offsets, other bytes", strArr("dd", "ee", "ff"), []int{0, 1, 2, 0}, false},
		{"same bytes, other offsets", strArr("dde", "e", "ff"), []int{1, 0, 2}, false},
		{"again", strArr("dde", "e", "ff"), []int{0, 2, 1}, true},
		{"offsets from 2", sliced("dde", "e", "ff"), []int{2, 1, 0}, true},
		{"offsets from 2, other bytes", sliced("ddf", "e", "ff"), []int{0, 2}, false},
		{"offsets from 0 again", strArr("ddf", "e", "ff"), []int{1, 0}, true},
		{"offsets from 2, same bytes, other offsets", sliced("dd", "fe", "ff"), []int{1, 0, 2}, false},
		{"an empty entry", strArr("", "aa", "gg"), []int{0, 2, 1, 0}, false},
		{"a null entry", strArr("hh", nil, "aa"), []int{1, 0, 2}, false},
		{"null entry again: not kept", strArr("hh", nil, "aa"), []int{2, 1, 0}, false},
		{"one more entry", strArr("hh", "ii", "aa", "jj"), []int{3, 1}, false},
		{"one fewer", strArr("hh", "ii", "aa"), []int{1, 0, 2}, false},
	} {
		ib := array.NewInt32Builder(memory.DefaultAllocator)
		for _, k := range tc.idx {
			if k < 0 {
				ib.AppendNull()
			} else {
				ib.Append(int32(k))
			}
		}
		indices := ib.NewArray()
		ib.Release()
		arr := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, indices, tc.dict)
		indices.Release()
		tc.dict.Release()
		col, err := newEventUserColumn(arr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !col.dictStrings() {
			t.Fatalf("%s: not read as a dictionary", tc.name)
		}
		if got := r.dictKey.matches(col.str.dict); got != tc.reuse {
			t.Errorf("%s: the kept dictionary matches: %v, want %v", tc.name, got, tc.reuse)
		}
		rows := make([]int32, len(tc.idx))
		for i := range rows {
			rows[i] = int32(i)
		}
		sel, users := r.internDictUsers(&col, rows, nil, nil)
		var wantSel []int32
		var wantUsers []uint32
		for i := range tc.idx {
			if v := col.str.Value(i); !col.str.IsNull(i) && v != "" {
				wantSel = append(wantSel, int32(i))
				wantUsers = append(wantUsers, ref.ID(v))
			}
		}
		if !reflect.DeepEqual(sel, wantSel) || !reflect.DeepEqual(users, wantUsers) {
			t.Errorf("%s: rows %v users %v; one row at a time: rows %v users %v", tc.name, sel, users, wantSel, wantUsers)
		}
		arr.Release()
	}
	if r.users.Len() != ref.Len() {
		t.Errorf("%d users, one row at a time %d", r.users.Len(), ref.Len())
	}
}

// FuzzInternDictUsers reads batches of dictionary-encoded user ids made
// from the fuzzer's bytes (dictionaries of a few short, empty or null
// entries, often the same as the previous batch's, sometimes sliced) and
// checks every batch's users against interning its rows one at a time.
//
//	go test ./datasets -run '^$' -fuzz FuzzInternDictUsers -fuzztime 60s
func FuzzInternDictUsers(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 0, 4, 0, 1, 2, 9, 3, 0, 1, 2, 0, 3, 2, 1, 0})
	f.Add([]byte{2, 3, 4, 1, 3, 0, 1, 7, 2, 4, 3, 1, 2, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		vals := []any{"", "a", "b", "ab", "ba", "aa", nil}
		next := func() (byte, bool) {
			if len(data) == 0 {
				return 0, false
			}
			b := data[0]
			data = data[1:]
			return b, true
		}
		r := &EventReader{users: NewUserIndex()}
		ref := NewUserIndex()
		for batch := 0; batch < 64; batch++ {
			hdr, ok := next()
			if !ok {
				return
			}
			n := int(hdr%6) + 1
			entries := make([]any, 0, n+2)
			if hdr&0x80 != 0 {
				entries = append(entries, "zz", "y") // sliced off below
			}
			for range n {
				b, _ := next()
				entries = append(entries, vals[int(b)%len(vals)])
			}
			dict := strArr(entries...)
			if hdr&0x80 != 0 {
				s := array.NewSlice(dict, 2, int64(dict.Len()))
				dict.Release()
				dict = s
			}
			rowsB, _ := next()
			ib := array.NewInt32Builder(memory.DefaultAllocator)
			for range int(rowsB % 9) {
				b, _ := next()
				if b%7 == 6 {
					ib.AppendNull()
				} else {
					ib.Append(int32(int(b) % n))
				}
			}
			indices := ib.NewArray()
			ib.Release()
			arr := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, indices, dict)
			indices.Release()
			dict.Release()
			col, err := newEventUserColumn(arr)
			if err != nil {
				t.Fatal(err)
			}
			rows := make([]int32, arr.Len())
			for i := range rows {
				rows[i] = int32(i)
			}
			sel, users := r.internDictUsers(&col, rows, nil, nil)
			var wantSel []int32
			var wantUsers []uint32
			for i := range rows {
				if v := col.str.Value(i); !col.str.IsNull(i) && v != "" {
					wantSel = append(wantSel, int32(i))
					wantUsers = append(wantUsers, ref.ID(v))
				}
			}
			if !slices.Equal(sel, wantSel) || !slices.Equal(users, wantUsers) {
				t.Fatalf("batch %d: rows %v users %v; one row at a time: rows %v users %v", batch, sel, users, wantSel, wantUsers)
			}
			arr.Release()
		}
	})
}
