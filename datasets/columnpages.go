package datasets

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// A raw column's pages (see rawColumn), decoded here. arrow-go's column
// chunk reader turns a dictionary-encoded page into slices of the
// dictionary, one per row, and keeps no dictionary indices a caller can
// see; so a row group of 262k rows and 80k distinct users cost 262k copies
// of an id, 262k hashes and 262k probes of the user table; and pqarrow's
// dictionary reader decodes indices at some 9 ns a row. Decoded here, the
// rows of a dictionary page keep their indices: a batch is an arrow
// dictionary array over the row group's dictionary (decoded once), and the
// reader interns each entry once per row group
// (EventReader.internDictUsers, decodeDim). INT64 columns (times, numbers)
// are decoded to values, cheaper than pqarrow's record reader too.
//
// Only what the usual writers produce is decoded: a flat column (no
// repetition, at most one definition level), data pages v1 or v2 whose
// levels are RLE/bit-packed hybrid, values PLAIN or dictionary indices,
// and one PLAIN dictionary page before the data pages. Anything else, and
// anything that does not add up (an index past the dictionary, a run past
// its page, a level above 1, a value that overruns its page), is not an
// error here: the row group is handed to arrow-go's column chunk reader
// from the row the pages had reached (rawColumn.fallBack), which reads it
// or reports what is wrong exactly as before. So a file reads to the same
// values, or fails the same way, whichever decoder reads it.

// columnPages reads one row group's column page by page.
type columnPages struct {
	pr     file.PageReader
	maxDef int16
	typ    arrow.DataType // of a byte array column's dictionary: string or binary
	hashed bool           // plain batches carry hashes under seed
	seed   maphash.Seed
	// int64s: the column's physical type is INT64 (else BYTE_ARRAY); its
	// batches are int64 values, from a dictionary's entries or not.
	int64s bool
	// plainOnly: rows of dictionary pages are copied as plain values too
	// (with hashed, each entry is hashed once: entryHash).
	plainOnly bool
	entryHash []uint64

	haveDict bool        // the dictionary page was read
	dictLen  int         // its entries
	dict     arrow.Array // a byte array column's dictionary
	dictOff  []int32
	dictData []byte
	dictI64  []int64 // an INT64 column's dictionary
	dataSeen bool    // a data page came: no dictionary page may follow

	// The current data page.
	left   int  // its rows not read yet
	isDict bool // its values are dictionary indices
	defs   hybridRLE
	idx    hybridRLE
	plain  []byte // its PLAIN values not read yet

	levels []uint32 // scratch: a run of rows' definition levels
	vals   []uint32 // scratch: a run of rows' dictionary indices
	vals64 []int64  // scratch: a run of rows' int64 values

	// failAt > 0 makes the failAt-th data page undecodable (tests of
	// rawColumn.fallBack).
	failAt, pagesSeen int
}

// pageBatch is one batch being read from pages: dictionary indices while
// every row so far came from dictionary pages, else values (and, if
// hashed, hashes) as rawColumn.readBatch builds them.
type pageBatch struct {
	n      int
	idxBuf *memory.Buffer
	idx    []int32
	valBuf *memory.Buffer // an INT64 column's values
	i64    []int64
	valid  *memory.Buffer // nil: no null so far
	nulls  int

	plain   bool // rows are copied as bytes (a PLAIN page was met)
	offBuf  *memory.Buffer
	offs    []int32
	hashBuf *memory.Buffer
	hs      []uint64
	dataBuf *memory.Buffer
	data    []byte
}

func (b *pageBatch) release() {
	for _, buf := range []*memory.Buffer{b.idxBuf, b.valBuf, b.valid, b.offBuf, b.hashBuf, b.dataBuf} {
		if buf != nil {
			buf.Release()
		}
	}
}

// setNull marks row i null.
func (b *pageBatch) setNull(i int, mem memory.Allocator) {
	if b.valid == nil {
		b.valid = allValid(b.n, mem)
	}
	bits := b.valid.Bytes()
	bits[i/8] &^= 1 << (i % 8)
	b.nulls++
}

func (b *pageBatch) isNull(i int) bool {
	return b.valid != nil && b.valid.Bytes()[i/8]&(1<<(i%8)) == 0
}

// appendValue appends row row's value (its bytes v) in plain form,
// without a hash.
func (b *pageBatch) appendValue(row int, v []byte) bool {
	if int64(len(b.data))+int64(len(v)) > math.MaxInt32 {
		return false
	}
	if len(b.data)+len(v) > cap(b.data) {
		b.dataBuf.Reserve(max(2*cap(b.data), len(b.data)+len(v), 1024))
		buf := b.dataBuf.Buf()
		b.data = buf[:len(b.data):len(buf)]
	}
	b.data = append(b.data, v...)
	b.offs[row+1] = int32(len(b.data))
	return true
}

// appendBytes appends row row's value v in plain form, with its hash if
// the column is hashed.
func (b *pageBatch) appendBytes(row int, v []byte, p *columnPages) bool {
	if !b.appendValue(row, v) {
		return false
	}
	if p.hashed {
		b.hs[row] = maphash.Bytes(p.seed, v)
	}
	return true
}

// appendEntry appends dictionary entry k as row row's value in plain form,
// with its hash if the column is hashed.
func (b *pageBatch) appendEntry(row int, k int32, p *columnPages) bool {
	if !b.appendValue(row, p.entry(k)) {
		return false
	}
	if p.hashed {
		if p.entryHash != nil {
			b.hs[row] = p.entryHash[k]
		} else {
			b.hs[row] = maphash.Bytes(p.seed, p.entry(k))
		}
	}
	return true
}

// appendNull appends null row row in plain form (it is marked null).
func (b *pageBatch) appendNull(row int, p *columnPages) {
	if p.hashed {
		b.hs[row] = 0
	}
	b.offs[row+1] = int32(len(b.data))
}

// toPlain turns the first rows rows, read as dictionary indices, into
// plain ids, for a batch that goes on with a PLAIN page.
func (b *pageBatch) toPlain(rows int, p *columnPages, mem memory.Allocator) bool {
	b.plain = true
	b.offBuf = memory.NewResizableBuffer(mem)
	b.offBuf.Resize(4 * (b.n + 1))
	b.offs = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b.offBuf.Bytes()))), b.n+1)
	b.offs[0] = 0
	if p.hashed {
		b.hashBuf = memory.NewResizableBuffer(mem)
		b.hashBuf.Resize(8 * b.n)
		b.hs = unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b.hashBuf.Bytes()))), b.n)
	}
	b.dataBuf = memory.NewResizableBuffer(mem)
	for i := range rows {
		if b.isNull(i) {
			b.appendNull(i, p)
			continue
		}
		if !b.appendEntry(i, b.idx[i], p) {
			return false
		}
	}
	return true
}

// inDictionary reports whether every index of idx is in the dictionary.
func (p *columnPages) inDictionary(idx []uint32) bool {
	var hi uint32
	for _, v := range idx {
		hi = max(hi, v)
	}
	return len(idx) == 0 || uint64(hi) < uint64(p.dictLen)
}

// entry is dictionary entry k's bytes (k must be in range).
func (p *columnPages) entry(k int32) []byte {
	return p.dictData[p.dictOff[k]:p.dictOff[k+1]]
}

// read reads the next n rows. ok false means the pages could not be read
// here (see the top of this file); the rows read so far in this call are
// not counted as read, and the caller falls back.
func (p *columnPages) read(n int, mem memory.Allocator) (b *pageBatch, ok bool) {
	b = &pageBatch{n: n}
	if p.int64s {
		b.valBuf = memory.NewResizableBuffer(mem)
		b.valBuf.Resize(8 * n)
		b.i64 = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b.valBuf.Bytes()))), n)
	} else {
		b.idxBuf = memory.NewResizableBuffer(mem)
		b.idxBuf.Resize(4 * n)
		b.idx = unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b.idxBuf.Bytes()))), n)
	}
	defer func() {
		if !ok {
			b.release()
			b = nil
		}
	}()
	if p.plainOnly && !p.int64s && !b.toPlain(0, p, mem) {
		return b, false
	}
	row := 0
	for row < n {
		if p.left == 0 && !p.nextPage(mem) {
			return b, false
		}
		k := min(n-row, p.left, 4096)
		// Definition levels: which of the k rows have a value.
		nv := k
		levels := p.levels[:0]
		if p.maxDef > 0 {
			levels = resize(p.levels, k)
			p.levels = levels
			if !p.defs.decode(levels) {
				return b, false
			}
			nv = 0
			for _, l := range levels {
				if l > 1 {
					return b, false
				}
				nv += int(l)
			}
		}
		if p.int64s {
			if !p.readInt64s(b, row, k, levels, nv, mem) {
				return b, false
			}
		} else if p.isDict && nv == k && !b.plain {
			// No null among the k rows: the indices go straight into
			// the batch.
			dst := b.idx[row : row+k]
			idx := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(dst))), k)
			if !p.idx.decode(idx) || !p.inDictionary(idx) {
				return b, false
			}
		} else if p.isDict {
			vals := resize(p.vals, nv)
			p.vals = vals
			if !p.idx.decode(vals) || !p.inDictionary(vals) {
				return b, false
			}
			j := 0
			for r := range k {
				i := row + r
				if nv < k && levels[r] == 0 {
					b.idx[i] = 0
					b.setNull(i, mem)
					if b.plain {
						b.appendNull(i, p)
					}
					continue
				}
				v := int32(vals[j])
				j++
				b.idx[i] = v
				if b.plain && !b.appendEntry(i, v, p) {
					return b, false
				}
			}
		} else {
			if !b.plain && !b.toPlain(row, p, mem) {
				return b, false
			}
			for r := range k {
				i := row + r
				if nv < k && levels[r] == 0 {
					b.setNull(i, mem)
					b.appendNull(i, p)
					continue
				}
				if len(p.plain) < 4 {
					return b, false
				}
				l := binary.LittleEndian.Uint32(p.plain)
				if uint64(l) > uint64(len(p.plain)-4) {
					return b, false
				}
				if !b.appendBytes(i, p.plain[4:4+l], p) {
					return b, false
				}
				p.plain = p.plain[4+l:]
			}
		}
		p.left -= k
		row += k
	}
	return b, true
}

// readInt64s reads k rows of an INT64 column into b from row on: nv of
// them have values, levels says which (nil when all do).
func (p *columnPages) readInt64s(b *pageBatch, row, k int, levels []uint32, nv int, mem memory.Allocator) bool {
	out := b.i64[row : row+k]
	vals := out // the nv values in order: out itself without nulls
	if nv < k {
		vals = resize(p.vals64, nv)
		p.vals64 = vals
	}
	if p.isDict {
		idx := resize(p.vals, nv)
		p.vals = idx
		if !p.idx.decode(idx) || !p.inDictionary(idx) {
			return false
		}
		dict := p.dictI64
		for r, j := range idx {
			vals[r] = dict[j]
		}
	} else {
		if len(p.plain)/8 < nv {
			return false
		}
		src := p.plain[:8*nv]
		p.plain = p.plain[8*nv:]
		for r := range vals {
			vals[r] = int64(binary.LittleEndian.Uint64(src[8*r:]))
		}
	}
	if nv == k {
		return true
	}
	j := 0
	for r := range k {
		if levels[r] == 0 {
			out[r] = 0
			b.setNull(row+r, mem)
			continue
		}
		out[r] = vals[j]
		j++
	}
	return true
}

// nextPage moves to the next data page that has rows, reading a
// dictionary page on the way. false: the end of the chunk, an error of
// the page reader, or a page not decoded here.
func (p *columnPages) nextPage(mem memory.Allocator) bool {
	for p.pr.Next() {
		var data []byte
		var rows int
		switch pg := p.pr.Page().(type) {
		case *file.DictionaryPage:
			if p.haveDict || p.dataSeen || !p.readDictionary(pg, mem) {
				return false
			}
			p.haveDict = true
			continue
		case *file.DataPageV1:
			rows, data = int(pg.NumValues()), pg.Data()
			if p.maxDef > 0 {
				if pg.DefinitionLevelEncoding() != parquet.Encodings.RLE || len(data) < 4 {
					return false
				}
				l := binary.LittleEndian.Uint32(data)
				if uint64(l) > uint64(len(data)-4) {
					return false
				}
				p.defs.init(data[4:4+l], 1)
				data = data[4+l:]
			}
		case *file.DataPageV2:
			rows, data = int(pg.NumValues()), pg.Data()
			rl, dl := int(pg.RepetitionLevelByteLen()), int(pg.DefinitionLevelByteLen())
			if rl < 0 || dl < 0 || rl+dl > len(data) || int(pg.NumRows()) != rows {
				return false
			}
			if p.maxDef > 0 {
				p.defs.init(data[rl:rl+dl], 1)
			}
			data = data[rl+dl:]
		default:
			return false
		}
		p.dataSeen = true
		if p.pagesSeen++; rows < 0 || p.pagesSeen == p.failAt {
			return false
		}
		switch enc := parquet.Encoding(p.pr.Page().Encoding()); enc {
		case parquet.Encodings.Plain:
			p.isDict, p.plain = false, data
		case parquet.Encodings.PlainDict, parquet.Encodings.RLEDict:
			if !p.haveDict || (len(data) == 0 && rows > 0) {
				return false
			}
			if rows > 0 {
				if data[0] > 32 {
					return false
				}
				p.idx.init(data[1:], uint(data[0]))
			}
			p.isDict = true
		default:
			return false
		}
		if rows > 0 {
			p.left = rows
			return true
		}
	}
	return false
}

// readDictionary decodes a PLAIN dictionary page into p.dict (or
// p.dictI64).
func (p *columnPages) readDictionary(pg *file.DictionaryPage, mem memory.Allocator) bool {
	if enc := parquet.Encoding(pg.Encoding()); enc != parquet.Encodings.Plain && enc != parquet.Encodings.PlainDict {
		return false
	}
	n := int(pg.NumValues())
	data := pg.Data()
	if p.int64s {
		if n < 0 || n > len(data)/8 {
			return false
		}
		p.dictI64 = make([]int64, n)
		for i := range p.dictI64 {
			p.dictI64[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		p.dictLen = n
		return true
	}
	if n < 0 || n > len(data)/4 {
		return false
	}
	offBuf := memory.NewResizableBuffer(mem)
	offBuf.Resize(4 * (n + 1))
	offs := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(offBuf.Bytes()))), n+1)
	size := len(data) - 4*n // the entries' bytes, at most
	dataBuf := memory.NewResizableBuffer(mem)
	dataBuf.Resize(size)
	out := dataBuf.Bytes()[:0]
	offs[0] = 0
	for i := range n {
		if len(data) < 4 {
			offBuf.Release()
			dataBuf.Release()
			return false
		}
		l := binary.LittleEndian.Uint32(data)
		if uint64(l) > uint64(len(data)-4) {
			offBuf.Release()
			dataBuf.Release()
			return false
		}
		out = append(out, data[4:4+l]...)
		offs[i+1] = int32(len(out))
		data = data[4+l:]
	}
	dataBuf.ResizeNoShrink(len(out))
	d := array.NewData(p.typ, n, []*memory.Buffer{nil, offBuf, dataBuf}, nil, 0, 0)
	p.dict = array.MakeFromData(d)
	d.Release()
	offBuf.Release()
	dataBuf.Release()
	p.dictOff, p.dictData, p.dictLen = offs, out, n
	if p.plainOnly && p.hashed {
		p.entryHash = make([]uint64, n)
		for k := range p.entryHash {
			p.entryHash[k] = maphash.Bytes(p.seed, p.entry(int32(k)))
		}
	}
	return true
}

// close releases the dictionary and the page reader.
func (p *columnPages) close() {
	if p.dict != nil {
		p.dict.Release()
		p.dict = nil
	}
	_ = p.pr.Close()
}

// atEnd reports whether the chunk's pages end where its rows do (every
// data page after the last row read is empty).
func (p *columnPages) atEnd(mem memory.Allocator) bool {
	if p.left > 0 {
		return false
	}
	if p.nextPage(mem) {
		return false
	}
	return p.pr.Err() == nil
}

// hybridRLE decodes Parquet's RLE/bit-packed hybrid encoding of values of
// width bits (at most 32), the encoding of definition levels and of
// dictionary indices.
type hybridRLE struct {
	data  []byte // the runs not started yet
	width uint
	left  int    // values left in the current run
	rle   bool   // the current run repeats val
	val   uint32 // an RLE run's value
	bits  []byte // a bit-packed run's bytes, and 8 zero bytes
	bit   uint   // the next value's bit offset in bits
	pad   []byte // bits' array, reused
}

func (h *hybridRLE) init(data []byte, width uint) {
	*h = hybridRLE{data: data, width: width, pad: h.pad}
}

// nextRun starts the next run; false if there is none, or it is
// malformed.
func (h *hybridRLE) nextRun() bool {
	hdr, n := binary.Uvarint(h.data)
	if n <= 0 {
		return false
	}
	h.data = h.data[n:]
	if hdr&1 == 1 { // bit-packed: hdr>>1 groups of 8 values
		groups := hdr >> 1
		if groups == 0 || groups > math.MaxInt32/8 {
			return false
		}
		size := groups * uint64(h.width)
		if size > uint64(len(h.data)) {
			return false
		}
		// Copied with 8 zero bytes after, so that every value can be
		// read with one 8-byte load.
		h.pad = append(append(h.pad[:0], h.data[:size]...), 0, 0, 0, 0, 0, 0, 0, 0)
		h.bits, h.data = h.pad, h.data[size:]
		h.left, h.rle, h.bit = int(groups*8), false, 0
		return true
	}
	count := hdr >> 1
	if count == 0 || count > math.MaxInt32 {
		return false
	}
	size := int(h.width+7) / 8
	if size > len(h.data) {
		return false
	}
	var v uint32
	for i := range size {
		v |= uint32(h.data[i]) << (8 * i)
	}
	if h.width < 32 && v>>h.width != 0 {
		return false
	}
	h.data = h.data[size:]
	h.left, h.rle, h.val = int(count), true, v
	return true
}

// decode fills out with the next len(out) values; false if the runs end
// first or are malformed.
func (h *hybridRLE) decode(out []uint32) bool {
	for len(out) > 0 {
		if h.left == 0 && !h.nextRun() {
			return false
		}
		k := min(len(out), h.left)
		if h.rle {
			v := h.val
			for i := range out[:k] {
				out[i] = v
			}
		} else {
			h.unpack(out[:k])
		}
		out = out[k:]
		h.left -= k
	}
	return true
}

// unpack reads len(out) values of the current bit-packed run (they are
// there: a run's bytes hold all its values, and 8 zero bytes follow).
func (h *hybridRLE) unpack(out []uint32) {
	w := h.width
	if w == 0 {
		clear(out)
		return
	}
	mask := uint64(1)<<w - 1
	bits, bit := h.bits, h.bit
	for i := range out {
		out[i] = uint32(binary.LittleEndian.Uint64(bits[bit>>3:]) >> (bit & 7) & mask)
		bit += w
	}
	h.bit = bit
}
