package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// writeParquetT writes one record batch of the given columns to Parquet in
// memory, keeping the Arrow schema (so dictionary columns stay dictionaries).
func writeParquetT(t *testing.T, fields []arrow.Field, cols []arrow.Array) []byte {
	t.Helper()
	return writeParquetRowGroupsT(t, fields, cols, 0)
}

// writeParquetRowGroupsT is writeParquetT in row groups of at most rowGroup
// rows (0: the writer's default), with the writer properties more.
func writeParquetRowGroupsT(t *testing.T, fields []arrow.Field, cols []arrow.Array, rowGroup int, more ...parquet.WriterProperty) []byte {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	defer rec.Release()
	if rowGroup > 0 {
		more = append(more, parquet.WithMaxRowGroupLength(int64(rowGroup)))
	}
	props := parquet.NewWriterProperties(more...)
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Column builders for tests: nil is null.
func strArr(vals ...any) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(v.(string))
		}
	}
	return b.NewArray()
}

func int64Arr(vals ...any) arrow.Array {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(int64(v.(int)))
		}
	}
	return b.NewArray()
}

func boolArr(vals ...any) arrow.Array {
	b := array.NewBooleanBuilder(memory.DefaultAllocator)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(v.(bool))
		}
	}
	return b.NewArray()
}

// tsArr takes time.Time values (or nil) and builds timestamp[us, UTC].
func tsArr(vals ...any) arrow.Array {
	b := array.NewTimestampBuilder(memory.DefaultAllocator, arrow.FixedWidthTypes.Timestamp_us.(*arrow.TimestampType))
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
		} else {
			b.Append(arrow.Timestamp(v.(time.Time).UnixMicro()))
		}
	}
	return b.NewArray()
}

type consentRow struct {
	user    any // string, int or nil
	cat     any // string or nil
	granted any // bool or nil
	at      any // time.Time or nil
}

func consentFile(t *testing.T, intIDs bool, rows []consentRow) []byte {
	t.Helper()
	var u, c, g, a []any
	for _, r := range rows {
		u, c, g, a = append(u, r.user), append(c, r.cat), append(g, r.granted), append(a, r.at)
	}
	var userType arrow.DataType
	var users arrow.Array
	if intIDs {
		userType, users = arrow.PrimitiveTypes.Int64, int64Arr(u...)
	} else {
		userType, users = arrow.BinaryTypes.String, strArr(u...)
	}
	return writeParquetT(t, []arrow.Field{
		{Name: "user_id", Type: userType, Nullable: true},
		{Name: "category", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
	}, []arrow.Array{users, strArr(c...), boolArr(g...), tsArr(a...)})
}

func TestConsentRules(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	before, earlier, after := asOf.Add(-day), asOf.Add(-10*day), asOf.Add(day)
	const pb = "playback_stats"
	tests := []struct {
		name    string
		rows    []consentRow
		user    string
		allowed bool
	}{
		{"single grant", []consentRow{{"a", pb, true, before}}, "a", true},
		{"no record", []consentRow{{"b", pb, true, before}}, "a", false},
		{"refused", []consentRow{{"a", pb, false, before}}, "a", false},
		{"grant then withdrawal", []consentRow{{"a", pb, true, earlier}, {"a", pb, false, before}}, "a", false},
		{"withdrawal then grant", []consentRow{{"a", pb, false, earlier}, {"a", pb, true, before}}, "a", true},
		{"latest wins whatever the file order", []consentRow{{"a", pb, true, before}, {"a", pb, false, earlier}}, "a", true},
		{"grant exactly at asOf counts", []consentRow{{"a", pb, true, asOf}}, "a", true},
		{"future grant ignored", []consentRow{{"a", pb, true, after}}, "a", false},
		{"future withdrawal counts", []consentRow{{"a", pb, true, before}, {"a", pb, false, after}}, "a", false},
		{"future withdrawal counts (withdrawal first)", []consentRow{{"a", pb, false, after}, {"a", pb, true, before}}, "a", false},
		{"future withdrawal, future grant", []consentRow{{"a", pb, true, before}, {"a", pb, false, after}, {"a", pb, true, after.Add(day)}}, "a", false},
		{"future grant after a grant", []consentRow{{"a", pb, true, before}, {"a", pb, true, after}}, "a", true},
		{"tie: withdrawal wins (grant first)", []consentRow{{"a", pb, true, before}, {"a", pb, false, before}}, "a", false},
		{"tie: withdrawal wins (withdrawal first)", []consentRow{{"a", pb, false, before}, {"a", pb, true, before}}, "a", false},
		{"null granted is not a grant", []consentRow{{"a", pb, true, earlier}, {"a", pb, nil, before}}, "a", false},
		{"null time excludes", []consentRow{{"a", pb, nil, nil}, {"a", pb, true, before}}, "a", false},
		{"null time excludes even with a later grant", []consentRow{{"a", pb, true, nil}, {"a", pb, true, before}}, "a", false},
		{"other category does not count", []consentRow{{"a", "product_usage", true, before}}, "a", false},
		{"null category ignored", []consentRow{{"a", nil, true, before}}, "a", false},
		{"null user ignored", []consentRow{{nil, pb, true, before}, {"a", pb, true, before}}, "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := NewUserIndex()
			data := consentFile(t, false, tt.rows)
			c, err := LoadConsentFrom([]Input{BytesInput("consent.parquet", data)}, users, asOf, ConsentColumns{})
			if err != nil {
				t.Fatal(err)
			}
			id := users.ID(tt.user)
			if got, want := c.Grants(pb).Allowed(id), tt.allowed; got != want {
				t.Errorf("Allowed(%s) = %v, want %v", tt.user, got, want)
			}
		})
	}
}

func TestConsentIntAndStringIDs(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	at := asOf.Add(-time.Hour)
	intFile := consentFile(t, true, []consentRow{
		{42, "playback_stats", true, at},
		{7, "playback_stats", false, at},
		{nil, "playback_stats", true, at},
	})
	strFile := consentFile(t, false, []consentRow{
		{"7", "playback_stats", true, at.Add(time.Minute)}, // same user as int 7, later
		{"u9", "playback_stats", true, at},
	})
	users := NewUserIndex()
	c, err := LoadConsentFrom([]Input{BytesInput("int.parquet", intFile), BytesInput("str.parquet", strFile)}, users, asOf, ConsentColumns{})
	if err != nil {
		t.Fatal(err)
	}
	g := c.Grants("playback_stats")
	tests := []struct {
		name string
		id   uint32
		want bool
	}{
		{"int 42", users.IntID(42), true},
		{"string 42", users.ID("42"), true},
		{"int 7 granted later by string id", users.IntID(7), true},
		{"u9", users.ID("u9"), true},
		{"unknown", users.ID("nobody"), false},
		{"id beyond the bitset", 1 << 20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := g.Allowed(tt.id); got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
	if got, want := g.Count(), 3; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
	if got := c.Grants("no_such_category").Allowed(users.IntID(42)); got {
		t.Errorf("unknown category allowed a user")
	}
	if got, want := c.Categories(), []string{"playback_stats"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("Categories = %q, want %q", got, want)
	}
}

func TestConsentErrors(t *testing.T) {
	asOf := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	good := consentFile(t, false, []consentRow{{"a", "playback_stats", true, asOf}})
	badGranted := writeParquetT(t, []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.BinaryTypes.String},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us},
	}, []arrow.Array{strArr("a"), strArr("playback_stats"), strArr("yes"), tsArr(asOf)})
	badUser := writeParquetT(t, []arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Float64},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "updated_at", Type: arrow.FixedWidthTypes.Timestamp_us},
	}, []arrow.Array{func() arrow.Array {
		b := array.NewFloat64Builder(memory.DefaultAllocator)
		b.Append(1.5)
		return b.NewArray()
	}(), strArr("playback_stats"), boolArr(true), tsArr(asOf)})
	tests := []struct {
		name   string
		data   []byte
		cols   ConsentColumns
		column string
		is     error
	}{
		{"missing column", good, ConsentColumns{Granted: "opted_in"}, "opted_in", ErrColumnMissing},
		{"granted is a string", badGranted, ConsentColumns{}, "granted", ErrColumnType},
		{"user id is a float", badUser, ConsentColumns{}, "user_id", ErrColumnType},
		{"not a data file", []byte("hello, world"), ConsentColumns{}, "", ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadConsentFrom([]Input{BytesInput("c.parquet", tt.data)}, NewUserIndex(), asOf, tt.cols)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if got, want := ie.File, "c.parquet"; got != want {
				t.Errorf("File = %q, want %q", got, want)
			}
			if got, want := ie.Column, tt.column; got != want {
				t.Errorf("Column = %q, want %q (err %v)", got, want, err)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
		})
	}
	if _, err := LoadConsentFrom([]Input{BytesInput("c", good)}, NewUserIndex(), time.Time{}, ConsentColumns{}); err == nil {
		t.Errorf("zero asOf accepted")
	}
	if _, err := LoadConsent([]string{t.TempDir() + "/nothing*.parquet"}, NewUserIndex(), asOf, ConsentColumns{}); !errors.Is(err, ErrInputMissing) {
		t.Errorf("missing input: err = %v, want ErrInputMissing", err)
	}
}

// forwardCase is one user's consent history for playback_stats and, per
// event time (hours into the period's day), whether the event may count.
type forwardCase struct {
	name  string
	rows  []consentRow // user and category are filled in
	count map[float64]bool
	whole bool // Allowed: every event of the period counts
}

// The period is [day, day+24h); the run is at day+36h.
var (
	fwdDay = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fwdRun = fwdDay.Add(36 * time.Hour)
)

func fwdAt(h float64) time.Time { return fwdDay.Add(time.Duration(h * float64(time.Hour))) }

func forwardCases() []forwardCase {
	week := fwdDay.Add(-7 * 24 * time.Hour)
	grant := func(t time.Time) consentRow { return consentRow{granted: true, at: t} }
	withdraw := func(t time.Time) consentRow { return consentRow{granted: false, at: t} }
	all := func(v bool) map[float64]bool { return map[float64]bool{0: v, 6: v, 11.99: v, 12: v, 18: v, 23.99: v} }
	from := func(h float64) map[float64]bool {
		m := map[float64]bool{}
		for _, e := range []float64{0, 6, h - 0.01, h, h + 0.01, 23.99} {
			if e >= 0 && e < 24 {
				m[e] = e >= h
			}
		}
		return m
	}
	return []forwardCase{
		{"granted a week before", []consentRow{grant(week)}, all(true), true},
		{"granted at 12:00: the 06:00 events do not count", []consentRow{grant(fwdAt(12))}, from(12), false},
		{"granted at 12:00 and at 08:00: from 08:00", []consentRow{grant(fwdAt(12)), grant(fwdAt(8))}, from(8), false},
		{"granted at the period's start", []consentRow{grant(fwdDay)}, all(true), true},
		{"granted after the period, before the run", []consentRow{grant(fwdAt(30))}, all(false), false},
		{"granted exactly at the run", []consentRow{grant(fwdRun)}, all(false), false},
		{"grant dated after the run", []consentRow{grant(fwdRun.Add(time.Hour))}, all(false), false},
		{"withdrawal dated after the run", []consentRow{grant(week), withdraw(fwdRun.Add(48 * time.Hour))}, all(false), false},
		{"withdrawal dated after the run, then a future grant", []consentRow{grant(week), withdraw(fwdRun.Add(time.Hour)), grant(fwdRun.Add(2 * time.Hour))}, all(false), false},
		{"withdrawal after the period, before the run", []consentRow{grant(week), withdraw(fwdAt(30))}, all(false), false},
		{"withdrawal during the period", []consentRow{grant(week), withdraw(fwdAt(12))}, all(false), false},
		{"grant, withdrawal, grant again at 14:00", []consentRow{grant(week), withdraw(fwdAt(10)), grant(fwdAt(14))}, from(14), false},
		{"grant, withdrawal, grant again before the period", []consentRow{grant(week), withdraw(week.Add(time.Hour)), grant(week.Add(2 * time.Hour))}, all(true), true},
		{"grant, withdrawal, grant, withdrawal", []consentRow{grant(week), withdraw(fwdAt(2)), grant(fwdAt(4)), withdraw(fwdAt(8))}, all(false), false},
		{"withdrawal between three grants", []consentRow{grant(fwdAt(2)), grant(fwdAt(8)), grant(fwdAt(14)), withdraw(fwdAt(5))}, from(8), false},
		{"withdrawal between three grants, later", []consentRow{grant(fwdAt(2)), grant(fwdAt(8)), grant(fwdAt(14)), withdraw(fwdAt(10))}, from(14), false},
		{"refused, then granted at 12:00", []consentRow{withdraw(week), grant(fwdAt(12))}, from(12), false},
		{"grant and withdrawal at the same instant", []consentRow{grant(fwdAt(12)), withdraw(fwdAt(12))}, all(false), false},
		{"a tie, then a grant", []consentRow{grant(fwdAt(6)), withdraw(fwdAt(6)), grant(fwdAt(9))}, from(9), false},
		{"null granted is a withdrawal", []consentRow{grant(week), {granted: nil, at: fwdAt(3)}, grant(fwdAt(5))}, from(5), false},
		{"null time revokes for good", []consentRow{grant(week), {granted: true, at: nil}, grant(fwdAt(1))}, all(false), false},
		{"no record", nil, all(false), false},
	}
}

// checkForward checks every expectation of c for the user with id u.
func checkForward(tb *testing.T, label string, g Grants, u uint32, c forwardCase) {
	tb.Helper()
	from, ok := g.From(u)
	for h, want := range c.count {
		t := fwdAt(h).UnixNano()
		if got := g.AllowedAt(u, t); got != want {
			tb.Errorf("%s: %s: event at %05.2fh counts = %v, want %v", label, c.name, h, got, want)
		}
		if got := ok && t >= from; got != want {
			tb.Errorf("%s: %s: From = %v, %v: event at %05.2fh counts = %v, want %v", label, c.name, from, ok, h, got, want)
		}
	}
	if got := g.Allowed(u); got != c.whole {
		tb.Errorf("%s: %s: Allowed (the whole period) = %v, want %v", label, c.name, got, c.whole)
	}
}

// TestConsentLooksForward checks the consent rule (see Consent) on
// adversarial histories, in every order of their records: only events at or
// after the start of the current, uninterrupted grant count; a withdrawal
// counts whatever its date, a grant only once its date has come.
func TestConsentLooksForward(t *testing.T) {
	const pb = "playback_stats"
	for _, c := range forwardCases() {
		perms := permutations(len(c.rows))
		for _, perm := range perms {
			rows := make([]consentRow, len(c.rows))
			for i, j := range perm {
				rows[i] = c.rows[j]
				rows[i].user, rows[i].cat = "a", pb
			}
			// Someone else's record, so that a case with no record of its
			// own still has a file to read.
			rows = append(rows, consentRow{"other", pb, true, fwdAt(-1)})
			users := NewUserIndex()
			con, err := LoadConsentFrom([]Input{BytesInput("consent.parquet", consentFile(t, false, rows))}, users, fwdRun, ConsentColumns{})
			if err != nil {
				t.Fatal(err)
			}
			checkForward(t, fmt.Sprint("order ", perm), con.GrantsDuring(pb, fwdDay, fwdDay.Add(24*time.Hour)), users.ID("a"), c)
		}
	}
}

// TestConsentLooksForwardTogether loads every case at once, each its own
// user, with a second category whose records interleave, shuffled, and split
// over two files: state must not leak between users, categories or files.
func TestConsentLooksForwardTogether(t *testing.T) {
	const pb, pu = "playback_stats", "product_usage"
	cases := forwardCases()
	var rows []consentRow
	for i, c := range cases {
		for _, r := range c.rows {
			r.user, r.cat = fmt.Sprintf("user-%02d", i), pb
			rows = append(rows, r)
			// product_usage: the opposite grant/withdrawal, to catch a
			// state shared across categories.
			if g, ok := r.granted.(bool); ok {
				r.granted = !g
			}
			r.cat = pu
			rows = append(rows, r)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		half := len(rows) / 2
		users := NewUserIndex()
		con, err := LoadConsentFrom([]Input{
			BytesInput("a.parquet", consentFile(t, false, rows[:half])),
			BytesInput("b.parquet", consentFile(t, false, rows[half:])),
		}, users, fwdRun, ConsentColumns{})
		if err != nil {
			t.Fatal(err)
		}
		g := con.GrantsDuring(pb, fwdDay, fwdDay.Add(24*time.Hour))
		wantCount := 0
		for i, c := range cases {
			checkForward(t, fmt.Sprint("trial ", trial), g, users.ID(fmt.Sprintf("user-%02d", i)), c)
			// Users with a grant covering some of the period: those whose
			// late events count.
			if c.count[23.99] || c.whole {
				wantCount++
			}
		}
		if got := g.Count(); got != wantCount {
			t.Errorf("trial %d: Count = %d, want %d", trial, got, wantCount)
		}
		if !g.Partial() {
			t.Errorf("trial %d: Partial = false, but some grants began during the period", trial)
		}
	}
}

// TestGrantsAsOfRun: Grants (as of the run) has no partial users: every
// current grant began at or before the run.
func TestGrantsAsOfRun(t *testing.T) {
	const pb = "playback_stats"
	rows := []consentRow{{"a", pb, true, fwdAt(12)}, {"b", pb, true, fwdRun.Add(time.Hour)}}
	users := NewUserIndex()
	con, err := LoadConsentFrom([]Input{BytesInput("c.parquet", consentFile(t, false, rows))}, users, fwdRun, ConsentColumns{})
	if err != nil {
		t.Fatal(err)
	}
	g := con.Grants(pb)
	if g.Partial() || !g.Allowed(users.ID("a")) || g.Allowed(users.ID("b")) || g.Count() != 1 {
		t.Errorf("Grants as of the run: partial %v, a %v, b %v, count %d; want false, true, false, 1",
			g.Partial(), g.Allowed(users.ID("a")), g.Allowed(users.ID("b")), g.Count())
	}
	if (Grants{}).AllowedAt(0, fwdRun.UnixNano()) || (Grants{}).Allowed(0) {
		t.Error("the zero Grants must grant nothing")
	}
}

// permutations returns every order of 0..n-1.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}
