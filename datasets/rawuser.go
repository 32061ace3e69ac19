package datasets

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
)

// User ids read beside pqarrow. pqarrow reads a dictionary-encoded string
// column as an arrow dictionary by hashing every dictionary entry of every
// row group into a memo table of its own, and as a plain string column by
// copying every value through a builder; either way the reader then hashes
// the ids again to intern them. A user column read this way instead goes
// through arrow-go's column chunk reader (file.ByteArrayColumnChunkReader),
// in lockstep with the pqarrow batches of the other columns: the values of
// a dictionary page come as slices of the dictionary, those of a plain page
// as slices of the page buffer, and each is copied at once into the batch's
// own string array, with its hash under the UserIndex's seed beside it. The
// decoding goroutine does that work; the goroutine that interns users only
// probes the user table (UserIndex.internHashed). Identity comes only from
// the bytes: nothing is inferred from where a slice points.

// userHashField is the name of the extra last column of a record whose
// user column was read raw: row i's hash of its user id under the seed
// ScanOptions.userSeed (0 for null).
const userHashField = "\x00dpstats.user_hash"

// rawDictKey is a schema metadata key of the records whose user column was
// read from dictionary pages (see userPages): it tells them from
// pqarrow's dictionary reads in tests.
const rawDictKey = "\x00dpstats.raw_user_dict"

// rawUser reads one top-level, flat byte-array column of a Parquet file
// with the column chunk reader.
type rawUser struct {
	leaf   int            // the column's leaf index
	pos    int            // its position among the projected fields
	maxDef int16          // 0: required; 1: optional
	typ    arrow.DataType // arrow.BinaryTypes.String or .Binary
	seed   maphash.Seed
	schema *arrow.Schema // the projection and the hash column
	// dictSchema is the projection with the user column as a dictionary
	// of dictType, for batches read from dictionary pages (see userPages).
	dictSchema *arrow.Schema
	dictType   *arrow.DictionaryType
	cr         *file.ByteArrayColumnChunkReader
	vals       []parquet.ByteArray
	defs       []int16

	// The current row group: its pages (nil once or unless handed to cr),
	// and the rows of it read so far.
	pf       *file.Reader
	rg       int
	mem      memory.Allocator
	pages    *userPages
	rowsRead int64
	// stats counts batches by how they were read, for tests.
	stats rawUserStats
	// failAt is userPages.failAt for every row group (tests).
	failAt int
}

// rawUserStats counts a raw user column's batches by how they were read:
// from pages as a dictionary array, from pages as plain ids, or by the
// column chunk reader; and the row groups handed from pages to the column
// chunk reader.
type rawUserStats struct {
	dictBatches, plainBatches, readerBatches, fallBacks int
}

// rawUserLeaf returns the raw reader of column c, or nil if c must take
// pqarrow's path: c must be a top-level field of the projection that is a
// leaf of physical type BYTE_ARRAY, read by arrow as string or binary,
// neither repeated nor nested, unencrypted in every row group, and some
// other column must be projected too (the batches' row counts come from
// pqarrow's reader).
func (p *parquetSource) rawUserLeaf(c string, fields []int, seed maphash.Seed) *rawUser {
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
	if pos < 0 || len(fields) < 2 {
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
	if col.PhysicalType() != parquet.Types.ByteArray || col.MaxRepetitionLevel() != 0 ||
		col.MaxDefinitionLevel() > 1 || col.Path() != c {
		return nil
	}
	var typ arrow.DataType
	ft := full.Field(fields[pos]).Type
	if d, ok := ft.(*arrow.DictionaryType); ok { // ScanOptions.DictColumns
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
	for rg := 0; rg < p.pf.NumRowGroups(); rg++ {
		cc, err := md.RowGroup(rg).ColumnChunk(leaf)
		if err != nil || cc == nil || cc.CryptoMetadata() != nil {
			return nil
		}
	}
	proj := projectSchema(full, fields)
	md2 := proj.Metadata()
	dmd := arrow.NewMetadata(append(md2.Keys(), rawDictKey), append(md2.Values(), ""))
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: typ}
	dfs := proj.Fields()
	dfs[pos].Type = dictType
	fs := proj.Fields()
	fs[pos].Type = typ
	fs = append(fs, arrow.Field{Name: userHashField, Type: arrow.PrimitiveTypes.Uint64})
	return &rawUser{leaf: leaf, pos: pos, maxDef: col.MaxDefinitionLevel(), typ: typ, seed: seed,
		schema: arrow.NewSchema(fs, &md2), dictSchema: arrow.NewSchema(dfs, &dmd), dictType: dictType}
}

// start starts reading row group rg: page by page (see userPages), or,
// if its page reader cannot be had, with the column chunk reader.
func (u *rawUser) start(pf *file.Reader, rg int, mem memory.Allocator) error {
	u.finish()
	u.pf, u.rg, u.mem, u.rowsRead = pf, rg, mem, 0
	if pr, err := pf.RowGroup(rg).GetColumnPageReader(u.leaf); err == nil {
		u.pages = &userPages{pr: pr, maxDef: u.maxDef, typ: u.typ, seed: u.seed, failAt: u.failAt}
		return nil
	}
	return u.openReader()
}

// openReader opens the current row group's column chunk reader.
func (u *rawUser) openReader() error {
	cr, err := u.pf.RowGroup(u.rg).Column(u.leaf)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	bcr, ok := cr.(*file.ByteArrayColumnChunkReader)
	if !ok {
		return fmt.Errorf("%w: the user column is not a byte array column", ErrColumnType)
	}
	u.cr = bcr
	return nil
}

// fallBack hands the row group from its pages to the column chunk reader,
// past the rows read so far.
func (u *rawUser) fallBack() error {
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
		return fmt.Errorf("%w: the user column holds fewer rows than its row group", ErrRowCount)
	}
	return nil
}

// finish closes the current row group's readers, if any.
func (u *rawUser) finish() {
	if u.pages != nil {
		u.pages.close()
		u.pages = nil
	}
	if u.cr != nil {
		_ = u.cr.Close()
		u.cr = nil
	}
}

// atEnd reports an error if the row group's user column holds more values
// than the rows read.
func (u *rawUser) atEnd() error {
	if u.pages != nil {
		if u.pages.atEnd(u.mem) {
			return nil
		}
		if err := u.fallBack(); err != nil {
			return err
		}
	}
	if u.cr.HasNext() {
		return fmt.Errorf("%w: the user column holds more rows than its row group", ErrRowCount)
	}
	if err := u.cr.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

// read reads the next n rows of the user column: from dictionary pages
// into a dictionary array (hashes nil), else into a string array and
// their hashes into a uint64 array; all in buffers of mem.
func (u *rawUser) read(n int, mem memory.Allocator) (ids, hashes arrow.Array, err error) {
	if u.pages != nil {
		b, ok := u.pages.read(n, mem)
		if ok {
			u.rowsRead += int64(n)
			defer b.release()
			if b.plain {
				u.stats.plainBatches++
				b.dataBuf.ResizeNoShrink(len(b.data))
				idData := array.NewData(u.typ, n, []*memory.Buffer{b.valid, b.offBuf, b.dataBuf}, nil, b.nulls, 0)
				defer idData.Release()
				hData := array.NewData(arrow.PrimitiveTypes.Uint64, n, []*memory.Buffer{nil, b.hashBuf}, nil, 0, 0)
				defer hData.Release()
				return array.MakeFromData(idData), array.MakeFromData(hData), nil
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
	return u.readBatch(n, mem)
}

// readBatch is read with the column chunk reader.
func (u *rawUser) readBatch(n int, mem memory.Allocator) (ids, hashes arrow.Array, err error) {
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
		lvls, nv, err := u.cr.ReadBatchInPage(int64(n-row), u.vals[:n-row], defs, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		if lvls <= 0 {
			if err := u.cr.Err(); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return nil, nil, fmt.Errorf("%w: the user column holds fewer rows than its row group", ErrRowCount)
		}
		if lvls > int64(n-row) || nv < 0 || nv > int(lvls) || (u.maxDef == 0 && nv != int(lvls)) {
			return nil, nil, fmt.Errorf("%w: the user column's page returned more values than asked", ErrCorrupt)
		}
		vals := u.vals[:nv]
		// The values alias the page (or its dictionary): copy them now.
		size := 0
		for _, v := range vals {
			size += len(v)
		}
		if int64(len(data))+int64(size) > math.MaxInt32 {
			return nil, nil, fmt.Errorf("%w: the user ids of one batch exceed 2 GiB", ErrBudget)
		}
		if len(data)+size > cap(data) {
			dataBuf.Reserve(max(2*cap(data), len(data)+size, 1024))
			b := dataBuf.Buf()
			data = b[:len(data):len(b)]
		}
		if u.maxDef == 0 {
			for _, v := range vals {
				data = append(data, v...)
				hs[row] = maphash.Bytes(u.seed, v)
				row++
				offs[row] = int32(len(data))
			}
			continue
		}
		j := 0
		for _, d := range defs[:lvls] {
			if d == u.maxDef {
				if j == nv {
					return nil, nil, fmt.Errorf("%w: the user column's definition levels and values disagree", ErrCorrupt)
				}
				v := vals[j]
				j++
				data = append(data, v...)
				hs[row] = maphash.Bytes(u.seed, v)
			} else {
				if valid == nil {
					validBuf = memory.NewResizableBuffer(mem)
					validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
					valid = validBuf.Bytes()
					for i := range valid {
						valid[i] = 0xff
					}
				}
				bitutil.ClearBit(valid, row)
				nulls++
				hs[row] = 0
			}
			row++
			offs[row] = int32(len(data))
		}
		if j != nv {
			return nil, nil, fmt.Errorf("%w: the user column's definition levels and values disagree", ErrCorrupt)
		}
	}
	dataBuf.ResizeNoShrink(len(data))
	idData := array.NewData(u.typ, n, []*memory.Buffer{validBuf, offBuf, dataBuf}, nil, nulls, 0)
	defer idData.Release()
	hData := array.NewData(arrow.PrimitiveTypes.Uint64, n, []*memory.Buffer{nil, hashBuf}, nil, 0, 0)
	defer hData.Release()
	return array.MakeFromData(idData), array.MakeFromData(hData), nil
}

// withUsers returns rec (whose columns are the projection less the user
// column) with ids inserted at the user column's position and hashes, if
// any, as the last column.
func (u *rawUser) withUsers(rec arrow.RecordBatch, ids, hashes arrow.Array) (arrow.RecordBatch, error) {
	if int(rec.NumCols())+2 != len(u.schema.Fields()) {
		return nil, errors.New("a record batch and the schema have different numbers of columns")
	}
	cols := make([]arrow.Array, 0, rec.NumCols()+2)
	cols = append(cols, rec.Columns()[:u.pos]...)
	cols = append(cols, ids)
	cols = append(cols, rec.Columns()[u.pos:]...)
	if hashes == nil {
		return array.NewRecordBatch(u.dictSchema, cols, rec.NumRows()), nil
	}
	cols = append(cols, hashes)
	return array.NewRecordBatch(u.schema, cols, rec.NumRows()), nil
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
