package datasets

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// testRecord builds n rows of: user_id int64 (null every 7th row), device
// string, codec dictionary<int8, string>, bitrate int32.
func testRecord(t testing.TB, n int, first int64) arrow.RecordBatch {
	t.Helper()
	mem := memory.NewGoAllocator()
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "codec", Type: &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int8, ValueType: arrow.BinaryTypes.String}, Nullable: true},
		{Name: "bitrate", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	}, nil)
	codecs := []string{"hevc", "av1", "h264"}
	b := array.NewRecordBuilder(mem, sc)
	defer b.Release()
	// One fixed dictionary for every batch (IPC files allow no replacement).
	dictVals := array.NewStringBuilder(mem)
	dictVals.AppendValues(codecs, nil)
	dict := dictVals.NewArray()
	dictVals.Release()
	defer dict.Release()
	if err := b.Field(2).(*array.BinaryDictionaryBuilder).InsertStringDictValues(dict.(*array.String)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		id := first + int64(i)
		if id%7 == 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Int64Builder).Append(id)
		}
		b.Field(1).(*array.StringBuilder).Append("dev" + strconv.FormatInt(id%5, 10))
		if err := b.Field(2).(*array.BinaryDictionaryBuilder).AppendString(codecs[id%3]); err != nil {
			t.Fatal(err)
		}
		b.Field(3).(*array.Int32Builder).Append(int32(id * 10))
	}
	return b.NewRecordBatch()
}

// writeParquet writes rows [0, n) in row groups of rgRows rows.
func writeParquet(t testing.TB, path string, n, rgRows int) {
	t.Helper()
	rec := testRecord(t, n, 0)
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(int64(rgRows)))
	if err := pqarrow.WriteTable(tbl, f, int64(rgRows), props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())); err != nil {
		t.Fatal(err)
	}
}

// writeArrow writes rows [0, n) as batches of batch rows, as an IPC file or stream.
func writeArrow(t testing.TB, path string, n, batch int, stream bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w interface {
		Write(arrow.RecordBatch) error
		Close() error
	}
	rec0 := testRecord(t, 1, 0)
	sc := rec0.Schema()
	rec0.Release()
	if stream {
		w = ipc.NewWriter(f, ipc.WithSchema(sc))
	} else {
		fw, err := ipc.NewFileWriter(f, ipc.WithSchema(sc))
		if err != nil {
			t.Fatal(err)
		}
		w = fw
	}
	for start := 0; start < n; start += batch {
		rec := testRecord(t, min(batch, n-start), int64(start))
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// testFiles writes the same 1000 rows as Parquet, Arrow file and Arrow stream.
func testFiles(t testing.TB) map[Format]string {
	dir := t.TempDir()
	files := map[Format]string{
		FormatParquet:     filepath.Join(dir, "events.parquet"),
		FormatArrowFile:   filepath.Join(dir, "events-file.bin"), // names say nothing
		FormatArrowStream: filepath.Join(dir, "events-stream.parquet"),
	}
	writeParquet(t, files[FormatParquet], 1000, 300)
	writeArrow(t, files[FormatArrowFile], 1000, 256, false)
	writeArrow(t, files[FormatArrowStream], 1000, 256, true)
	return files
}

func TestScannerReadsAllFormats(t *testing.T) {
	files := testFiles(t)
	for _, format := range []Format{FormatParquet, FormatArrowFile, FormatArrowStream} {
		t.Run(format.String(), func(t *testing.T) {
			s, err := Open(files[format], ScanOptions{Columns: []string{"bitrate", "codec", "user_id"}, BatchSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, want := s.Format(), format; got != want {
				t.Errorf("Format() = %v, want %v", got, want)
			}
			var names []string
			for _, f := range s.Schema().Fields() {
				names = append(names, f.Name)
			}
			if got, want := strings.Join(names, ","), "bitrate,codec,user_id"; got != want {
				t.Errorf("schema columns = %s, want %s", got, want)
			}
			var row int64
			var batches int
			for s.Scan() {
				rec := s.Record()
				batches++
				if got, want := rec.NumCols(), int64(3); got != want {
					t.Fatalf("NumCols = %d, want %d", got, want)
				}
				bitrate, err := NewIntColumn(rec.Column(0))
				if err != nil {
					t.Fatal(err)
				}
				codec, err := NewStringColumn(rec.Column(1))
				if err != nil {
					t.Fatal(err)
				}
				uid, err := NewIntColumn(rec.Column(2))
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < int(rec.NumRows()); i++ {
					id := row + int64(i)
					if got, want := bitrate.Value(i), id*10; got != want {
						t.Fatalf("row %d: bitrate = %d, want %d", id, got, want)
					}
					if got, want := codec.Value(i), []string{"hevc", "av1", "h264"}[id%3]; got != want {
						t.Fatalf("row %d: codec = %q, want %q", id, got, want)
					}
					if got, want := uid.IsNull(i), id%7 == 0; got != want {
						t.Fatalf("row %d: user_id IsNull = %v, want %v", id, got, want)
					}
					if !uid.IsNull(i) && uid.Value(i) != id {
						t.Fatalf("row %d: user_id = %d", id, uid.Value(i))
					}
				}
				row += rec.NumRows()
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := row, int64(1000); got != want {
				t.Errorf("rows = %d, want %d", got, want)
			}
			if format == FormatParquet {
				// 3 row groups of 300 + 1 of 100, batches of at most 100 rows
				if got, want := batches, 10; got != want {
					t.Errorf("batches = %d, want %d", got, want)
				}
			}
			if s.Scan() {
				t.Error("Scan after the end returned true")
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestScannerColumnErrors(t *testing.T) {
	files := testFiles(t)
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			_, err := Open(path, ScanOptions{Columns: []string{"user_id", "ip_address"}})
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Open: %v, want *InputError", err)
			}
			if got, want := ie.File, path; got != want {
				t.Errorf("File = %q, want %q", got, want)
			}
			if got, want := ie.Column, "ip_address"; got != want {
				t.Errorf("Column = %q, want %q", got, want)
			}
			if !errors.Is(err, ErrColumnMissing) {
				t.Errorf("error %v does not wrap ErrColumnMissing", err)
			}
			if got, want := err.Error(), path+": column ip_address: column missing"; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func TestScannerNoColumns(t *testing.T) {
	files := testFiles(t)
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			s, err := Open(path, ScanOptions{Columns: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var rows int64
			for s.Scan() {
				if got := s.Record().NumCols(); got != 0 {
					t.Fatalf("NumCols = %d, want 0", got)
				}
				rows += s.Record().NumRows()
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := rows, int64(1000); got != want {
				t.Errorf("rows = %d, want %d", got, want)
			}
		})
	}
}

func TestOpenReaderAt(t *testing.T) {
	files := testFiles(t)
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := InspectReaderAt("embedded/sample", bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := info.Rows, int64(1000); got != want {
				t.Errorf("rows = %d, want %d", got, want)
			}
			if got, want := info.Format, format; got != want {
				t.Errorf("format = %v, want %v", got, want)
			}
			// A cut copy is an input error named after the given name.
			cut := data[:len(data)/2]
			_, err = InspectReaderAt("embedded/cut", bytes.NewReader(cut), int64(len(cut)))
			var ie *InputError
			if !errors.As(err, &ie) || ie.File != "embedded/cut" {
				t.Errorf("cut copy: %v, want *InputError for embedded/cut", err)
			}
		})
	}
}

func TestInspect(t *testing.T) {
	files := testFiles(t)
	want := map[Format][2]int{ // row groups, batches
		FormatParquet:     {4, 4},
		FormatArrowFile:   {0, 4},
		FormatArrowStream: {0, 4},
	}
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			info, err := Inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := info.Rows, int64(1000); got != want {
				t.Errorf("Rows = %d, want %d", got, want)
			}
			if got, want := info.RowGroups, want[format][0]; got != want {
				t.Errorf("RowGroups = %d, want %d", got, want)
			}
			if got, want := info.Batches, want[format][1]; got != want {
				t.Errorf("Batches = %d, want %d", got, want)
			}
			if got, want := info.Schema.NumFields(), 4; got != want {
				t.Errorf("schema has %d fields, want %d", got, want)
			}
		})
	}
}

func TestMemoryBudget(t *testing.T) {
	files := testFiles(t)
	for format, path := range files {
		t.Run(format.String(), func(t *testing.T) {
			s, err := Open(path, ScanOptions{MemoryLimit: 1 << 10})
			if err == nil {
				for s.Scan() {
				}
				err = s.Err()
				s.Close()
			}
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrBudget) {
				t.Fatalf("got %v, want an *InputError wrapping ErrBudget", err)
			}
		})
	}
}

func TestBudgetAllocator(t *testing.T) {
	b := newBudgetAllocator(1000, 600)
	x := b.Allocate(500)
	if got, want := b.Held(), int64(500); got != want {
		t.Errorf("Held = %d, want %d", got, want)
	}
	x = b.Reallocate(550, x)
	if got, want := b.Held(), int64(550); got != want {
		t.Errorf("Held after Reallocate = %d, want %d", got, want)
	}
	mustPanicBudget := func(name string, f func()) {
		t.Helper()
		defer func() {
			p := recover()
			err, _ := p.(error)
			if !errors.Is(err, ErrBudget) {
				t.Errorf("%s: panic %v, want ErrBudget", name, p)
			}
		}()
		f()
	}
	mustPanicBudget("single", func() { b.Allocate(601) })
	mustPanicBudget("total", func() { b.Allocate(500) })
	mustPanicBudget("negative", func() { b.Allocate(-1) })
	b.Free(x)
	if got, want := b.Held(), int64(0); got != want {
		t.Errorf("Held after Free = %d, want %d", got, want)
	}
}

func TestInputErrorFormat(t *testing.T) {
	tests := []struct {
		err  *InputError
		want string
	}{
		{&InputError{File: "a.parquet", RowGroup: -1, Err: ErrFormat}, "a.parquet: unrecognized file format"},
		{&InputError{File: "a.parquet", Column: "user_id", RowGroup: -1, Err: ErrColumnType}, "a.parquet: column user_id: unusable column type"},
		{&InputError{File: "a.parquet", Column: "c", RowGroup: 3, Err: ErrRowCount}, "a.parquet: column c: row group 3: row count mismatch"},
		{&InputError{File: "a.parquet", RowGroup: 0, Err: ErrCorrupt}, "a.parquet: row group 0: corrupt input"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(tt.err, tt.err.Err) {
				t.Error("Unwrap does not reach Err")
			}
		})
	}
}

// TestShortReadRejected: arrow-go v18.8.0 reads 0 of the 8 rows of this
// file without an error; the Scanner must notice.
func TestShortReadRejected(t *testing.T) {
	path := filepath.Join(corpusDir(t), "parquet", "bad", "parquet_column_num_values_mismatch.parquet")
	_, err := Inspect(path)
	if !errors.Is(err, ErrRowCount) {
		t.Fatalf("Inspect: %v, want ErrRowCount", err)
	}
	var ie *InputError
	if !errors.As(err, &ie) || ie.RowGroup != 0 {
		t.Errorf("error %v should name row group 0", err)
	}
}

// TestInt96Timestamps reads the INT96 timestamps of a corpus file (Impala)
// through TimeColumn.
func TestInt96Timestamps(t *testing.T) {
	path := filepath.Join(corpusDir(t), "parquet", "good", "alltypes_plain.parquet")
	s, err := Open(path, ScanOptions{Columns: []string{"timestamp_col", "id"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	for s.Scan() {
		ts, err := NewTimeColumn(s.Record().Column(0))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ts.Len(); i++ {
			if ts.IsNull(i) {
				continue
			}
			if y := ts.Time(i).Year(); y != 2009 {
				t.Errorf("row %d: year %d, want 2009", n+i, y)
			}
		}
		n += ts.Len()
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 8; got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
}

func writeRecordParquet(t testing.TB, path string, rec arrow.RecordBatch) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl := array.NewTableFromRecords(rec.Schema(), []arrow.RecordBatch{rec})
	defer tbl.Release()
	if err := pqarrow.WriteTable(tbl, f, 1<<20, parquet.NewWriterProperties(), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema())); err != nil {
		t.Fatal(err)
	}
}
