package datasets

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// Columns read beside pqarrow. pqarrow reads a dictionary-encoded string
// column as an arrow dictionary by hashing every dictionary entry of every
// row group into a memo table of its own, or as a plain string column by
// copying every value through a builder; and the reader then hashes user
// ids again to intern them. The user column, and the dimension columns,
// are read instead page by page (see columnPages), in lockstep with the
// pqarrow batches of the other columns: rows of dictionary pages come as an
// arrow dictionary array over the row group's dictionary, whose entries the
// reader interns once; rows of plain pages are copied at once into the
// batch's own string array, with, for the user column, each id's hash
// under the UserIndex's seed beside it. The decoding goroutine does that
// work; the goroutine that interns users only probes the user table
// (UserIndex.internHashed). Pages columnPages does not decode are read
// with arrow-go's column chunk reader (file.ByteArrayColumnChunkReader).
// Identity comes only from the bytes: nothing is inferred from where a
// slice points.

// userHashField is the name of the extra last column of a record whose
// user column was read raw into a string array: row i's hash of its user
// id under the seed ScanOptions.userSeed (0 for null).
const userHashField = "\x00dpstats.user_hash"

// rawDictKey is a schema metadata key of the records whose user column was
// read from dictionary pages (see columnPages): it tells them from
// pqarrow's dictionary reads in tests.
const rawDictKey = "\x00dpstats.raw_user_dict"

// rawColumn reads one top-level, flat byte-array column of a Parquet
// file beside pqarrow.
type rawColumn struct {
	name   string
	leaf   int            // the column's leaf index
	pos    int            // its position among the projected fields
	maxDef int16          // 0: required; 1: optional
	typ    arrow.DataType // arrow.BinaryTypes.String or .Binary
	// hashed: the user column, whose plain batches carry their ids' hashes
	// under seed; plainOnly: its dictionary pages' rows come plain too
	// (ScanOptions.rawUserPlain).
	hashed    bool
	plainOnly bool
	seed      maphash.Seed
	dictType  *arrow.DictionaryType // of batches from dictionary pages
	// int64s: the column is INT64, read into arrays of typ (int64 or a
	// timestamp of milli-, micro- or nanoseconds: pqarrow's zero-copy
	// types, the same bits), never as dictionaries.
	int64s bool
	cr     chunkReader // the column chunk reader, once the pages handed over
	vals   []parquet.ByteArray
	vals64 []int64
	defs   []int16

	// The current row group: its pages (nil once or unless handed to cr),
	// and the rows of it read so far.
	pf       *file.Reader
	rg       int
	mem      memory.Allocator
	pages    *columnPages
	rowsRead int64
	// stats counts batches by how they were read, for tests.
	stats rawStats
	// failAt is columnPages.failAt for every row group (tests).
	failAt int
}

// chunkReader is what rawColumn needs of arrow-go's typed column chunk
// readers (ByteArrayColumnChunkReader, Int64ColumnChunkReader).
type chunkReader interface {
	HasNext() bool
	Err() error
	Close() error
	Skip(int64) (int64, error)
}

// rawStats counts a raw column's batches by how they were read:
// from pages as a dictionary array, from pages as plain strings, from
// pages as int64s, or by the column chunk reader; and the row groups handed from pages to the column
// chunk reader.
type rawStats struct {
	dictBatches, plainBatches, intBatches, readerBatches, fallBacks int
}

// rawColumnLeaf returns the raw reader of column c, or nil if c must
// take pqarrow's path: c must be a top-level field of the projection that
// is a leaf neither repeated nor nested, unencrypted in every row group,
// and either of physical type BYTE_ARRAY read by arrow as string or binary
// (or a dictionary of either), or INT64 read as int64 or as a timestamp of
// milli-, micro- or nanoseconds.
func (p *parquetSource) rawColumnLeaf(c string, fields []int) *rawColumn {
	md := p.pf.MetaData()
	full, err := p.fr.Schema()
	if err != nil {
		return nil
	}
	pos := -1
	for j, fi := range fields {
		if full.Field(fi).Name == c {
			pos = j
		}
	}
	if pos < 0 {
		return nil
	}
	mf := &p.fr.Manifest.Fields[fields[pos]]
	if !mf.IsLeaf() {
		return nil
	}
	leaf := mf.ColIndex
	if leaf < 0 || leaf >= md.Schema.NumColumns() {
		return nil
	}
	col := md.Schema.Column(leaf)
	if col.MaxRepetitionLevel() != 0 || col.MaxDefinitionLevel() > 1 || col.Path() != c {
		return nil
	}
	var typ arrow.DataType
	ft := full.Field(fields[pos]).Type
	int64s := false
	switch col.PhysicalType() {
	case parquet.Types.ByteArray:
		if d, ok := ft.(*arrow.DictionaryType); ok {
			ft = d.ValueType
		}
		switch ft.ID() {
		case arrow.STRING:
			typ = arrow.BinaryTypes.String
		case arrow.BINARY:
			typ = arrow.BinaryTypes.Binary
		default:
			return nil
		}
	case parquet.Types.Int64:
		// The types pqarrow hands over without a conversion (see its
		// transferColumnData): the values are the column's bits.
		switch t := ft.(type) {
		case *arrow.Int64Type:
			typ = t
		case *arrow.TimestampType:
			if t.Unit != arrow.Millisecond && t.Unit != arrow.Microsecond && t.Unit != arrow.Nanosecond {
				return nil
			}
			typ = t
		default:
			return nil
		}
		int64s = true
	default:
		return nil
	}
	for rg := 0; rg < p.pf.NumRowGroups(); rg++ {
		cc, err := md.RowGroup(rg).ColumnChunk(leaf)
		if err != nil || cc == nil || cc.CryptoMetadata() != nil {
			return nil
		}
	}
	u := &rawColumn{name: c, leaf: leaf, pos: pos, maxDef: col.MaxDefinitionLevel(), typ: typ, int64s: int64s}
	if !int64s {
		u.dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: typ}
	}
	return u
}

// start starts reading row group rg: page by page (see columnPages), or,
// if its page reader cannot be had, with the column chunk reader.
func (u *rawColumn) start(pf *file.Reader, rg int, mem memory.Allocator) error {
	u.finish()
	u.pf, u.rg, u.mem, u.rowsRead = pf, rg, mem, 0
	if pr, err := pf.RowGroup(rg).GetColumnPageReader(u.leaf); err == nil {
		u.pages = &columnPages{pr: pr, maxDef: u.maxDef, typ: u.typ, hashed: u.hashed, seed: u.seed, int64s: u.int64s,
			plainOnly: u.plainOnly, failAt: u.failAt}
		return nil
	}
	return u.openReader()
}

// openReader opens the current row group's column chunk reader.
func (u *rawColumn) openReader() error {
	cr, err := u.pf.RowGroup(u.rg).Column(u.leaf)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	switch cr.(type) {
	case *file.ByteArrayColumnChunkReader:
		if u.int64s {
			return fmt.Errorf("%w: not an INT64 column", ErrColumnType)
		}
	case *file.Int64ColumnChunkReader:
		if !u.int64s {
			return fmt.Errorf("%w: not a byte array column", ErrColumnType)
		}
	default:
		return fmt.Errorf("%w: neither a byte array nor an INT64 column", ErrColumnType)
	}
	u.cr = cr.(chunkReader)
	return nil
}

// fallBack hands the row group from its pages to the column chunk reader,
// past the rows read so far.
func (u *rawColumn) fallBack() error {
	u.pages.close()
	u.pages = nil
	u.stats.fallBacks++
	if err := u.openReader(); err != nil {
		return err
	}
	if u.rowsRead == 0 {
		return nil
	}
	skipped, err := u.cr.Skip(u.rowsRead)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if skipped != u.rowsRead {
		return fmt.Errorf("%w: the column holds fewer rows than its row group", ErrRowCount)
	}
	return nil
}

// finish closes the current row group's readers, if any.
func (u *rawColumn) finish() {
	if u.pages != nil {
		u.pages.close()
		u.pages = nil
	}
	if u.cr != nil {
		_ = u.cr.Close()
		u.cr = nil
	}
}

// atEnd reports an error if the row group's column holds more values
// than the rows read.
func (u *rawColumn) atEnd() error {
	if u.pages != nil {
		if u.pages.atEnd(u.mem) {
			return nil
		}
		if err := u.fallBack(); err != nil {
			return err
		}
	}
	if u.cr.HasNext() {
		return fmt.Errorf("%w: the column holds more rows than its row group", ErrRowCount)
	}
	if err := u.cr.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// read reads the next n rows of the column: from dictionary pages into a
// dictionary array (hashes nil), else into a string array and, for the
// user column, their hashes into a uint64 array; all in buffers of mem.
func (u *rawColumn) read(n int, mem memory.Allocator) (vals, hashes arrow.Array, err error) {
	if u.pages != nil {
		b, ok := u.pages.read(n, mem)
		if ok {
			u.rowsRead += int64(n)
			defer b.release()
			if u.int64s {
				u.stats.intBatches++
				d := array.NewData(u.typ, n, []*memory.Buffer{b.valid, b.valBuf}, nil, b.nulls, 0)
				defer d.Release()
				return array.MakeFromData(d), nil, nil
			}
			if b.plain {
				u.stats.plainBatches++
				b.dataBuf.ResizeNoShrink(len(b.data))
				d := array.NewData(u.typ, n, []*memory.Buffer{b.valid, b.offBuf, b.dataBuf}, nil, b.nulls, 0)
				defer d.Release()
				if u.hashed {
					h := array.NewData(arrow.PrimitiveTypes.Uint64, n, []*memory.Buffer{nil, b.hashBuf}, nil, 0, 0)
					defer h.Release()
					hashes = array.MakeFromData(h)
				}
				return array.MakeFromData(d), hashes, nil
			}
			u.stats.dictBatches++
			d := array.NewDataWithDictionary(u.dictType, n, []*memory.Buffer{b.valid, b.idxBuf}, b.nulls, 0, u.pages.dict.Data().(*array.Data))
			defer d.Release()
			return array.MakeFromData(d), nil, nil
		}
		if err := u.fallBack(); err != nil {
			return nil, nil, err
		}
	}
	u.rowsRead += int64(n)
	u.stats.readerBatches++
	if u.int64s {
		return u.readInt64Batch(n, mem)
	}
	return u.readBatch(n, mem)
}

// checkRead checks what a column chunk reader's ReadBatch returned when
// asked for want rows: lvls levels (rows), nv values, err.
func (u *rawColumn) checkRead(cr chunkReader, lvls int64, nv, want int, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if lvls <= 0 {
		if err := cr.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		return fmt.Errorf("%w: the column holds fewer rows than its row group", ErrRowCount)
	}
	if lvls > int64(want) || nv < 0 || nv > int(lvls) || (u.maxDef == 0 && nv != int(lvls)) {
		return fmt.Errorf("%w: a page returned more values than asked", ErrCorrupt)
	}
	return nil
}

// allValid returns a validity bitmap of n rows, all valid, in a buffer of
// mem.
func allValid(n int, mem memory.Allocator) *memory.Buffer {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(int(bitutil.BytesForBits(int64(n))))
	bits := buf.Bytes()
	for i := range bits {
		bits[i] = 0xff
	}
	return buf
}

// readInt64Batch is readBatch for an INT64 column.
func (u *rawColumn) readInt64Batch(n int, mem memory.Allocator) (vals, hashes arrow.Array, err error) {
	cr := u.cr.(*file.Int64ColumnChunkReader)
	valBuf := memory.NewResizableBuffer(mem)
	var validBuf *memory.Buffer
	defer func() {
		valBuf.Release()
		if validBuf != nil {
			validBuf.Release()
		}
	}()
	valBuf.Resize(8 * n)
	out := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(valBuf.Bytes()))), n)
	u.vals64 = resize(u.vals64, n)
	if u.maxDef > 0 {
		u.defs = resize(u.defs, n)
	}
	nulls := 0
	row := 0
	for row < n {
		var defs []int16
		if u.maxDef > 0 {
			defs = u.defs[:n-row]
		}
		lvls, nv, err := cr.ReadBatch(int64(n-row), u.vals64[:n-row], defs, nil)
		if err := u.checkRead(cr, lvls, nv, n-row, err); err != nil {
			return nil, nil, err
		}
		if u.maxDef == 0 {
			row += copy(out[row:], u.vals64[:nv])
			continue
		}
		j := 0
		for _, d := range defs[:lvls] {
			if d == u.maxDef {
				if j == nv {
					return nil, nil, fmt.Errorf("%w: the definition levels and values disagree", ErrCorrupt)
				}
				out[row] = u.vals64[j]
				j++
			} else {
				if validBuf == nil {
					validBuf = allValid(n, mem)
				}
				bitutil.ClearBit(validBuf.Bytes(), row)
				nulls++
				out[row] = 0
			}
			row++
		}
		if j != nv {
			return nil, nil, fmt.Errorf("%w: the definition levels and values disagree", ErrCorrupt)
		}
	}
	d := array.NewData(u.typ, n, []*memory.Buffer{validBuf, valBuf}, nil, nulls, 0)
	defer d.Release()
	return array.MakeFromData(d), nil, nil
}

// readBatch is read with the column chunk reader.
func (u *rawColumn) readBatch(n int, mem memory.Allocator) (vals, hashes arrow.Array, err error) {
	cr := u.cr.(*file.ByteArrayColumnChunkReader)
	offBuf := memory.NewResizableBuffer(mem)
	hashBuf := memory.NewResizableBuffer(mem)
	dataBuf := memory.NewResizableBuffer(mem)
	var validBuf *memory.Buffer
	defer func() {
		offBuf.Release()
		hashBuf.Release()
		dataBuf.Release()
		if validBuf != nil {
			validBuf.Release()
		}
	}()
	offBuf.Resize(4 * (n + 1))
	hashBuf.Resize(8 * n)
	offs := unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(offBuf.Bytes()))), n+1)
	hs := unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(hashBuf.Bytes()))), n)
	var valid []byte
	nulls := 0
	u.vals = resize(u.vals, n)
	if u.maxDef > 0 {
		u.defs = resize(u.defs, n)
	}
	data := []byte(nil) // dataBuf's bytes: appends stay within its length
	offs[0] = 0
	row := 0
	for row < n {
		var defs []int16
		if u.maxDef > 0 {
			defs = u.defs[:n-row]
		}
		lvls, nv, err := cr.ReadBatchInPage(int64(n-row), u.vals[:n-row], defs, nil)
		if err := u.checkRead(cr, lvls, nv, n-row, err); err != nil {
			return nil, nil, err
		}
		vals := u.vals[:nv]
		// The values alias the page (or its dictionary): copy them now.
		size := 0
		for _, v := range vals {
			size += len(v)
		}
		if int64(len(data))+int64(size) > math.MaxInt32 {
			return nil, nil, fmt.Errorf("%w: the values of one batch exceed 2 GiB", ErrBudget)
		}
		if len(data)+size > cap(data) {
			dataBuf.Reserve(max(2*cap(data), len(data)+size, 1024))
			b := dataBuf.Buf()
			data = b[:len(data):len(b)]
		}
		if u.maxDef == 0 {
			for _, v := range vals {
				data = append(data, v...)
				if u.hashed {
					hs[row] = maphash.Bytes(u.seed, v)
				}
				row++
				offs[row] = int32(len(data))
			}
			continue
		}
		j := 0
		for _, d := range defs[:lvls] {
			if d == u.maxDef {
				if j == nv {
					return nil, nil, fmt.Errorf("%w: the definition levels and values disagree", ErrCorrupt)
				}
				v := vals[j]
				j++
				data = append(data, v...)
				if u.hashed {
					hs[row] = maphash.Bytes(u.seed, v)
				}
			} else {
				if valid == nil {
					validBuf = allValid(n, mem)
					valid = validBuf.Bytes()
				}
				bitutil.ClearBit(valid, row)
				nulls++
				hs[row] = 0
			}
			row++
			offs[row] = int32(len(data))
		}
		if j != nv {
			return nil, nil, fmt.Errorf("%w: the definition levels and values disagree", ErrCorrupt)
		}
	}
	dataBuf.ResizeNoShrink(len(data))
	idData := array.NewData(u.typ, n, []*memory.Buffer{validBuf, offBuf, dataBuf}, nil, nulls, 0)
	defer idData.Release()
	if !u.hashed {
		return array.MakeFromData(idData), nil, nil
	}
	hData := array.NewData(arrow.PrimitiveTypes.Uint64, n, []*memory.Buffer{nil, hashBuf}, nil, 0, 0)
	defer hData.Release()
	return array.MakeFromData(idData), array.MakeFromData(hData), nil
}

// setRawColumns sets up the raw columns opt asks for (see rawColumn).
func (p *parquetSource) setRawColumns(opt ScanOptions, fields []int) {
	names := append([]string{opt.rawUser}, opt.rawColumns...)
	taken := make(map[string]bool)
	for i, c := range names {
		if c == "" || taken[c] {
			continue
		}
		u := p.rawColumnLeaf(c, fields)
		if u == nil {
			continue
		}
		taken[c] = true
		if i == 0 {
			u.hashed, u.seed, u.plainOnly = true, opt.userSeed, opt.rawUserPlain
			p.user = u
		}
		p.raws = append(p.raws, u)
	}
	if len(p.raws) == 0 {
		return
	}
	slices.SortFunc(p.raws, func(a, b *rawColumn) int { return a.pos - b.pos })
	fs := p.schema.Fields()
	for _, u := range p.raws {
		fs[u.pos].Type = u.typ
	}
	md := p.schema.Metadata()
	p.schema = arrow.NewSchema(fs, &md)
	p.readLeaves = make([]int, 0, len(p.leaves)-len(p.raws))
	for _, l := range p.leaves {
		if !slices.ContainsFunc(p.raws, func(u *rawColumn) bool { return u.leaf == l }) {
			p.readLeaves = append(p.readLeaves, l)
		}
	}
}

// withRaw reads the next n rows of the raw columns and returns them with
// rec's columns (the projection less the raw columns; nil when every
// column is raw) in the projection's order; the user column's hashes, if
// any, go last.
func (p *parquetSource) withRaw(rec arrow.RecordBatch, n int) (arrow.RecordBatch, error) {
	fields := p.schema.Fields()
	ncols := 0
	if rec != nil {
		ncols = int(rec.NumCols())
	}
	if ncols+len(p.raws) != len(fields) {
		return nil, fmt.Errorf("%w: a record batch and the schema have different numbers of columns", ErrCorrupt)
	}
	cols := make([]arrow.Array, 0, len(fields)+1)
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	var hashes arrow.Array
	userDict := false
	next, r := 0, 0
	for j := range fields {
		if r < len(p.raws) && p.raws[r].pos == j {
			u := p.raws[r]
			r++
			vals, hs, err := u.read(n, p.mem)
			if err != nil {
				return nil, &InputError{Column: u.name, RowGroup: -1, Err: err}
			}
			cols = append(cols, vals)
			fields[j].Type = vals.DataType()
			if u == p.user {
				hashes = hs
				_, userDict = vals.(*array.Dictionary)
			}
			continue
		}
		c := rec.Column(next)
		next++
		c.Retain()
		cols = append(cols, c)
	}
	md := p.schema.Metadata()
	if hashes != nil {
		cols = append(cols, hashes)
		fields = append(fields, arrow.Field{Name: userHashField, Type: arrow.PrimitiveTypes.Uint64})
	}
	if userDict {
		md = arrow.NewMetadata(append(md.Keys(), rawDictKey), append(md.Values(), ""))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, &md), cols, int64(n)), nil
}

// userHashes returns the hash column of a record read with a raw user
// column, or nil.
func userHashes(rec arrow.RecordBatch, ncols int) []uint64 {
	if int(rec.NumCols()) != ncols+1 || rec.Schema().Field(ncols).Name != userHashField {
		return nil
	}
	h, ok := rec.Column(ncols).(*array.Uint64)
	if !ok || h.Len() != int(rec.NumRows()) {
		return nil
	}
	return h.Uint64Values()
}
