package datasets

import (
	"bytes"
	"errors"
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
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	defer rec.Release()
	var buf bytes.Buffer
	w, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
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
		{"future withdrawal ignored", []consentRow{{"a", pb, true, before}, {"a", pb, false, after}}, "a", true},
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

// TestGrantsAnd checks the run rule built from two consent states: a user
// counts only when granted as of the period's end AND still granted at the
// time of the run (a withdrawal after the period applies; a grant after it
// does not reach back).
func TestGrantsAnd(t *testing.T) {
	periodEnd := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	runTime := periodEnd.Add(5 * 24 * time.Hour)
	const pb = "playback_stats"
	rows := []consentRow{
		{"kept", pb, true, periodEnd.Add(-time.Hour)},
		{"withdrew-after", pb, true, periodEnd.Add(-time.Hour)},
		{"withdrew-after", pb, false, periodEnd.Add(time.Hour)},
		{"granted-after", pb, true, periodEnd.Add(time.Hour)},
		{"never", pb, false, periodEnd.Add(-time.Hour)},
	}
	users := NewUserIndex()
	data := consentFile(t, false, rows)
	load := func(asOf time.Time) Grants {
		c, err := LoadConsentFrom([]Input{BytesInput("consent.parquet", data)}, users, asOf, ConsentColumns{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Grants(pb)
	}
	g := load(periodEnd).And(load(runTime))
	for user, want := range map[string]bool{"kept": true, "withdrew-after": false, "granted-after": false, "never": false, "unknown": false} {
		if got := g.Allowed(users.ID(user)); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", user, got, want)
		}
	}
	if got, want := g.Count(), 1; got != want {
		t.Errorf("Count = %d, want %d", got, want)
	}
	// One pass for both instants gives the same states as two loads.
	both, err := LoadConsentsFrom([]Input{BytesInput("consent.parquet", data)}, users, ConsentColumns{}, periodEnd, runTime)
	if err != nil {
		t.Fatal(err)
	}
	for i, asOf := range []time.Time{periodEnd, runTime} {
		one := load(asOf)
		for _, user := range []string{"kept", "withdrew-after", "granted-after", "never"} {
			id := users.ID(user)
			if got, want := both[i].Grants(pb).Allowed(id), one.Allowed(id); got != want {
				t.Errorf("as of %v, %s: one pass says %v, a load of its own %v", asOf, user, got, want)
			}
		}
	}
	if (Grants{}).And(g).Allowed(users.ID("kept")) {
		t.Error("the zero Grants ANDed with anything must grant nothing")
	}
}
