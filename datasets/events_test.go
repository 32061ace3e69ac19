package datasets

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// dictArr builds a dictionary<int8, string> array; nil is null.
func dictArr(vals ...any) arrow.Array {
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(memory.DefaultAllocator, typ).(*array.BinaryDictionaryBuilder)
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

// listArr builds a list<int64> column: a type no accessor reads.
func listArr(n int) arrow.Array {
	b := array.NewListBuilder(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64)
	defer b.Release()
	vb := b.ValueBuilder().(*array.Int64Builder)
	for i := 0; i < n; i++ {
		b.Append(true)
		vb.Append(int64(i))
	}
	return b.NewArray()
}

func writeArrowFileT(t *testing.T, fields []arrow.Field, cols []arrow.Array) []byte {
	t.Helper()
	schema := arrow.NewSchema(fields, nil)
	rec := array.NewRecordBatch(schema, cols, int64(cols[0].Len()))
	defer rec.Release()
	var buf bytes.Buffer
	w, err := ipc.NewFileWriter(&buf, ipc.WithSchema(schema))
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

var (
	evStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	evEnd   = evStart.Add(24 * time.Hour)
)

// eventsFixture: 8 rows exercising the period bounds, null users, null
// dimensions and numbers; title and client_ip have types no accessor can
// read (list<int64>, float64 via list), so touching them would fail.
func eventsFixture(t *testing.T, format Format) []byte {
	us := time.Microsecond
	fields := []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us, Nullable: true},
		{Name: "device_type", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "video_codec", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "title", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "client_ip", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
	}
	cols := []arrow.Array{
		strArr("a", "b", nil, "c", "", "a", "d", "e"),
		tsArr(evStart, evStart.Add(time.Hour), evStart.Add(2*time.Hour), evStart.Add(-us), evStart.Add(3*time.Hour), evEnd.Add(-us), evEnd, nil),
		dictArr("roku", "web", "roku", "roku", "web", nil, "roku", "web"),
		strArr("h264", nil, "hevc", "hevc", "av1", "av1", "h264", "h264"),
		int64Arr(1249, 7999, 100, 100, 100, nil, 100, 100),
		listArr(8),
		listArr(8),
	}
	if format == FormatArrowFile {
		return writeArrowFileT(t, fields, cols)
	}
	return writeParquetT(t, fields, cols)
}

func TestEventReader(t *testing.T) {
	spec := EventSpec{
		User:       "user_id",
		Time:       "event_time",
		Dimensions: []string{"device_type", "video_codec"},
		Numbers:    []NumberSpec{{Column: "bitrate_kbps", Gen: Generalizer{Step: 500, Min: 0, Max: 5000, Edges: []int64{0, 1000, 3000}}}},
		Start:      evStart,
		End:        evEnd,
	}
	for _, format := range []Format{FormatParquet, FormatArrowFile} {
		t.Run(format.String(), func(t *testing.T) {
			users := NewUserIndex()
			r, err := NewEventReaderFrom([]Input{BytesInput("events", eventsFixture(t, format))}, spec, users)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var gotUsers []string
			var dev, codec []string
			var nums []int64
			var valid []bool
			names := map[uint32]string{users.ID("a"): "a", users.ID("b"): "b", users.ID("c"): "c", users.ID("d"): "d", users.ID("e"): "e"}
			for r.Scan() {
				b := r.Batch()
				for i := 0; i < b.Len; i++ {
					gotUsers = append(gotUsers, names[b.Users[i]])
				}
				dev = append(dev, b.Dims[0][:b.Len]...)
				codec = append(codec, b.Dims[1][:b.Len]...)
				// Codes name the same values as Dims, through DimValues.
				for d := range b.Dims {
					for i, c := range b.Codes[d][:b.Len] {
						want := ""
						if c >= 0 {
							want = r.DimValues(d)[c]
						}
						if got := b.Dims[d][i]; got != want {
							t.Errorf("dimension %d row %d: Dims %q, Codes %d → %q", d, i, got, c, want)
						}
					}
				}
				nums = append(nums, b.Numbers[0][:b.Len]...)
				valid = append(valid, b.NumberValid[0][:b.Len]...)
			}
			if err := r.Err(); err != nil {
				t.Fatalf("Err = %v: a column outside the spec was read?", err)
			}
			// Kept: row 0 (at Start), 1, 5 (End-1µs). Skipped: 2 null user,
			// 3 before Start, 4 empty user, 6 at End, 7 null time.
			checks := []struct {
				name      string
				got, want any
			}{
				{"users", gotUsers, []string{"a", "b", "a"}},
				{"device_type (dictionary)", dev, []string{"roku", "web", ""}},
				{"video_codec (plain, null)", codec, []string{"h264", "", "av1"}},
				{"bitrate generalized and clamped", nums, []int64{1000, 5000, 0}},
				{"bitrate valid", valid, []bool{true, true, false}},
				{"counts", r.ExactCounts(), ReadCounts{Files: 1, Rows: 8, Kept: 3, NullUser: 2, NullTime: 1, OutOfPeriod: 2}},
				{"columns projected", r.Columns(), []string{"user_id", "event_time", "device_type", "video_codec", "bitrate_kbps"}},
			}
			for _, c := range checks {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
				}
			}
		})
	}
}

// The fixture's title column is list<int64>: reading it as a dimension is an
// input error naming it. That is what TestEventReader would have reported if
// projection had not kept it out.
func TestEventReaderColumnErrors(t *testing.T) {
	base := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd}
	withDims := func(d ...string) EventSpec { s := base; s.Dimensions = d; return s }
	withNum := func(c string) EventSpec {
		s := base
		s.Numbers = []NumberSpec{{Column: c, Gen: Generalizer{Min: 0, Max: 10}}}
		return s
	}
	data := eventsFixture(t, FormatParquet)
	tests := []struct {
		name   string
		spec   EventSpec
		column string
		is     error
	}{
		{"missing dimension", withDims("resolution"), "resolution", ErrColumnMissing},
		{"integer as dimension", withDims("bitrate_kbps"), "bitrate_kbps", ErrColumnType},
		{"string as number", withNum("video_codec"), "video_codec", ErrColumnType},
		{"string as time", func() EventSpec { s := base; s.Time = "video_codec"; return s }(), "video_codec", ErrColumnType},
		{"timestamp as user", func() EventSpec { s := base; s.User = "event_time"; return s }(), "event_time", ErrColumnType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewEventReaderFrom([]Input{BytesInput("ev.parquet", data)}, tt.spec, NewUserIndex())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for r.Scan() {
			}
			var ie *InputError
			if !errors.As(r.Err(), &ie) {
				t.Fatalf("Err = %v, want *InputError", r.Err())
			}
			if ie.File != "ev.parquet" || ie.Column != tt.column || !errors.Is(ie, tt.is) {
				t.Errorf("Err = %v (file %q column %q), want file ev.parquet column %q wrapping %v", ie, ie.File, ie.Column, tt.column, tt.is)
			}
		})
	}
}

// The control for TestEventReader's projection claim: the fixture's
// forbidden columns cannot be read as strings or numbers at all.
func TestForbiddenFixtureColumnsAreUnreadable(t *testing.T) {
	for _, col := range []string{"title", "client_ip"} {
		s, err := OpenReaderAt("ev", bytes.NewReader(eventsFixture(t, FormatParquet)), int64(len(eventsFixture(t, FormatParquet))), ScanOptions{Columns: []string{col}})
		if err != nil {
			t.Fatal(err)
		}
		if !s.Scan() {
			t.Fatalf("%s: no batch: %v", col, s.Err())
		}
		if _, err := NewStringColumn(s.Record().Column(0)); !errors.Is(err, ErrColumnType) {
			t.Errorf("%s as string: err = %v, want ErrColumnType", col, err)
		}
		if _, err := NewIntColumn(s.Record().Column(0)); !errors.Is(err, ErrColumnType) {
			t.Errorf("%s as int: err = %v, want ErrColumnType", col, err)
		}
		s.Close()
		if !IsForbidden(col) {
			t.Errorf("IsForbidden(%q) = false", col)
		}
	}
}

func TestEventSpecValidate(t *testing.T) {
	ok := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd}
	tests := []struct {
		name string
		edit func(*EventSpec)
		ok   bool
	}{
		{"ok", func(*EventSpec) {}, true},
		{"no user", func(s *EventSpec) { s.User = "" }, false},
		{"no time", func(s *EventSpec) { s.Time = "" }, false},
		{"empty period", func(s *EventSpec) { s.End = s.Start }, false},
		{"reversed period", func(s *EventSpec) { s.Start, s.End = s.End, s.Start }, false},
		{"forbidden dimension", func(s *EventSpec) { s.Dimensions = []string{"title"} }, false},
		{"forbidden dimension any case", func(s *EventSpec) { s.Dimensions = []string{" Client_IP"} }, false},
		{"forbidden user", func(s *EventSpec) { s.User = "ip" }, false},
		{"forbidden number", func(s *EventSpec) { s.Numbers = []NumberSpec{{"library_path", Generalizer{Min: 0, Max: 1}}} }, false},
		{"bad generalizer", func(s *EventSpec) { s.Numbers = []NumberSpec{{"bitrate_kbps", Generalizer{}}} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.edit(&s)
			err := s.Validate()
			if got := err == nil; got != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, err2 := NewEventReaderFrom([]Input{BytesInput("x", nil)}, s, NewUserIndex()); (err2 == nil) != tt.ok {
				t.Errorf("NewEventReaderFrom err = %v, want ok=%v", err2, tt.ok)
			}
		})
	}
}

// Several files, string ids in one and int ids in the other, share the
// UserIndex: int 7 and "7" are one user.
func TestEventReaderManyFiles(t *testing.T) {
	mk := func(users arrow.Array, typ arrow.DataType) []byte {
		return writeParquetT(t, []arrow.Field{
			{Name: "user_id", Type: typ, Nullable: true},
			{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us},
		}, []arrow.Array{users, tsArr(evStart, evStart, evStart)})
	}
	f1 := mk(strArr("7", "x", "7"), arrow.BinaryTypes.String)
	f2 := mk(int64Arr(7, 8, nil), arrow.PrimitiveTypes.Int64)
	users := NewUserIndex()
	r, err := NewEventReaderFrom([]Input{BytesInput("f1", f1), BytesInput("f2", f2)},
		EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd}, users)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []uint32
	for r.Scan() {
		got = append(got, r.Batch().Users...)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	seven, x, eight := users.ID("7"), users.ID("x"), users.ID("8")
	if want := []uint32{seven, x, seven, seven, eight}; !reflect.DeepEqual(got, want) {
		t.Errorf("users = %v, want %v", got, want)
	}
	if got, want := users.Len(), 3; got != want {
		t.Errorf("distinct users = %d, want %d", got, want)
	}
	if got, want := r.ExactCounts(), (ReadCounts{Files: 2, Rows: 6, Kept: 5, NullUser: 1}); got != want {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
}

// BenchmarkEventReader reads a generated Parquet file with a typical
// metric's projection (user, time, 3 dimensions, 1 number) through the
// EventReader, with the user and dimension columns read raw (see
// rawColumn) and through pqarrow, and through the bare Scanner for
// comparison.
func BenchmarkEventReader(b *testing.B) {
	rows := 1_000_000
	path := b.TempDir() + "/events.parquet"
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	opt := GenOptions{Rows: rows, Users: rows / 100, Days: 7, Seed: 1}
	if err := Generate(opt, f, nil); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	spec := EventSpec{
		User: "user_id", Time: "event_time",
		Dimensions: []string{"device_type", "video_codec", "resolution"},
		Numbers:    []NumberSpec{{"bitrate_kbps", Generalizer{Step: 500, Min: 0, Max: 100000}}},
		Start:      DefaultGenStart, End: opt.RunDate(),
	}
	for _, raw := range []bool{true, false} {
		name := "EventReader"
		if !raw {
			name += "/pqarrow"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r, err := NewEventReader([]string{path}, spec, NewUserIndex())
				if err != nil {
					b.Fatal(err)
				}
				r.noRawUser = !raw
				n := 0
				for r.Scan() {
					n += r.Batch().Len
				}
				if err := r.Err(); err != nil || n != rows {
					b.Fatalf("read %d rows, err %v", n, err)
				}
				r.Close()
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
	b.Run("Scanner", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, ScanOptions{Columns: []string{"user_id", "event_time", "device_type", "video_codec", "resolution", "bitrate_kbps"}})
			if err != nil {
				b.Fatal(err)
			}
			for s.Scan() {
			}
			if err := s.Err(); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// Null slots of a dictionary column may hold any index value, even out of
// the dictionary's range: the reader must not look them up.
func TestEventReaderDictionaryNullSlotsWithGarbageIndices(t *testing.T) {
	dict := strArr("roku", "web")
	defer dict.Release()
	idxB := array.NewInt8Builder(memory.DefaultAllocator)
	idxB.AppendValues([]int8{0, 99, 1, -7}, []bool{true, false, true, false})
	idx := idxB.NewArray()
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}
	// write the garbage into the null slots' index values
	vals := idx.(*array.Int8).Int8Values()
	vals[1], vals[3] = 99, -7
	dev := array.NewDictionaryArray(typ, idx, dict)
	data := writeArrowFileT(t, []arrow.Field{
		{Name: "user_id", Type: arrow.BinaryTypes.String},
		{Name: "event_time", Type: arrow.FixedWidthTypes.Timestamp_us},
		{Name: "device_type", Type: typ, Nullable: true},
	}, []arrow.Array{strArr("a", "b", "c", "d"), tsArr(evStart, evStart, evStart, evStart), dev})
	r, err := NewEventReaderFrom([]Input{BytesInput("ev.arrow", data)},
		EventSpec{User: "user_id", Time: "event_time", Dimensions: []string{"device_type"}, Start: evStart, End: evEnd}, NewUserIndex())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []string
	for r.Scan() {
		got = append(got, r.Batch().Dims[0]...)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"roku", "", "web", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("device_type = %q, want %q", got, want)
	}
}

// TestEventReaderTimes: with EventSpec.Times, each kept row carries its
// event time (the rows in the period with a user: a, b, a at 23:59:59.999999);
// without, Times stays empty.
func TestEventReaderTimes(t *testing.T) {
	for _, want := range []bool{true, false} {
		spec := EventSpec{User: "user_id", Time: "event_time", Start: evStart, End: evEnd, Times: want}
		r, err := NewEventReaderFrom([]Input{BytesInput("events", eventsFixture(t, FormatParquet))}, spec, NewUserIndex())
		if err != nil {
			t.Fatal(err)
		}
		var got []time.Time
		for r.Scan() {
			b := r.Batch()
			if want && len(b.Times) != b.Len || !want && len(b.Times) != 0 {
				t.Fatalf("Times %v: %d times for %d rows", want, len(b.Times), b.Len)
			}
			for _, ns := range b.Times {
				got = append(got, time.Unix(0, ns).UTC())
			}
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if !want {
			continue
		}
		wantTimes := []time.Time{evStart, evStart.Add(time.Hour), evEnd.Add(-time.Microsecond)}
		if !reflect.DeepEqual(got, wantTimes) {
			t.Errorf("Times = %v, want %v", got, wantTimes)
		}
	}
}
