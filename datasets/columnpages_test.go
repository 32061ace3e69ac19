package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// userColumnFile writes n rows of a user_id column (string or binary,
// nullable unless required) and an event_time column to Parquet with
// props: ids of users distinct users, some longer than an inline key,
// some empty, and (nullable) some null.
func userColumnFile(t *testing.T, n, users int, binaryIDs, required bool, props ...parquet.WriterProperty) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(users)))
	var typ arrow.DataType = arrow.BinaryTypes.String
	if binaryIDs {
		typ = arrow.BinaryTypes.Binary
	}
	ub := array.NewBinaryBuilder(memory.DefaultAllocator, typ.(arrow.BinaryDataType))
	defer ub.Release()
	tb := array.NewInt64Builder(memory.DefaultAllocator)
	defer tb.Release()
	for i := range n {
		switch k := rng.IntN(100); {
		case k < 4 && !required:
			ub.AppendNull()
		case k < 6:
			ub.Append([]byte{})
		default:
			u := rng.IntN(users)
			if u%5 == 0 {
				ub.Append(fmt.Appendf(nil, "a-long-user-id-past-the-inline-key-%d", u))
			} else {
				ub.Append(fmt.Appendf(nil, "u%d", u))
			}
		}
		tb.Append(int64(i))
	}
	cols := []arrow.Array{ub.NewArray(), tb.NewArray()}
	defer cols[0].Release()
	defer cols[1].Release()
	fields := []arrow.Field{
		{Name: "user_id", Type: typ, Nullable: !required},
		{Name: "event_time", Type: arrow.PrimitiveTypes.Int64},
	}
	return writeParquetRowGroupsT(t, fields, cols, 0, props...)
}

// readUserColumn reads user_id of data raw (see rawColumn), with every row
// group's failAt-th data page made undecodable (0: none), and with
// ScanOptions.rawUserPlain if plainOnly.
func readUserColumn(t *testing.T, data []byte, batch, failAt int, seed maphash.Seed, plainOnly ...bool) (readResult, error) {
	t.Helper()
	opt := ScanOptions{BatchSize: batch, Columns: []string{"user_id", "event_time"}, rawUser: "user_id", userSeed: seed,
		rawUserPlain: len(plainOnly) > 0 && plainOnly[0]}
	res, err := readStringsFailing(data, "user_id", opt, failAt)
	if err == nil && !res.raw {
		t.Fatal("the user column is not read raw")
	}
	return res, err
}

// TestUserPagesReadLikePqarrow writes user columns the ways writers do
// (data pages v1 and v2, compressed or not, required or nullable, string
// or binary, dictionaries of 1 to 40k entries, a dictionary that outgrows
// its page so that plain pages follow, plain pages only, and an encoding
// the pages are not decoded for) and reads them raw in batches that split
// pages and row groups: every row reads as pqarrow reads it, every hash is
// the value's, and the batches came the way the file's pages say (from
// dictionary pages as dictionaries, from plain pages as plain ids, the
// rest through the column chunk reader). With a data page of each row group
// made undecodable, the row group goes on through the column chunk reader
// from that page's first row, and the values are still the same.
func TestUserPagesReadLikePqarrow(t *testing.T) {
	const rg = 3000
	base := []parquet.WriterProperty{parquet.WithMaxRowGroupLength(rg), parquet.WithDataPageSize(1024), parquet.WithBatchSize(500)}
	with := func(ps ...parquet.WriterProperty) []parquet.WriterProperty {
		return append(append([]parquet.WriterProperty{}, base...), ps...)
	}
	for _, tc := range []struct {
		name                            string
		rows, users                     int
		binary                          bool
		props                           []parquet.WriterProperty
		wantDict, wantPlain, wantReader bool
	}{
		{"dictionary v1 snappy", 10000, 300, false, with(parquet.WithCompression(compress.Codecs.Snappy)), true, false, false},
		{"dictionary v2 zstd", 10000, 300, false, with(parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithCompression(compress.Codecs.Zstd)), true, false, false},
		{"dictionary v1 uncompressed binary", 7000, 50, true, with(), true, false, false},
		{"one entry: indices 0 bits wide", 7000, 1, false, with(parquet.WithDataPageVersion(parquet.DataPageV2)), true, false, false},
		{"wide indices", 60000, 40000, false, with(parquet.WithMaxRowGroupLength(30000), parquet.WithDictionaryPageSizeLimit(8<<20)), true, false, false},
		{"dictionary outgrows its page, plain pages follow", 10000, 5000, false, with(parquet.WithDictionaryPageSizeLimit(2000)), true, true, false},
		{"plain pages only, v2 gzip", 10000, 300, false, with(parquet.WithDictionaryDefault(false), parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithCompression(compress.Codecs.Gzip)), false, true, false},
		{"delta byte array: the column chunk reader", 7000, 300, false, with(parquet.WithDictionaryFor("user_id", false), parquet.WithEncodingFor("user_id", parquet.Encodings.DeltaByteArray)), false, false, true},
	} {
		for _, required := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/required=%v", tc.name, required), func(t *testing.T) {
				data := userColumnFile(t, tc.rows, tc.users, tc.binary, required, tc.props...)
				seed := maphash.MakeSeed()
				want, err := readStrings(data, "user_id", ScanOptions{Columns: []string{"user_id", "event_time"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(want.vals) != tc.rows {
					t.Fatalf("pqarrow read %d rows of %d", len(want.vals), tc.rows)
				}
				for _, batch := range []int{3, 333, 4099, 1 << 16} {
					for _, failAt := range []int{0, 2} {
						got, err := readUserColumn(t, data, batch, failAt, seed)
						if err != nil {
							t.Fatalf("batch %d, failAt %d: %v", batch, failAt, err)
						}
						if i := sameStrings(got.vals, want.vals); i >= 0 {
							t.Fatalf("batch %d, failAt %d: row %d differs (raw %d rows, pqarrow %d)", batch, failAt, i, len(got.vals), len(want.vals))
						}
						if i := badHash(got, seed); i >= 0 {
							t.Fatalf("batch %d, failAt %d: row %d: wrong hash", batch, failAt, i)
						}
						s := got.stats
						// A batch as long as a row group that holds both
						// kinds of page is read as plain ids.
						wantDict := tc.wantDict && !(tc.wantPlain && batch >= rg)
						if failAt == 0 {
							if (s.dictBatches > 0) != wantDict || (s.plainBatches > 0) != tc.wantPlain || (s.readerBatches > 0) != tc.wantReader || (s.fallBacks > 0) != tc.wantReader {
								t.Fatalf("batch %d: batches %+v; want from dictionary pages %v, from plain pages %v, through the reader %v",
									batch, s, wantDict, tc.wantPlain, tc.wantReader)
							}
						} else if s.fallBacks == 0 || s.readerBatches == 0 {
							t.Fatalf("batch %d: a page of every row group was undecodable, yet batches %+v", batch, s)
						}
						// With rawUserPlain, dictionary pages come as plain
						// ids too, each with its hash.
						got, err = readUserColumn(t, data, batch, failAt, seed, true)
						if err != nil {
							t.Fatalf("plain only, batch %d, failAt %d: %v", batch, failAt, err)
						}
						if i := sameStrings(got.vals, want.vals); i >= 0 {
							t.Fatalf("plain only, batch %d, failAt %d: row %d differs", batch, failAt, i)
						}
						if i := badHash(got, seed); i >= 0 {
							t.Fatalf("plain only, batch %d, failAt %d: row %d: wrong hash", batch, failAt, i)
						}
						if s := got.stats; s.dictBatches > 0 || slices.Contains(got.hashed, false) {
							t.Fatalf("plain only, batch %d, failAt %d: batches %+v, some without hashes", batch, failAt, s)
						}
					}
				}
			})
		}
	}
}

// encodeHybrid encodes vals (each < 2^width) in Parquet's RLE/bit-packed
// hybrid encoding, choosing runs at random: RLE runs over repeats, bit-
// packed runs of 1–4 groups of 8 elsewhere (the last padded with zeros).
func encodeHybrid(vals []uint32, width uint, rng *rand.Rand) []byte {
	var out []byte
	for i := 0; i < len(vals); {
		j := i + 1
		for j < len(vals) && vals[j] == vals[i] {
			j++
		}
		if j-i >= 3 && rng.IntN(4) > 0 {
			n := 1 + rng.IntN(j-i) // a run may stop short of the repeats
			out = binary.AppendUvarint(out, uint64(n)<<1)
			for b := range int(width+7) / 8 {
				out = append(out, byte(vals[i]>>(8*b)))
			}
			i += n
			continue
		}
		groups := 1 + rng.IntN(4)
		out = binary.AppendUvarint(out, uint64(groups)<<1|1)
		packed := make([]byte, groups*int(width))
		for k := range groups * 8 {
			var v uint64
			if i+k < len(vals) {
				v = uint64(vals[i+k])
			}
			for b := range width {
				if v>>b&1 == 1 {
					bit := uint(k)*width + b
					packed[bit/8] |= 1 << (bit % 8)
				}
			}
		}
		out = append(out, packed...)
		i += groups * 8
	}
	return out
}

// TestHybridRLEDecodes decodes random runs of every width from 0 to 32 in
// calls of random sizes, and checks that a truncated encoding reports
// failure instead of inventing values.
func TestHybridRLEDecodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for width := uint(0); width <= 32; width++ {
		for trial := range 20 {
			n := 1 + rng.IntN(3000)
			vals := make([]uint32, n)
			for i := 0; i < n; {
				v := uint32(rng.Uint64() & (1<<width - 1))
				run := 1
				if rng.IntN(3) == 0 {
					run = 1 + rng.IntN(40)
				}
				for ; run > 0 && i < n; run-- {
					vals[i] = v
					i++
				}
			}
			enc := encodeHybrid(vals, width, rng)
			var h hybridRLE
			h.init(enc, width)
			got := make([]uint32, 0, n)
			for len(got) < n {
				k := min(n-len(got), 1+rng.IntN(100))
				buf := make([]uint32, k)
				if !h.decode(buf) {
					t.Fatalf("width %d trial %d: decode failed at value %d of %d", width, trial, len(got), n)
				}
				got = append(got, buf...)
			}
			for i := range vals {
				if got[i] != vals[i] {
					t.Fatalf("width %d trial %d: value %d is %d, want %d", width, trial, i, got[i], vals[i])
				}
			}
			if len(enc) > 1 {
				h.init(enc[:rng.IntN(len(enc))], width)
				if h.decode(make([]uint32, n)) {
					t.Fatalf("width %d trial %d: a truncated encoding decoded", width, trial)
				}
			}
		}
	}
}

// FuzzHybridRLE decodes arbitrary bytes: no panic, and every value decoded
// fits the width.
func FuzzHybridRLE(f *testing.F) {
	f.Add([]byte{0x10, 0x03}, uint8(2), uint16(8))
	f.Add([]byte{0x03, 0xff, 0x01}, uint8(1), uint16(9))
	f.Add(encodeHybrid([]uint32{1, 2, 3, 3, 3, 3, 0, 7}, 3, rand.New(rand.NewPCG(1, 1))), uint8(3), uint16(8))
	f.Fuzz(func(t *testing.T, data []byte, width uint8, n uint16) {
		w := uint(width % 33)
		var h hybridRLE
		h.init(data, w)
		out := make([]uint32, n)
		if !h.decode(out) {
			return
		}
		for i, v := range out {
			if w < 32 && v>>w != 0 {
				t.Fatalf("value %d = %d does not fit %d bits", i, v, w)
			}
		}
	})
}

// TestRawColumnErrorNamesColumn corrupts the bit width of the user
// column's dictionary indices: the page decoder hands the row group to
// arrow-go's reader, whose error names the file and the column.
func TestRawColumnErrorNamesColumn(t *testing.T) {
	const n = 16
	ids := make([]any, n)
	times := make([]any, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%d", i%2)
		times[i] = i
	}
	fields := []arrow.Field{{Name: "user_id", Type: arrow.BinaryTypes.String}, {Name: "event_time", Type: arrow.PrimitiveTypes.Int64}}
	cols := []arrow.Array{strArr(ids...), int64Arr(times...)}
	for _, c := range cols {
		defer c.Release()
	}
	data := writeParquetRowGroupsT(t, fields, cols, 0, parquet.WithCompression(compress.Codecs.Uncompressed), parquet.WithStats(false))
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := pf.MetaData().RowGroup(0).ColumnChunk(0)
	if err != nil {
		t.Fatal(err)
	}
	// The chunk ends with its data page's values: the indices' bit width
	// (1), one bit-packed run of 2 groups (header 5) and their 2 bytes.
	end := cc.DictionaryPageOffset() + cc.TotalCompressedSize()
	if v := data[end-4 : end-2]; v[0] != 1 || v[1] != 5 {
		t.Fatalf("the user column's page does not end as expected: % x", data[end-8:end])
	}
	data[end-4] = 40
	_, err = readUserColumn(t, data, 100, 0, maphash.MakeSeed())
	var ie *InputError
	if !errors.As(err, &ie) || ie.File != "t.parquet" || ie.Column != "user_id" || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v, want a corrupt-input error naming t.parquet and user_id", err)
	}
}

// readInt64Column reads INT64 column col of data, raw (see rawColumn,
// with every row group's failAt-th data page made undecodable) or through
// pqarrow: its values (nil for null), the arrow type, and the raw read's
// batches.
func readInt64Column(t *testing.T, data []byte, col string, raw bool, batch, failAt int) ([]*int64, arrow.DataType, rawStats, error) {
	t.Helper()
	opt := ScanOptions{BatchSize: batch, Columns: []string{"user_id", col}}
	if raw {
		opt.rawColumns = []string{col}
	}
	sc, err := OpenReaderAt("t.parquet", bytes.NewReader(data), int64(len(data)), opt)
	if err != nil {
		return nil, nil, rawStats{}, err
	}
	defer sc.Close()
	var u *rawColumn
	if p, ok := sc.src.(*parquetSource); ok && len(p.raws) == 1 {
		u = p.raws[0]
		u.failAt = failAt
	} else if raw {
		t.Fatalf("column %s is not read raw", col)
	}
	var vals []*int64
	var typ arrow.DataType
	for sc.Scan() {
		arr := sc.Record().Column(1)
		typ = arr.DataType()
		var v []int64
		switch a := arr.(type) {
		case *array.Int64:
			v = a.Int64Values()
		case *array.Timestamp:
			for _, x := range a.TimestampValues() {
				v = append(v, int64(x))
			}
		default:
			t.Fatalf("column %s read as %s", col, arr.DataType())
		}
		for i := range arr.Len() {
			if arr.IsNull(i) {
				vals = append(vals, nil)
			} else {
				x := v[i]
				vals = append(vals, &x)
			}
		}
	}
	var s rawStats
	if u != nil {
		s = u.stats
	}
	return vals, typ, s, sc.Err()
}

// TestInt64PagesReadLikePqarrow is TestUserPagesReadLikePqarrow for INT64
// columns (an int64 and a timestamp, nullable or not, few or many distinct
// values): read raw, every row is pqarrow's, in pqarrow's arrow type; with
// a delta encoding (or an undecodable page) the column chunk reader reads
// the rest.
func TestInt64PagesReadLikePqarrow(t *testing.T) {
	const rows, rg = 9000, 3000
	base := []parquet.WriterProperty{parquet.WithMaxRowGroupLength(rg), parquet.WithDataPageSize(1024), parquet.WithBatchSize(500)}
	for _, tc := range []struct {
		name       string
		props      []parquet.WriterProperty
		wantReader bool
	}{
		{"dictionary v1", nil, false},
		{"dictionary v2 zstd", []parquet.WriterProperty{parquet.WithDataPageVersion(parquet.DataPageV2), parquet.WithCompression(compress.Codecs.Zstd)}, false},
		{"plain", []parquet.WriterProperty{parquet.WithDictionaryDefault(false)}, false},
		{"delta binary packed", []parquet.WriterProperty{parquet.WithDictionaryDefault(false), parquet.WithEncodingFor("n", parquet.Encodings.DeltaBinaryPacked), parquet.WithEncodingFor("t", parquet.Encodings.DeltaBinaryPacked)}, true},
	} {
		for _, distinct := range []int{5, 100000} {
			t.Run(fmt.Sprintf("%s/distinct=%d", tc.name, distinct), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(3, uint64(distinct)))
				ids, ns, ts := make([]any, rows), make([]any, rows), make([]any, rows)
				for i := range rows {
					ids[i] = fmt.Sprintf("u%d", i%50)
					if rng.IntN(10) > 0 {
						ns[i] = rng.IntN(distinct) - distinct/2
					}
					ts[i] = time.UnixMilli(1_700_000_000_000 + int64(rng.IntN(distinct)))
				}
				tb := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"})
				defer tb.Release()
				for _, v := range ts {
					tb.AppendTime(v.(time.Time))
				}
				cols := []arrow.Array{strArr(ids...), int64Arr(ns...), tb.NewArray()}
				for _, c := range cols {
					defer c.Release()
				}
				fields := []arrow.Field{
					{Name: "user_id", Type: arrow.BinaryTypes.String},
					{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
					{Name: "t", Type: cols[2].DataType()},
				}
				data := writeParquetRowGroupsT(t, fields, cols, 0, append(append([]parquet.WriterProperty{}, base...), tc.props...)...)
				for _, col := range []string{"n", "t"} {
					want, wantType, _, err := readInt64Column(t, data, col, false, 1<<16, 0)
					if err != nil || len(want) != rows {
						t.Fatalf("%s through pqarrow: %d rows, %v", col, len(want), err)
					}
					for _, batch := range []int{7, 1000, 1 << 16} {
						for _, failAt := range []int{0, 2} {
							got, gotType, s, err := readInt64Column(t, data, col, true, batch, failAt)
							if err != nil {
								t.Fatalf("%s batch %d failAt %d: %v", col, batch, failAt, err)
							}
							if !arrow.TypeEqual(gotType, wantType) {
								t.Fatalf("%s: read raw as %s, pqarrow %s", col, gotType, wantType)
							}
							for i := range max(len(got), len(want)) {
								if i >= len(got) || i >= len(want) || (got[i] == nil) != (want[i] == nil) || (got[i] != nil && *got[i] != *want[i]) {
									t.Fatalf("%s batch %d failAt %d: row %d differs (raw %d rows, pqarrow %d)", col, batch, failAt, i, len(got), len(want))
								}
							}
							switch {
							case failAt == 0 && ((s.intBatches > 0) == tc.wantReader || (s.readerBatches > 0) != tc.wantReader):
								t.Fatalf("%s batch %d: batches %+v, want through the reader: %v", col, batch, s, tc.wantReader)
							case failAt > 0 && (s.fallBacks == 0 || s.readerBatches == 0):
								t.Fatalf("%s batch %d: a page of every row group was undecodable, yet batches %+v", col, batch, s)
							}
						}
					}
				}
			})
		}
	}
}
