package datasets

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// consentFormRows is an export whose users come in every shape the
// interning stage must get right: runs of one user, a user again after
// others, null and empty ids, null categories, long ids (compared in the
// user table's arena).
func consentFormRows(r *rand.Rand, n int) (rows []equivRow, kept int) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	cats := []any{"playback_stats", "product_usage", nil}
	u := 0
	for len(rows) < n {
		if r.IntN(3) == 0 {
			u = r.IntN(80) // few: a Parquet dictionary pays (see dictionaryLeaf)
		}
		var user any = fmt.Sprintf("u%d", u)
		switch {
		case u%17 == 0:
			user = fmt.Sprintf("a-long-user-identifier-%08d", u)
		case u%29 == 0:
			user = ""
		case u%31 == 0:
			user = nil
		}
		row := equivRow{user: user, cat: cats[r.IntN(len(cats))], granted: r.IntN(3) > 0,
			at: asOf.Add(-time.Duration(r.IntN(100)) * time.Hour).UnixMicro()}
		if s, ok := row.user.(string); ok && s != "" && row.cat != nil {
			kept++
		}
		rows = append(rows, row)
	}
	return rows, kept
}

// TestConsentUserForms: each form of the user column is interned by its own
// path, and a Parquet export's string ids by default page by page (see
// rawColumn), from dictionary pages or plain ones, with the decoder's
// hashes (ScanOptions.rawUserPlain), row for row. The numbering and the
// grants are the reference loader's in every case.
func TestConsentUserForms(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(4, 13))
	rows, kept := consentFormRows(r, 3000)
	var ids []string
	for _, row := range rows {
		if s, ok := row.user.(string); ok {
			ids = append(ids, s)
		}
	}
	largeIPC := func(t *testing.T) []byte {
		// A large_string user column (64-bit offsets): the generic path.
		e := equivExport{unit: arrow.Microsecond, rowGroup: 700, arrowIPC: true}
		data := e.write(t, rows)
		rd, err := ipc.NewFileReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		fields := rd.Schema().Fields()
		fields[0].Type = arrow.BinaryTypes.LargeString
		schema := arrow.NewSchema(fields, nil)
		var buf bytes.Buffer
		w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < rd.NumRecords(); i++ {
			rec, err := rd.Record(i)
			if err != nil {
				t.Fatal(err)
			}
			ls := array.NewLargeStringBuilder(memory.DefaultAllocator)
			ids := rec.Column(0).(*array.String)
			for j := 0; j < ids.Len(); j++ {
				if ids.IsNull(j) {
					ls.AppendNull()
				} else {
					ls.Append(ids.Value(j))
				}
			}
			col := ls.NewArray()
			ls.Release()
			cols := append([]arrow.Array{col}, rec.Columns()[1:]...)
			out := array.NewRecordBatch(schema, cols, rec.NumRows())
			col.Release()
			err = w.Write(out)
			out.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	write := func(e equivExport) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return e.write(t, rows) }
	}
	tests := []struct {
		name string
		data func(*testing.T) []byte
		read consentUserRead
		want consentUserForm
	}{
		{"parquet strings, raw (the default), dictionary pages", write(equivExport{unit: arrow.Microsecond, rowGroup: 1000}), readUserRaw, userHashed},
		{"parquet strings, raw, plain pages", write(equivExport{unit: arrow.Microsecond, rowGroup: 1000, plainPages: true}), readUserRaw, userHashed},
		{"parquet dictionary-typed strings, raw", write(equivExport{unit: arrow.Microsecond, rowGroup: 1000, dictIDs: true}), readUserRaw, userHashed},
		{"parquet strings as a dictionary", write(equivExport{unit: arrow.Microsecond, rowGroup: 1000}), readUserDict, userDict},
		{"parquet strings, plain", write(equivExport{unit: arrow.Microsecond, rowGroup: 1000}), readUserPlain, userPlain},
		{"ipc strings", write(equivExport{unit: arrow.Microsecond, rowGroup: 700, arrowIPC: true}), readUserRaw, userPlain},
		{"ipc dictionary", write(equivExport{unit: arrow.Microsecond, rowGroup: 700, arrowIPC: true, dictIDs: true}), readUserRaw, userDict},
		{"ipc large strings", largeIPC, readUserRaw, userOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func(r consentUserRead) { consentUserReads = r }(consentUserReads)
			consentUserReads = tt.read
			inputs := []Input{BytesInput("consent", tt.data(t))}
			users := NewUserIndex()
			c, err := LoadConsentFrom(inputs, users, asOf, ConsentColumns{})
			if err != nil {
				t.Fatal(err)
			}
			for f, n := range c.userRows {
				want := int64(0)
				if consentUserForm(f) == tt.want {
					want = int64(kept)
				}
				if n != want {
					t.Errorf("%d rows interned as form %d, want %d (all %d kept rows as form %d)", n, f, want, kept, tt.want)
				}
			}
			for name, st := range c.cats {
				if st.lastW != nil || st.lastG != nil || st.maps != nil && (st.maps[0] != nil || st.maps[2] != nil) {
					t.Errorf("%s: the load's lastW and lastG outlive it", name)
				}
			}
			loadBoth(t, r, inputs, ids, []string{"u3", "a-long-user-identifier-00000034"}, asOf)
		})
	}
}

// TestConsentInternForms calls the interning stage on record batches built
// here, dictionary user columns with and without the decoder's hashes (a
// form no reader makes today), batch after batch, and checks its numbers
// against UserIndex.ID row by row.
func TestConsentInternForms(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for trial := range 40 {
		users, want := NewUserIndex(), NewUserIndex()
		for range r.IntN(5) {
			s := fmt.Sprintf("u%d", r.IntN(40))
			users.ID(s)
			want.ID(s)
		}
		var it consentInterner
		var b consentBatch
		dictVals := []any{"u1", "", "u2", "a-long-user-identifier-1", nil, "u3", "u1x"}
		for batch := range 4 {
			n := r.IntN(50)
			idx := make([]int32, n)
			cats := make([]any, n)
			valid := make([]bool, n)
			for i := range idx {
				idx[i] = int32(r.IntN(len(dictVals)))
				valid[i] = r.IntN(9) > 0
				if r.IntN(7) > 0 {
					cats[i] = "playback_stats"
				}
			}
			withHashes := r.IntN(2) == 0
			rec := dictUserRecord(t, users.seed(), dictVals, idx, valid, cats, withHashes)
			if err := it.intern(users, rec, &b, "f", DefaultConsentColumns); err != nil {
				t.Fatal(err)
			}
			var wantRows []int32
			var wantIDs []uint32
			for i := range n {
				v := dictVals[idx[i]]
				if !valid[i] || v == nil || v == "" || cats[i] == nil {
					continue
				}
				wantRows = append(wantRows, int32(i))
				wantIDs = append(wantIDs, want.ID(v.(string)))
			}
			if fmt.Sprint(b.rows) != fmt.Sprint(wantRows) || fmt.Sprint(b.uids[:len(b.rows)]) != fmt.Sprint(wantIDs) {
				t.Fatalf("trial %d batch %d (hashes %v): rows %v users %v, want %v %v", trial, batch, withHashes, b.rows, b.uids, wantRows, wantIDs)
			}
			rec.Release()
		}
		if users.Len() != want.Len() {
			t.Fatalf("trial %d: %d users, want %d", trial, users.Len(), want.Len())
		}
	}
}

// dictUserRecord builds a consent record batch whose user column is a
// dictionary over dictVals (rows idx, null where !valid), and, with
// hashes, the hash column a raw read adds.
func dictUserRecord(t *testing.T, seed maphash.Seed, dictVals []any, idx []int32, valid []bool, cats []any, hashes bool) arrow.RecordBatch {
	t.Helper()
	dict := strArr(dictVals...)
	defer dict.Release()
	ib := array.NewInt32Builder(memory.DefaultAllocator)
	defer ib.Release()
	ib.AppendValues(idx, valid)
	indices := ib.NewArray()
	defer indices.Release()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	ids := array.NewDictionaryArray(dt, indices, dict)
	defer ids.Release()
	n := len(idx)
	gr := make([]any, n)
	at := make([]any, n)
	for i := range gr {
		gr[i], at[i] = true, time.Unix(int64(i), 0)
	}
	cat, g, ts := strArr(cats...), boolArr(gr...), tsArr(at...)
	defer cat.Release()
	defer g.Release()
	defer ts.Release()
	fields := []arrow.Field{
		{Name: "user_id", Type: dt, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}
	cols := []arrow.Array{ids, cat, g, ts}
	if hashes {
		hb := array.NewUint64Builder(memory.DefaultAllocator)
		defer hb.Release()
		for i := range idx {
			if v, ok := dictVals[idx[i]].(string); ok && valid[i] {
				hb.Append(maphash.String(seed, v))
			} else {
				hb.Append(0)
			}
		}
		h := hb.NewArray()
		defer h.Release()
		fields = append(fields, arrow.Field{Name: userHashField, Type: arrow.PrimitiveTypes.Uint64})
		cols = append(cols, h)
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(n))
}

// TestConsentStateRelease: release unmaps a loaded state's lastW and lastG
// (memory maps at this size) and keeps its firstG.
func TestConsentStateRelease(t *testing.T) {
	st := &consentState{hint: offHeapMin / 8 * 2}
	asOf := int64(1_000_000)
	st.add(7, 500, true, true, asOf)
	st.add(9, 400, true, true, asOf)
	st.add(9, 450, true, false, asOf) // withdrawn
	if st.maps == nil || st.maps[0] == nil || st.maps[1] == nil || st.maps[2] == nil {
		t.Skip("the states are not memory maps here")
	}
	st.release()
	if st.lastW != nil || st.lastG != nil || st.maps[0] != nil || st.maps[2] != nil || st.maps[1] == nil {
		t.Fatalf("after release: lastW %d, lastG %d entries, maps %v %v %v", len(st.lastW), len(st.lastG), st.maps[0] != nil, st.maps[1] != nil, st.maps[2] != nil)
	}
	if got := st.since(7); got != 500 {
		t.Errorf("user 7 granted since %d, want 500", got)
	}
	if got := st.since(9); got != noGrant {
		t.Errorf("user 9 granted since %d, want none", got)
	}
}
