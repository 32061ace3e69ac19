package datasets

import (
	"io"
	"testing"
)

func benchmarkGenerate(b *testing.B, rows int, format Format) {
	b.ReportAllocs()
	for b.Loop() {
		var cw countingWriter
		if err := Generate(GenOptions{Rows: rows, Users: rows / 100, Days: 30, Seed: 1, Format: format}, &cw, io.Discard); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cw.n)/float64(rows), "bytes/row")
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func BenchmarkGenerate(b *testing.B) {
	b.Run("parquet/1M", func(b *testing.B) { benchmarkGenerate(b, 1_000_000, FormatParquet) })
	b.Run("arrow/1M", func(b *testing.B) { benchmarkGenerate(b, 1_000_000, FormatArrowFile) })
}
