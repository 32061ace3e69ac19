package datasets

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Benchmarks read a generated Parquet file projecting the 5 columns a
// typical metric needs. DPSTATS_BENCH_ROWS sets its size when run with go
// test (default 1M rows); under `make bench` it is DPSTATS_BENCH_MICRO_ROWS
// (e.g. DPSTATS_BENCH_MICRO_ROWS=10000000 make bench for the 10M figure).
//
//	BenchmarkBareScan: arrow-go pqarrow record reader, touching nothing.
//	BenchmarkScanner:  our Scanner + accessors, touching every value.
//
// Both report rows/s, peak Go heap in use (sampled per batch) and the
// process's peak RSS (VmHWM, which also covers writing the file).

var benchColumns = []string{"user_id", "event_time", "device_type", "video_codec", "bitrate_kbps"}

func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("DPSTATS_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// writeBenchFile writes n synthetic rows in row groups of 1M rows.
func writeBenchFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.parquet")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	mem := memory.NewGoAllocator()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: "device_type", Type: dictType, Nullable: true},
		{Name: "video_codec", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "title", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "resolution", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	props := parquet.NewWriterProperties(
		parquet.WithMaxRowGroupLength(1<<20),
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(true),
	)
	w, err := pqarrow.NewFileWriter(sc, f, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		b.Fatal(err)
	}
	devices := []string{"android_tv", "roku", "apple_tv", "web", "fire_tv", "ios", "android"}
	codecs := []string{"hevc", "h264", "av1", "vp9", "mpeg2"}
	res := []string{"sd", "720p", "1080p", "4k"}
	start := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	rb := array.NewRecordBuilder(mem, sc)
	defer rb.Release()
	const batch = 64 << 10
	rng := uint64(42)
	next := func() uint64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
	for done := 0; done < n; done += batch {
		m := min(batch, n-done)
		for i := 0; i < m; i++ {
			r := next()
			rb.Field(0).(*array.Int64Builder).Append(int64(r % 100_000))
			rb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(start + int64(done+i)*1000))
			if err := rb.Field(2).(*array.BinaryDictionaryBuilder).AppendString(devices[(r>>20)%uint64(len(devices))]); err != nil {
				b.Fatal(err)
			}
			rb.Field(3).(*array.StringBuilder).Append(codecs[(r>>24)%uint64(len(codecs))])
			rb.Field(4).(*array.Int64Builder).Append(int64(500 + (r>>28)%20000))
			rb.Field(5).(*array.StringBuilder).Append("title")
			rb.Field(6).(*array.Int64Builder).Append(int64((r >> 36) % 7200))
			rb.Field(7).(*array.StringBuilder).Append(res[(r>>40)%uint64(len(res))])
		}
		rec := rb.NewRecordBatch()
		if err := w.WriteBuffered(rec); err != nil {
			b.Fatal(err)
		}
		rec.Release()
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

type peakHeap struct{ max uint64 }

func (p *peakHeap) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > p.max {
		p.max = ms.HeapInuse
	}
}

// vmHWM is the process's peak resident set size in bytes (Linux), or 0.
func vmHWM() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

func reportScan(b *testing.B, rows int64, peak *peakHeap) {
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(peak.max)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(vmHWM()/(1<<20), "VmHWM-MiB")
}

func BenchmarkBareScan(b *testing.B) {
	n := benchRows()
	path := writeBenchFile(b, n)
	runtime.GC()
	var rows int64
	var peak peakHeap
	b.ResetTimer()
	for range b.N {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		pf, err := file.NewParquetReader(f)
		if err != nil {
			b.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: DefaultBatchSize}, memory.DefaultAllocator)
		if err != nil {
			b.Fatal(err)
		}
		var leaves []int
		sc := pf.MetaData().Schema
		for _, name := range benchColumns {
			leaves = append(leaves, sc.ColumnIndexByName(name))
		}
		rr, err := fr.GetRecordReader(context.Background(), leaves, nil)
		if err != nil {
			b.Fatal(err)
		}
		for rr.Next() {
			rows += rr.RecordBatch().NumRows()
			peak.sample()
		}
		rr.Release()
		pf.Close()
	}
	b.StopTimer()
	if rows != int64(n)*int64(b.N) {
		b.Fatalf("read %d rows, want %d", rows, int64(n)*int64(b.N))
	}
	reportScan(b, rows, &peak)
}

func BenchmarkScanner(b *testing.B) {
	n := benchRows()
	path := writeBenchFile(b, n)
	runtime.GC()
	var rows, sink int64
	var peak peakHeap
	b.ResetTimer()
	for range b.N {
		s, err := Open(path, ScanOptions{Columns: benchColumns})
		if err != nil {
			b.Fatal(err)
		}
		for s.Scan() {
			rec := s.Record()
			uid, err1 := NewIntColumn(rec.Column(0))
			ts, err2 := NewTimeColumn(rec.Column(1))
			dev, err3 := NewStringColumn(rec.Column(2))
			codec, err4 := NewStringColumn(rec.Column(3))
			rate, err5 := NewIntColumn(rec.Column(4))
			for _, err := range []error{err1, err2, err3, err4, err5} {
				if err != nil {
					b.Fatal(err)
				}
			}
			for i := 0; i < int(rec.NumRows()); i++ {
				if !uid.IsNull(i) {
					sink += uid.Value(i)
				}
				sink += ts.Value(i) + rate.Value(i)
				sink += int64(len(dev.Value(i)) + len(codec.Value(i)))
			}
			rows += rec.NumRows()
			peak.sample()
		}
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.StopTimer()
	if rows != int64(n)*int64(b.N) {
		b.Fatalf("read %d rows, want %d", rows, int64(n)*int64(b.N))
	}
	if sink == 0 {
		b.Fatal("no values touched")
	}
	reportScan(b, rows, &peak)
}

// BenchmarkScannerOnly is the Scanner touching nothing, like
// BenchmarkBareScan: the cost of the reader's own checks and projection.
func BenchmarkScannerOnly(b *testing.B) {
	n := benchRows()
	path := writeBenchFile(b, n)
	runtime.GC()
	var rows int64
	var peak peakHeap
	b.ResetTimer()
	for range b.N {
		s, err := Open(path, ScanOptions{Columns: benchColumns})
		if err != nil {
			b.Fatal(err)
		}
		for s.Scan() {
			rows += s.Record().NumRows()
			peak.sample()
		}
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.StopTimer()
	if rows != int64(n)*int64(b.N) {
		b.Fatalf("read %d rows, want %d", rows, int64(n)*int64(b.N))
	}
	reportScan(b, rows, &peak)
}
