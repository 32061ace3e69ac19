package datasets

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
)

// The pipelined consent loader (consent_load.go) must agree exactly with
// the loader it replaced (consent_ref_test.go): the same UserIndex numbers
// for the same ids, the same categories, and the same grants for every
// user, period and instant. These tests load random and adversarial
// exports with both, through every column encoding the loader reads.

// equivRow is one consent record; nil fields are null.
type equivRow struct {
	user    any // string or int64
	cat     any // string
	granted any // bool, or int64 for integer granted columns
	at      any // int64 in the column's unit
}

// equivExport describes how an export's columns are encoded.
type equivExport struct {
	intIDs, dictIDs, dictCat, intGranted bool
	unit                                 arrow.TimeUnit
	date                                 bool // updated_at as date32 (at: days)
	arrowIPC                             bool // Arrow IPC file instead of Parquet
	rowGroup                             int  // rows per Parquet row group / IPC batch
	plainPages                           bool // Parquet user ids in PLAIN pages, no dictionary
}

func (e equivExport) String() string {
	return fmt.Sprintf("int=%v dictIDs=%v dictCat=%v intGranted=%v unit=%v date=%v ipc=%v rg=%d plainPages=%v",
		e.intIDs, e.dictIDs, e.dictCat, e.intGranted, e.unit, e.date, e.arrowIPC, e.rowGroup, e.plainPages)
}

func dictStrArr(vals []any) arrow.Array {
	b := array.NewDictionaryBuilder(memory.DefaultAllocator, &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
		} else if err := b.AppendString(v.(string)); err != nil {
			panic(err)
		}
	}
	return b.NewArray()
}

func (e equivExport) write(t *testing.T, rows []equivRow) []byte {
	t.Helper()
	col := func(f func(equivRow) any) []any {
		out := make([]any, len(rows))
		for i, r := range rows {
			out[i] = f(r)
		}
		return out
	}
	strs := func(vals []any, dict bool) (arrow.DataType, arrow.Array) {
		if dict {
			return &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}, dictStrArr(vals)
		}
		return arrow.BinaryTypes.String, strArr(vals...)
	}
	var fields []arrow.Field
	var cols []arrow.Array
	add := func(name string, dt arrow.DataType, arr arrow.Array) {
		fields = append(fields, arrow.Field{Name: name, Type: dt, Nullable: true})
		cols = append(cols, arr)
	}
	users := col(func(r equivRow) any { return r.user })
	if e.intIDs {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		for _, v := range users {
			if v == nil {
				b.AppendNull()
			} else {
				b.Append(v.(int64))
			}
		}
		add("user_id", arrow.PrimitiveTypes.Int64, b.NewArray())
		b.Release()
	} else {
		dt, arr := strs(users, e.dictIDs)
		add("user_id", dt, arr)
	}
	dt, arr := strs(col(func(r equivRow) any { return r.cat }), e.dictCat)
	add("category", dt, arr)
	if e.intGranted {
		b := array.NewInt64Builder(memory.DefaultAllocator)
		for _, r := range rows {
			if r.granted == nil {
				b.AppendNull()
			} else {
				b.Append(r.granted.(int64))
			}
		}
		add("granted", arrow.PrimitiveTypes.Int64, b.NewArray())
		b.Release()
	} else {
		add("granted", arrow.FixedWidthTypes.Boolean, boolArr(col(func(r equivRow) any { return r.granted })...))
	}
	if e.date {
		b := array.NewDate32Builder(memory.DefaultAllocator)
		for _, r := range rows {
			if r.at == nil {
				b.AppendNull()
			} else {
				b.Append(arrow.Date32(r.at.(int64)))
			}
		}
		add("updated_at", arrow.FixedWidthTypes.Date32, b.NewArray())
		b.Release()
	} else {
		tt := &arrow.TimestampType{Unit: e.unit, TimeZone: "UTC"}
		b := array.NewTimestampBuilder(memory.DefaultAllocator, tt)
		for _, r := range rows {
			if r.at == nil {
				b.AppendNull()
			} else {
				b.Append(arrow.Timestamp(r.at.(int64)))
			}
		}
		add("updated_at", tt, b.NewArray())
		b.Release()
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	if !e.arrowIPC {
		if e.plainPages {
			return writeParquetRowGroupsT(t, fields, cols, e.rowGroup, parquet.WithDictionaryFor("user_id", false))
		}
		return writeParquetRowGroupsT(t, fields, cols, e.rowGroup)
	}
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, int64(len(rows)))
	defer rec.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(rows) || off == 0; off += e.rowGroup {
		part := rec.NewSlice(int64(off), int64(min(off+e.rowGroup, len(rows))))
		err := w.Write(part)
		part.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compareConsent fails t unless got (the loader) and want (the reference)
// hold the same numbers for ids and the same grants over periods.
func compareConsent(t *testing.T, r *rand.Rand, ids []string, gotUsers, wantUsers *UserIndex, got *Consent, want *refConsent, asOf time.Time) {
	t.Helper()
	if g, w := gotUsers.Len(), wantUsers.Len(); g != w {
		t.Fatalf("users: %d, reference %d", g, w)
	}
	for _, id := range ids {
		g, gok := gotUsers.Lookup(id)
		w, wok := wantUsers.Lookup(id)
		if g != w || gok != wok {
			t.Fatalf("user %q: number %d,%v, reference %d,%v", id, g, gok, w, wok)
		}
	}
	var wantCats []string
	for k := range want.cats {
		wantCats = append(wantCats, k)
	}
	slices.Sort(wantCats)
	if g := got.Categories(); !slices.Equal(g, wantCats) {
		t.Fatalf("categories %q, reference %q", g, wantCats)
	}
	// Events of users met only in the events: interned after the consent.
	for k := range 3 {
		id := "events-only-" + strconv.Itoa(k)
		if gotUsers.ID(id) != wantUsers.ID(id) {
			t.Fatalf("events-only user %q numbered differently", id)
		}
	}
	n := uint32(gotUsers.Len())
	day := int64(24 * time.Hour)
	periods := [][2]time.Time{{asOf, asOf}}
	for range 4 {
		s := asOf.Add(time.Duration(r.Int64N(40*day) - 30*day))
		periods = append(periods, [2]time.Time{s, s.Add(time.Duration(1 + r.Int64N(10*day)))})
	}
	for _, cat := range append(wantCats, "unknown-category") {
		for _, p := range periods {
			g, w := got.GrantsDuring(cat, p[0], p[1]), want.GrantsDuring(cat, p[0], p[1])
			if g.Partial() != w.Partial() || g.Count() != w.Count() {
				t.Fatalf("%s %v: partial %v count %d, reference %v %d", cat, p, g.Partial(), g.Count(), w.Partial(), w.Count())
			}
			for u := range n + 70 {
				gf, gok := g.From(u)
				wf, wok := w.From(u)
				if g.Allowed(u) != w.Allowed(u) || gf != wf || gok != wok {
					t.Fatalf("%s %v user %d: allowed %v from %d,%v, reference %v %d,%v", cat, p, u, g.Allowed(u), gf, gok, w.Allowed(u), wf, wok)
				}
				at := p[0].UnixNano() + r.Int64N(max(1, p[1].UnixNano()-p[0].UnixNano()))
				if g.AllowedAt(u, at) != w.AllowedAt(u, at) {
					t.Fatalf("%s %v user %d at %d: AllowedAt differs", cat, p, u, at)
				}
			}
		}
	}
}

// loadBoth loads inputs with the loader (at every decoder count, and with
// a Parquet user column read raw, as a dictionary and as plain strings:
// every form the interning stage takes) and the reference, into indexes
// seeded with the same users, and compares them.
func loadBoth(t *testing.T, r *rand.Rand, inputs []Input, ids, seed []string, asOf time.Time) {
	t.Helper()
	for _, run := range []struct {
		decoders int
		read     consentUserRead
	}{{1, readUserRaw}, {2, readUserRaw}, {3, readUserRaw}, {1, readUserDict}, {2, readUserPlain}} {
		decoders := run.decoders
		wantUsers := NewUserIndex()
		for _, s := range seed {
			wantUsers.ID(s)
		}
		want, werr := refLoadConsentFrom(inputs, wantUsers, asOf, ConsentColumns{})
		defer func(n int, r consentUserRead) { consentDecoders, consentUserReads = n, r }(consentDecoders, consentUserReads)
		consentDecoders, consentUserReads = decoders, run.read
		gotUsers := NewUserIndex()
		for _, s := range seed {
			gotUsers.ID(s)
		}
		got, gerr := LoadConsentFrom(inputs, gotUsers, asOf, ConsentColumns{})
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("decoders %d, user read %d: error %v, reference %v", decoders, run.read, gerr, werr)
		}
		if gerr == nil {
			compareConsent(t, r, append(ids, seed...), gotUsers, wantUsers, got, want, asOf)
		}
	}
}

// randomRows draws an export's records: few users and instants, so that
// duplicates, same-instant conflicts, withdrawals and re-grants are common;
// future-dated and undated records; null and empty ids, null categories,
// categories nobody asks for; users' records grouped (as exports usually
// are) or shuffled (which makes the loader replay).
func randomRows(r *rand.Rand, e equivExport, asOf time.Time) ([]equivRow, []string) {
	nUsers := 1 + r.IntN(60)
	users := make([]any, nUsers)
	var ids []string
	for i := range users {
		if e.intIDs {
			v := r.Int64N(1000) - 10
			if r.IntN(20) == 0 {
				v = math.MaxInt64 - r.Int64N(3)
			}
			users[i] = v
			ids = append(ids, strconv.FormatInt(v, 10))
			continue
		}
		var s string
		switch r.IntN(10) {
		case 0:
			s = ""
		case 1:
			s = fmt.Sprintf("a-long-user-identifier-%08d", r.IntN(1000))
		case 2:
			s = strconv.Itoa(r.IntN(100))
		default:
			s = fmt.Sprintf("u%d", r.IntN(500))
		}
		users[i] = s
		ids = append(ids, s)
	}
	cats := []any{"playback_stats", "playback_stats", "product_usage", "other", nil}
	// Instants in the column's unit: a few, around asOf.
	var per int64 = 1
	switch {
	case e.date:
		per = int64(24 * time.Hour)
	case e.unit == arrow.Second:
		per = 1e9
	case e.unit == arrow.Millisecond:
		per = 1e6
	case e.unit == arrow.Microsecond:
		per = 1e3
	}
	base := asOf.UnixNano() / per
	step := max(1, int64(6*time.Hour)/per)
	instants := []any{nil, base, base + 1, base - 1}
	for range 8 {
		instants = append(instants, base+(r.Int64N(20)-14)*step)
	}
	if per > 1 {
		instants = append(instants, math.MaxInt64/per+1, math.MinInt64/per-1) // saturate
	}
	n := r.IntN(400)
	rows := make([]equivRow, 0, n)
	u := 0
	for len(rows) < n {
		if r.IntN(3) == 0 {
			u = r.IntN(nUsers)
		}
		row := equivRow{user: users[u], cat: cats[r.IntN(len(cats))], at: instants[r.IntN(len(instants))]}
		if r.IntN(15) == 0 {
			row.user = nil
		}
		if e.intGranted {
			if v := r.Int64N(4); v < 3 {
				row.granted = v
			}
		} else if v := r.IntN(7); v < 6 {
			row.granted = v < 4
		}
		rows = append(rows, row)
		if r.IntN(4) == 0 { // a duplicate
			rows = append(rows, row)
		}
	}
	if r.IntN(3) == 0 {
		r.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	}
	return rows, ids
}

func TestConsentLoadMatchesReference(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(13, 2026))
	units := []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond}
	trials := 150
	if testing.Short() {
		trials = 40
	}
	for trial := range trials {
		e := equivExport{
			intIDs: r.IntN(4) == 0, dictIDs: r.IntN(3) == 0, dictCat: r.IntN(2) == 0,
			intGranted: r.IntN(5) == 0, unit: units[r.IntN(len(units))], date: r.IntN(8) == 0,
			arrowIPC: r.IntN(5) == 0, rowGroup: 1 + r.IntN(120), plainPages: r.IntN(3) == 0,
		}
		var inputs []Input
		var ids []string
		for f := range 1 + r.IntN(3) {
			rows, fileIDs := randomRows(r, e, asOf)
			inputs = append(inputs, BytesInput(fmt.Sprintf("consent-%d", f), e.write(t, rows)))
			ids = append(ids, fileIDs...)
		}
		var seed []string // users interned before the consent
		for range r.IntN(3) * r.IntN(20) {
			seed = append(seed, fmt.Sprintf("u%d", r.IntN(500)))
		}
		t.Run(fmt.Sprintf("%d %v", trial, e), func(t *testing.T) {
			loadBoth(t, r, inputs, ids, seed, asOf)
		})
	}
}

// TestConsentLoadAdversarial pins cases that random draws may miss, each
// compared with the reference and with its expected outcome.
func TestConsentLoadAdversarial(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	us := func(d time.Duration) int64 { return asOf.Add(d).UnixMicro() }
	const pb = "playback_stats"
	h := time.Hour
	tests := []struct {
		name string
		rows []equivRow
		user string
		from any // int64 nanos the user's events count from, or nil (never)
	}{
		{"duplicate grants", []equivRow{{"a", pb, true, us(-h)}, {"a", pb, true, us(-h)}}, "a", asOf.Add(-h).UnixNano()},
		{"conflict at one instant, grant first", []equivRow{{"a", pb, true, us(-h)}, {"a", pb, false, us(-h)}}, "a", nil},
		{"conflict at one instant, withdrawal first", []equivRow{{"a", pb, false, us(-h)}, {"a", pb, true, us(-h)}}, "a", nil},
		{"re-grant after withdrawal, out of order (replay)",
			[]equivRow{{"a", pb, true, us(-3 * h)}, {"a", pb, true, us(-h)}, {"a", pb, false, us(-2 * h)}, {"a", pb, true, us(-90 * time.Minute)}},
			"a", asOf.Add(-90 * time.Minute).UnixNano()},
		{"withdrawal dated after the run", []equivRow{{"a", pb, true, us(-h)}, {"a", pb, false, us(48 * h)}}, "a", nil},
		{"grant dated after the run", []equivRow{{"a", pb, true, us(h)}}, "a", nil},
		{"grant at the run's instant", []equivRow{{"a", pb, true, us(0)}}, "a", asOf.UnixNano()},
		{"undated withdrawal beats every grant", []equivRow{{"a", pb, nil, nil}, {"a", pb, true, us(-h)}}, "a", nil},
		{"null granted is a withdrawal", []equivRow{{"a", pb, true, us(-2 * h)}, {"a", pb, nil, us(-h)}}, "a", nil},
		{"user only in consent, other category", []equivRow{{"b", "product_usage", true, us(-h)}}, "b", nil},
		{"empty and null ids grant nothing", []equivRow{{"", pb, true, us(-h)}, {nil, pb, true, us(-h)}, {"c", pb, true, us(-2 * h)}}, "c", asOf.Add(-2 * h).UnixNano()},
		{"null category skipped, user not interned first", []equivRow{{"z", nil, true, us(-h)}, {"d", pb, true, us(-h)}}, "d", asOf.Add(-h).UnixNano()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range []equivExport{
				{unit: arrow.Microsecond, rowGroup: 1},
				{unit: arrow.Microsecond, rowGroup: 100, dictCat: true},
				{unit: arrow.Microsecond, rowGroup: 2, dictIDs: true, arrowIPC: true},
			} {
				data := e.write(t, tt.rows)
				inputs := []Input{BytesInput("consent.parquet", data)}
				var ids []string
				for _, r := range tt.rows {
					if s, ok := r.user.(string); ok {
						ids = append(ids, s)
					}
				}
				loadBoth(t, rand.New(rand.NewPCG(1, 2)), inputs, ids, nil, asOf)
				users := NewUserIndex()
				c, err := LoadConsentFrom(inputs, users, asOf, ConsentColumns{})
				if err != nil {
					t.Fatal(err)
				}
				u := users.ID(tt.user)
				from, ok := c.GrantsDuring(pb, asOf.Add(-24*h), asOf.Add(h)).From(u)
				if want, wok := tt.from.(int64); ok != (tt.from != nil) || (ok && from != want) {
					t.Errorf("%v: From(%s) = %d, %v; want %v (%v)", e, tt.user, from, ok, want, wok)
				}
			}
		})
	}
	// The null-category row's user is not interned: d is the first user.
	users := NewUserIndex()
	data := equivExport{unit: arrow.Microsecond, rowGroup: 10}.write(t, tests[len(tests)-1].rows)
	if _, err := LoadConsentFrom([]Input{BytesInput("c", data)}, users, asOf, ConsentColumns{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := users.Lookup("z"); ok || users.Len() != 1 {
		t.Errorf("the user of a row without category was interned (%d users)", users.Len())
	}
}

// TestConsentLoadErrorStopsPipeline: a bad file after good ones is the
// same error as before, and leaves no goroutine of the pipeline behind.
func TestConsentLoadErrorStopsPipeline(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(7, 7))
	e := equivExport{unit: arrow.Microsecond, rowGroup: 7}
	good, _ := randomRows(r, e, asOf)
	for len(good) < 50 {
		good, _ = randomRows(r, e, asOf)
	}
	bad := writeParquetT(t, []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "granted", Type: arrow.BinaryTypes.String, Nullable: true}, // not a flag
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}, []arrow.Array{strArr("a"), strArr("playback_stats"), strArr("yes"), tsArr(asOf)})
	before := runtime.NumGoroutine()
	inputs := []Input{BytesInput("good.parquet", e.write(t, good)), BytesInput("bad.parquet", bad)}
	loadBoth(t, r, inputs, nil, nil, asOf)
	_, err := LoadConsentFrom(inputs, NewUserIndex(), asOf, ConsentColumns{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("bad.parquet")) {
		t.Fatalf("error %v, want one naming bad.parquet", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after a failed load, %d before", n, before)
	}
}
