package datasets

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Defaults for ScanOptions.
const (
	DefaultBatchSize     = 64 << 10 // rows per record batch
	DefaultMemoryLimit   = 1 << 30  // bytes held through the Arrow allocator per file
	DefaultMaxAllocation = 256 << 20
)

// ScanOptions says what to read from a file. The zero value reads every
// top-level column in batches of DefaultBatchSize rows.
type ScanOptions struct {
	// Columns are the top-level columns to read, in the order the records
	// should hold them. Optional: nil reads all columns; an empty non-nil
	// slice reads none (records then carry only a row count). A name that
	// is not in the file is an *InputError wrapping ErrColumnMissing.
	Columns []string
	// BatchSize is the number of rows per record batch. Optional, default
	// DefaultBatchSize. Arrow IPC inputs keep the batches the writer chose.
	BatchSize int
	// MemoryLimit caps the bytes held at once through the Arrow allocator
	// while reading this file. Optional, default DefaultMemoryLimit.
	MemoryLimit int64
	// MaxAllocation caps one single allocation (a forged length in a
	// malformed file asks for GiBs at once). Optional, default DefaultMaxAllocation.
	MaxAllocation int64
	// DictColumns are columns of Columns that Parquet inputs should hand
	// over dictionary-encoded (arrow dictionary arrays) when they are string
	// or binary leaves: the pages' dictionary is decoded once, rows are
	// indices into it, and a consumer can map each distinct value once.
	// Optional; other formats and other column types ignore it.
	DictColumns []string
	// rawUser, if set, is a column of Columns that Parquet inputs read
	// page by page when it is a flat string, binary or int64 leaf (see
	// rawColumn), even if DictColumns names it: records then carry a
	// string one as a dictionary array (rows of dictionary pages) or as a
	// string (or binary) array and, as an extra last column, each row's
	// hash under userSeed (see userHashes).
	rawUser  string
	userSeed maphash.Seed
	// rawUserPlain hands the rows of the user column's dictionary pages
	// over as plain ids with hashes too: for exports whose ids are nearly
	// all distinct (consent), where a dictionary saves no interning and
	// the hashes are best computed on the decoder.
	rawUserPlain bool
	// rawColumns are columns of Columns read the same way, without hashes:
	// byte-array ones as dictionary arrays where their pages are
	// dictionary-encoded, INT64 ones (as int64 or timestamps) as values.
	rawColumns []string
	// pool, if set, recycles the large buffers of the records once they
	// are released (see bufPool); several Scanners may share one.
	pool *bufPool
}

func (o ScanOptions) withDefaults() ScanOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MemoryLimit <= 0 {
		o.MemoryLimit = DefaultMemoryLimit
	}
	if o.MaxAllocation <= 0 {
		o.MaxAllocation = DefaultMaxAllocation
	}
	if o.MaxAllocation > o.MemoryLimit {
		o.MaxAllocation = o.MemoryLimit
	}
	return o
}

// Scanner reads one input file record batch by record batch, in the manner
// of bufio.Scanner:
//
//	s, err := datasets.Open(path, datasets.ScanOptions{Columns: cols})
//	if err != nil { ... }
//	defer s.Close()
//	for s.Scan() {
//		rec := s.Record() // valid until the next Scan
//		...
//	}
//	if err := s.Err(); err != nil { ... } // an *InputError
//
// A Scanner never panics on malformed input: panics inside arrow-go are
// recovered and reported as an *InputError wrapping ErrCorrupt. For Parquet
// it checks, per row group and for the file, that the rows read equal the
// row counts in the footer. A Scanner is not safe for concurrent use.
type Scanner struct {
	name   string
	format Format
	opt    ScanOptions
	mem    *budgetAllocator
	schema *arrow.Schema
	closer io.Closer

	cur  arrow.RecordBatch
	err  error
	done bool

	// read statistics, for Inspect
	rows    int64
	batches int

	src batchSource
}

// batchSource is one format's reader. next returns a record the caller
// owns, or (nil, nil) at the end. rowGroup reports the current Parquet row
// group for error messages (-1 if not applicable).
type batchSource interface {
	next() (arrow.RecordBatch, error)
	rowGroup() int
	close()
}

// Open opens the file at path, detects its format from its content and
// prepares to read the columns in opt. Errors about the file's content are
// *InputError; a missing file wraps ErrInputMissing.
func Open(path string, opt ScanOptions) (*Scanner, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{File: path, RowGroup: -1, Err: fileErr(err)}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &InputError{File: path, RowGroup: -1, Err: err}
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &InputError{File: path, RowGroup: -1, Err: errors.New("not a regular file")}
	}
	s, err := OpenReaderAt(path, f, st.Size(), opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.closer = f
	return s, nil
}

// OpenReaderAt is Open for data that is not a file on disk (for example an
// embedded sample: bytes.NewReader). name is used in errors only. r must
// stay readable until Close; it is not closed by Close.
func OpenReaderAt(name string, r io.ReaderAt, size int64, opt ScanOptions) (s *Scanner, err error) {
	opt = opt.withDefaults()
	s = &Scanner{name: name, opt: opt, mem: newBudgetAllocator(opt.MemoryLimit, opt.MaxAllocation)}
	s.mem.pool = opt.pool
	defer func() {
		if p := recover(); p != nil {
			if s.src != nil {
				s.closeSrc()
			}
			s, err = nil, &InputError{File: name, RowGroup: -1, Err: panicErr(p)}
		}
	}()
	if size < 0 {
		return nil, &InputError{File: name, RowGroup: -1, Err: fmt.Errorf("%w: negative size", ErrCorrupt)}
	}
	s.format, err = detectFormat(r, size)
	if err != nil {
		return nil, &InputError{File: name, RowGroup: -1, Err: err}
	}
	switch s.format {
	case FormatParquet:
		s.src, s.schema, err = openParquet(name, r, size, opt, s.mem)
	case FormatArrowFile:
		s.src, s.schema, err = openArrowFile(name, r, size, opt, s.mem)
	case FormatArrowStream:
		s.src, s.schema, err = openArrowStream(name, r, size, opt, s.mem)
	}
	if err != nil {
		return nil, inputErr(name, "", -1, s.mem.explain(err))
	}
	return s, nil
}

// Scan advances to the next record batch. It returns false at the end of
// the file or on an error; Err tells which.
func (s *Scanner) Scan() (ok bool) {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if s.done || s.err != nil {
		return false
	}
	defer func() {
		if p := recover(); p != nil {
			s.err = &InputError{File: s.name, RowGroup: s.src.rowGroup(), Err: panicErr(p)}
			s.closeSrc()
			ok = false
		}
	}()
	rec, err := s.src.next()
	if err != nil {
		s.err = inputErr(s.name, "", s.src.rowGroup(), s.mem.explain(err))
		s.closeSrc()
		return false
	}
	if rec == nil {
		s.done = true
		return false
	}
	s.cur = rec
	s.rows += rec.NumRows()
	s.batches++
	return true
}

// Record returns the current record batch. It is valid until the next call
// to Scan or Close; call Retain to keep it longer.
func (s *Scanner) Record() arrow.RecordBatch { return s.cur }

// Err returns the first error met by Scan (an *InputError), or nil at a
// clean end of file.
func (s *Scanner) Err() error { return s.err }

// Schema is the schema of the records Scan returns: the projected columns.
func (s *Scanner) Schema() *arrow.Schema { return s.schema }

// footerRows is the row count a Parquet footer declares (checked against
// the row groups'), or -1 for other formats.
func (s *Scanner) footerRows() int64 {
	if p, ok := s.src.(*parquetSource); ok {
		return p.footRows
	}
	return -1
}

// Format is the detected format of the file.
func (s *Scanner) Format() Format { return s.format }

// Name is the file name used in errors.
func (s *Scanner) Name() string { return s.name }

// Close releases the current record and the file. It is safe to call more
// than once.
func (s *Scanner) Close() error {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	s.done = true
	s.closeSrc()
	if s.closer != nil {
		err := s.closer.Close()
		s.closer = nil
		if err != nil {
			return fmt.Errorf("close %s: %w", s.name, err)
		}
	}
	return nil
}

func (s *Scanner) closeSrc() {
	if s.src == nil {
		return
	}
	func() {
		defer func() { _ = recover() }() // releasing a half-built reader may panic
		s.src.close()
	}()
}

// panicErr turns a recovered panic value into an error wrapping ErrCorrupt
// (or ErrBudget when the allocator refused).
func panicErr(p any) error {
	if err, ok := p.(error); ok {
		if errors.Is(err, ErrBudget) {
			return err
		}
		return fmt.Errorf("%w: reader panicked: %v", ErrCorrupt, err)
	}
	return fmt.Errorf("%w: reader panicked: %v", ErrCorrupt, p)
}

// resolveColumns maps requested names to top-level field indices of sc.
func resolveColumns(sc *arrow.Schema, cols []string) ([]int, error) {
	if cols == nil {
		idx := make([]int, sc.NumFields())
		for i := range idx {
			idx[i] = i
		}
		return idx, nil
	}
	idx := make([]int, 0, len(cols))
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if seen[c] {
			continue
		}
		seen[c] = true
		is := sc.FieldIndices(c)
		if len(is) == 0 {
			return nil, &InputError{Column: c, RowGroup: -1, Err: ErrColumnMissing}
		}
		idx = append(idx, is[0])
	}
	return idx, nil
}

// projectSchema returns the schema holding fields idx of sc.
func projectSchema(sc *arrow.Schema, idx []int) *arrow.Schema {
	fields := make([]arrow.Field, len(idx))
	for i, j := range idx {
		fields[i] = sc.Field(j)
	}
	md := sc.Metadata()
	return arrow.NewSchema(fields, &md)
}

// ---------------------------------------------------------------------------
// Parquet

type parquetSource struct {
	name     string
	size     int64
	pf       *file.Reader
	fr       *pqarrow.FileReader
	leaves   []int
	schema   *arrow.Schema
	batch    int64
	rg       int
	rr       pqarrow.RecordReader
	rgRows   int64 // footer rows of the current row group
	rgRead   int64
	inRG     bool // a row group is being read
	total    int64
	footRows int64
	// raws read columns beside rr (which reads readLeaves, the leaves
	// less theirs), in the order of their positions in the projection;
	// user is the one of them that is ScanOptions.rawUser, if any. See
	// rawColumn.
	raws       []*rawColumn
	user       *rawColumn
	readLeaves []int
	mem        memory.Allocator
	// stride > 1: read only the row groups rg with rg % stride == offset
	// (see splitRowGroups); want is the footer rows of those.
	stride, offset int
	want           int64
}

func openParquet(name string, r io.ReaderAt, size int64, opt ScanOptions, mem *budgetAllocator) (batchSource, *arrow.Schema, error) {
	props := parquet.NewReaderProperties(mem)
	// Stream column chunks through a buffer instead of reading each whole
	// chunk into memory: bounded memory whatever the footer claims.
	props.BufferedStreamEnabled = true
	props.BufferSize = 1 << 20
	pf, err := file.NewParquetReader(io.NewSectionReader(r, 0, size), file.WithReadProps(props))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: read parquet footer: %w", ErrCorrupt, err)
	}
	src := &parquetSource{name: name, size: size, pf: pf, rg: -1, batch: int64(opt.BatchSize), mem: mem}
	if err := src.checkFooter(); err != nil {
		pf.Close()
		return nil, nil, err
	}
	arrowProps := pqarrow.ArrowReadProperties{
		// Parallel must stay false: arrow-go's parallel paths decode in
		// goroutines of their own, where a panic on malformed input cannot
		// be recovered and kills the process.
		Parallel:  false,
		BatchSize: int64(opt.BatchSize),
	}
	for _, c := range opt.DictColumns {
		if i, ok := src.dictionaryLeaf(c); ok {
			arrowProps.SetReadDict(i, true)
		}
	}
	if err := checkStoredArrowSchema(pf.MetaData().KeyValueMetadata()); err != nil {
		pf.Close()
		return nil, nil, err
	}
	fr, err := pqarrow.NewFileReader(pf, arrowProps, mem)
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("%w: parquet schema: %w", ErrCorrupt, err)
	}
	src.fr = fr
	full, err := fr.Schema()
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("%w: parquet schema: %w", ErrCorrupt, err)
	}
	fields, err := resolveColumns(full, opt.Columns)
	if err != nil {
		pf.Close()
		return nil, nil, err
	}
	if len(fr.Manifest.Fields) != full.NumFields() {
		pf.Close()
		return nil, nil, fmt.Errorf("%w: the parquet schema and its manifest have different numbers of fields", ErrCorrupt)
	}
	for _, fi := range fields {
		n := len(src.leaves)
		src.leaves = appendLeaves(src.leaves, &fr.Manifest.Fields[fi])
		if len(src.leaves) == n {
			pf.Close()
			return nil, nil, &InputError{Column: full.Field(fi).Name, RowGroup: -1, Err: fmt.Errorf("%w: column has no data (empty group)", ErrColumnType)}
		}
	}
	src.schema = projectSchema(full, fields)
	src.readLeaves = src.leaves
	src.setRawColumns(opt, fields)
	return src, src.schema, nil
}

func appendLeaves(dst []int, f *pqarrow.SchemaField) []int {
	if f.IsLeaf() {
		return append(dst, f.ColIndex)
	}
	for i := range f.Children {
		dst = appendLeaves(dst, &f.Children[i])
	}
	return dst
}

// checkFooter validates the footer's counts and offsets before anything
// trusts them.
func (p *parquetSource) checkFooter() error {
	md := p.pf.MetaData()
	if md == nil {
		return fmt.Errorf("%w: no parquet metadata", ErrCorrupt)
	}
	p.footRows = p.pf.NumRows()
	p.want = p.footRows
	if p.footRows < 0 {
		return fmt.Errorf("%w: the footer's row count is negative", ErrCorrupt)
	}
	var sum int64
	for i := 0; i < p.pf.NumRowGroups(); i++ {
		n := md.RowGroups[i].GetNumRows()
		if n < 0 {
			return &InputError{RowGroup: i, Err: fmt.Errorf("%w: the footer's row count is negative", ErrCorrupt)}
		}
		sum += n
		if sum < 0 {
			return fmt.Errorf("%w: footer row counts overflow", ErrCorrupt)
		}
	}
	if sum != p.footRows {
		return fmt.Errorf("%w: the footer's row count differs from the sum of its row groups' (dpstats inspect shows the counts)", ErrRowCount)
	}
	return nil
}

// checkRowGroup validates row group rg's column chunks on the caller's
// goroutine, so that a malformed chunk fails here (where a panic can be
// recovered) and not inside the reader goroutines arrow-go starts for
// struct columns.
func (p *parquetSource) checkRowGroup(rg int) error {
	rgr := p.pf.RowGroup(rg)
	md := rgr.MetaData()
	if md.NumColumns() != p.pf.MetaData().Schema.NumColumns() {
		return fmt.Errorf("%w: the row group and the schema have different numbers of columns", ErrCorrupt)
	}
	for _, leaf := range p.leaves {
		cc, err := md.ColumnChunk(leaf)
		if err != nil {
			return &InputError{Column: p.leafName(leaf), RowGroup: rg, Err: fmt.Errorf("%w: column chunk metadata: %w", ErrCorrupt, err)}
		}
		if cc == nil {
			return &InputError{Column: p.leafName(leaf), RowGroup: rg, Err: fmt.Errorf("%w: no column chunk metadata", ErrCorrupt)}
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
			start = cc.DictionaryPageOffset()
		}
		n := cc.TotalCompressedSize()
		if start < 0 || n < 0 || start > p.size || n > p.size-start+maxDictHeaderPad {
			return &InputError{Column: p.leafName(leaf), RowGroup: rg, Err: fmt.Errorf("%w: a column chunk lies outside the file (truncated?)", ErrCorrupt)}
		}
		if cc.NumValues() < 0 {
			return &InputError{Column: p.leafName(leaf), RowGroup: rg, Err: fmt.Errorf("%w: negative value count", ErrCorrupt)}
		}
		pr, err := rgr.GetColumnPageReader(leaf)
		if err != nil {
			return &InputError{Column: p.leafName(leaf), RowGroup: rg, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
		}
		_ = pr.Close()
	}
	return nil
}

// maxDictHeaderPad: arrow-go pads old parquet-mr chunks by up to 100 bytes
// (PARQUET-816); the check above allows the same.
const maxDictHeaderPad = 100

func (p *parquetSource) leafName(leaf int) string {
	sc := p.pf.MetaData().Schema
	if leaf < 0 || leaf >= sc.NumColumns() {
		return fmt.Sprintf("#%d", leaf)
	}
	return sc.Column(leaf).Path()
}

func (p *parquetSource) rowGroup() int { return p.rg }

func (p *parquetSource) next() (arrow.RecordBatch, error) {
	for {
		if !p.inRG {
			p.total += p.rgRead
			p.rgRead, p.rgRows = 0, 0
			if p.stride > 1 && p.rg+1 < p.pf.NumRowGroups() && (p.rg+1)%p.stride != p.offset {
				p.rg++ // another reader's row group
				continue
			}
			if p.rg+1 >= p.pf.NumRowGroups() {
				p.rg = -1
				if p.total != p.want {
					return nil, fmt.Errorf("%w: the rows read differ from the footer's row count", ErrRowCount)
				}
				p.rg = p.pf.NumRowGroups() // stay at end
				p.rgRows, p.rgRead = 0, 0
				return nil, nil
			}
			p.rg++
			p.rgRows = p.pf.MetaData().RowGroups[p.rg].GetNumRows()
			if p.rgRows == 0 {
				continue
			}
			if len(p.leaves) > 0 {
				if err := p.checkRowGroup(p.rg); err != nil {
					return nil, err
				}
				if len(p.readLeaves) > 0 {
					rr, err := p.fr.GetRecordReader(context.Background(), p.readLeaves, []int{p.rg})
					if err != nil {
						return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
					}
					p.rr = rr
				}
				for _, u := range p.raws {
					if err := u.start(p.pf, p.rg, p.mem); err != nil {
						return nil, &InputError{Column: u.name, RowGroup: -1, Err: err}
					}
				}
			}
			p.inRG = true
		}
		if len(p.leaves) == 0 {
			if p.rgRead == p.rgRows {
				p.inRG = false
				continue
			}
			n := min(p.batch, p.rgRows-p.rgRead)
			p.rgRead += n
			return array.NewRecordBatch(p.schema, nil, n), nil
		}
		if len(p.readLeaves) == 0 && p.rgRead < p.rgRows {
			// Every column is read raw: the batches are cut here.
			n := min(p.batch, p.rgRows-p.rgRead)
			p.rgRead += n
			return p.withRaw(nil, int(n))
		}
		if p.rr != nil {
			if p.rr.Next() {
				rec := p.rr.RecordBatch()
				n := rec.NumRows()
				if n > p.rgRows-p.rgRead {
					return nil, fmt.Errorf("%w: the row group holds more rows than its footer says", ErrRowCount)
				}
				if n == 0 {
					continue
				}
				p.rgRead += n
				if len(p.raws) > 0 {
					return p.withRaw(rec, int(n))
				}
				rec.Retain()
				out := array.NewRecordBatch(p.schema, rec.Columns(), n)
				rec.Release()
				return out, nil
			}
			err := p.rr.Err()
			p.rr.Release()
			p.rr = nil
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
		}
		if p.rgRead != p.rgRows {
			return nil, fmt.Errorf("%w: the rows read differ from the row group's row count in the footer", ErrRowCount)
		}
		for _, u := range p.raws {
			if err := u.atEnd(); err != nil {
				return nil, &InputError{Column: u.name, RowGroup: -1, Err: err}
			}
			u.finish()
		}
		p.inRG = false
	}
}

func (p *parquetSource) close() {
	for _, u := range p.raws {
		u.finish()
	}
	if p.rr != nil {
		p.rr.Release()
		p.rr = nil
	}
	if p.pf != nil {
		_ = p.pf.Close()
		p.pf = nil
	}
}

// ---------------------------------------------------------------------------
// Arrow IPC

type arrowFileSource struct {
	rdr    *ipc.FileReader
	fields []int
	schema *arrow.Schema
	i      int
}

func openArrowFile(name string, r io.ReaderAt, size int64, opt ScanOptions, mem *budgetAllocator) (batchSource, *arrow.Schema, error) {
	if err := checkArrowFileFooter(r, size); err != nil {
		return nil, nil, err
	}
	rdr, err := ipc.NewFileReader(io.NewSectionReader(r, 0, size),
		ipc.WithAllocator(mem), ipc.WithMetadataSizeLimit(size), ipc.WithBodySizeLimit(size))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	fields, err := resolveColumns(rdr.Schema(), opt.Columns)
	if err != nil {
		rdr.Close()
		return nil, nil, err
	}
	src := &arrowFileSource{rdr: rdr, fields: fields, schema: projectSchema(rdr.Schema(), fields)}
	return src, src.schema, nil
}

func (a *arrowFileSource) rowGroup() int { return -1 }

func (a *arrowFileSource) next() (arrow.RecordBatch, error) {
	if a.i >= a.rdr.NumRecords() {
		return nil, nil
	}
	rec, err := a.rdr.RecordBatchAt(a.i)
	if err != nil {
		return nil, fmt.Errorf("%w: record batch: %w", ErrCorrupt, err)
	}
	a.i++
	defer rec.Release()
	return projectRecord(rec, a.schema, a.fields)
}

func (a *arrowFileSource) close() { _ = a.rdr.Close() }

type arrowStreamSource struct {
	rdr    *ipc.Reader
	fields []int
	schema *arrow.Schema
	i      int
}

func openArrowStream(name string, r io.ReaderAt, size int64, opt ScanOptions, mem *budgetAllocator) (batchSource, *arrow.Schema, error) {
	// ipc.NewReader does not apply size limits to messages (v18.8.0): a
	// forged metadata length makes it allocate up to 2 GiB with make().
	// A message reader built with limits (nothing can be larger than the
	// file) refuses those before allocating.
	if err := checkArrowStreamSchema(r, size); err != nil {
		return nil, nil, err
	}
	limits := []ipc.Option{ipc.WithAllocator(mem), ipc.WithMetadataSizeLimit(size), ipc.WithBodySizeLimit(size)}
	mr := ipc.NewMessageReader(io.NewSectionReader(r, 0, size), limits...)
	rdr, err := ipc.NewReaderFromMessageReader(mr, ipc.WithAllocator(mem))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	fields, err := resolveColumns(rdr.Schema(), opt.Columns)
	if err != nil {
		rdr.Release()
		return nil, nil, err
	}
	src := &arrowStreamSource{rdr: rdr, fields: fields, schema: projectSchema(rdr.Schema(), fields)}
	return src, src.schema, nil
}

func (a *arrowStreamSource) rowGroup() int { return -1 }

func (a *arrowStreamSource) next() (arrow.RecordBatch, error) {
	if !a.rdr.Next() {
		if err := a.rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: record batch: %w", ErrCorrupt, err)
		}
		return nil, nil
	}
	a.i++
	return projectRecord(a.rdr.RecordBatch(), a.schema, a.fields)
}

func (a *arrowStreamSource) close() { a.rdr.Release() }

// projectRecord returns a new record of rec's fields idx, after checking
// that the IPC buffers are large enough for the arrays they claim to hold.
func projectRecord(rec arrow.RecordBatch, sc *arrow.Schema, idx []int) (arrow.RecordBatch, error) {
	if int(rec.NumCols()) != rec.Schema().NumFields() {
		return nil, fmt.Errorf("%w: a record batch and the schema have different numbers of columns", ErrCorrupt)
	}
	cols := make([]arrow.Array, len(idx))
	for i, j := range idx {
		col := rec.Column(j)
		if int64(col.Len()) != rec.NumRows() {
			return nil, &InputError{Column: sc.Field(i).Name, RowGroup: -1, Err: fmt.Errorf("%w: the column and its record batch have different numbers of rows", ErrCorrupt)}
		}
		if err := array.Validate(col); err != nil {
			return nil, &InputError{Column: sc.Field(i).Name, RowGroup: -1, Err: fmt.Errorf("%w: %w", ErrCorrupt, err)}
		}
		cols[i] = col
	}
	return array.NewRecordBatch(sc, cols, rec.NumRows()), nil
}

// budgetAllocator is the Arrow allocator for one file. It refuses (by
// panicking with an error wrapping ErrBudget, which the Scanner recovers on
// the caller's goroutine) any single allocation above max and any
// allocation that would take the bytes held above limit. Forged lengths in
// malformed files become input errors instead of a fatal out-of-memory.
type budgetAllocator struct {
	limit, max int64
	held       atomic.Int64
	refused    atomic.Pointer[error]
	mem        memory.Allocator
	pool       *bufPool // nil: every allocation from mem
}

func newBudgetAllocator(limit, max int64) *budgetAllocator {
	return &budgetAllocator{limit: limit, max: max, mem: memory.NewGoAllocator()}
}

// reserve accounts for a new allocation of size bytes, of which already
// are held by the buffer it replaces.
func (b *budgetAllocator) reserve(size, already int) {
	if size < 0 || int64(size) > b.max {
		b.refuse(fmt.Errorf("%w: one allocation above the per-file limit", ErrBudget))
	}
	delta := int64(size - already)
	if h := b.held.Add(delta); h > b.limit {
		b.held.Add(-delta)
		b.refuse(fmt.Errorf("%w: more memory held than the per-file limit", ErrBudget))
	}
}

// refuse records and panics with err. Some arrow-go readers recover
// panics themselves and keep only the message; the record lets the Scanner
// still report ErrBudget.
func (b *budgetAllocator) refuse(err error) {
	b.refused.CompareAndSwap(nil, &err)
	panic(err)
}

// explain wraps err with the allocator's refusal, if there was one and err
// does not already say so.
func (b *budgetAllocator) explain(err error) error {
	if err == nil || errors.Is(err, ErrBudget) {
		return err
	}
	if r := b.refused.Load(); r != nil {
		if ie, ok := err.(*InputError); ok {
			ie.Err = fmt.Errorf("%w: %w", *r, ie.Err)
			return ie
		}
		return fmt.Errorf("%w: %w", *r, err)
	}
	return err
}

func (b *budgetAllocator) Allocate(size int) []byte {
	b.reserve(size, 0)
	out := b.alloc(size)
	b.held.Add(int64(cap(out) - size))
	return out
}

// alloc returns size bytes, from the pool when it has a buffer of their
// class.
func (b *budgetAllocator) alloc(size int) []byte {
	if c := poolClass(size); b.pool != nil && c > 0 {
		if out := b.pool.get(c); out != nil {
			return out[:size]
		}
		return b.mem.Allocate(c)[:size]
	}
	return b.mem.Allocate(size)
}

func (b *budgetAllocator) Reallocate(size int, old []byte) []byte {
	if size <= cap(old) {
		return old[:size]
	}
	b.reserve(size, cap(old))
	if b.pool == nil {
		out := b.mem.Reallocate(size, old)
		b.held.Add(int64(cap(out) - size))
		return out
	}
	out := b.alloc(size)
	b.held.Add(int64(cap(out) - size))
	copy(out, old)
	b.recycle(old)
	return out
}

func (b *budgetAllocator) Free(buf []byte) {
	b.held.Add(-int64(cap(buf)))
	b.recycle(buf)
}

// recycle hands a buffer no longer in use to the pool, if it came from
// it (its capacity is a class).
func (b *budgetAllocator) recycle(buf []byte) {
	if b.pool != nil && cap(buf) > 0 && poolClass(cap(buf)) == cap(buf) {
		b.pool.put(buf)
		return
	}
	b.mem.Free(buf)
}

// Held reports the bytes currently allocated and not yet freed.
func (b *budgetAllocator) Held() int64 { return b.held.Load() }

// ---------------------------------------------------------------------------
// Arrow IPC schema guard
//
// arrow-go (v18.8.0) sizes Go slices from vector lengths in the IPC
// flatbuffers (make([]arrow.Field, schema.FieldsLength()), children,
// metadata) before reading them, outside any allocator: a forged length
// makes it zero tens of GiB (found by FuzzOpen). checkIPCSchema walks the
// schema flatbuffer first and refuses any vector longer than the bytes that
// could hold it, so those allocations stay proportional to the file.

// fbuf is a bounds-checked view of a flatbuffer.
type fbuf []byte

var errFlatbuf = fmt.Errorf("%w: malformed IPC metadata", ErrCorrupt)

func (b fbuf) u32(pos int) (int, error) {
	if pos < 0 || pos+4 > len(b) {
		return 0, errFlatbuf
	}
	return int(uint32(b[pos]) | uint32(b[pos+1])<<8 | uint32(b[pos+2])<<16 | uint32(b[pos+3])<<24), nil
}

func (b fbuf) u16(pos int) (int, error) {
	if pos < 0 || pos+2 > len(b) {
		return 0, errFlatbuf
	}
	return int(uint16(b[pos]) | uint16(b[pos+1])<<8), nil
}

// field returns the absolute position of field i of the table at pos, or
// 0 if the field is absent.
func (b fbuf) field(table, i int) (int, error) {
	soff, err := b.u32(table)
	if err != nil {
		return 0, err
	}
	vt := table - int(int32(uint32(soff)))
	vtSize, err := b.u16(vt)
	if err != nil {
		return 0, err
	}
	if 4+2*i+2 > vtSize {
		return 0, nil
	}
	off, err := b.u16(vt + 4 + 2*i)
	if err != nil || off == 0 {
		return 0, err
	}
	return table + off, nil
}

// deref follows the uoffset stored at pos (to a table, vector or string).
func (b fbuf) deref(pos int) (int, error) {
	off, err := b.u32(pos)
	if err != nil {
		return 0, err
	}
	if p := pos + off; p >= 0 && p < len(b) {
		return p, nil
	}
	return 0, errFlatbuf
}

// vector returns the start and length of the vector referenced by field i
// of table, checking that length*elem bytes fit in the buffer.
func (b fbuf) vector(table, i, elem int) (start, n int, err error) {
	f, err := b.field(table, i)
	if err != nil || f == 0 {
		return 0, 0, err
	}
	v, err := b.deref(f)
	if err != nil {
		return 0, 0, err
	}
	n, err = b.u32(v)
	if err != nil {
		return 0, 0, err
	}
	if int64(n)*int64(elem) > int64(len(b)-v-4) {
		return 0, 0, fmt.Errorf("%w: a vector longer than its buffer", errFlatbuf)
	}
	return v + 4, n, nil
}

// table returns the table referenced by field i of table (0 if absent).
func (b fbuf) table(table, i int) (int, error) {
	f, err := b.field(table, i)
	if err != nil || f == 0 {
		return 0, err
	}
	return b.deref(f)
}

const maxIPCFields = 1 << 16 // fields in one schema, nested ones included

// checkSchema validates an Arrow Schema table: its fields (recursively),
// custom metadata and features vectors.
func (b fbuf) checkSchema(schema int) error {
	count := 0
	start, n, err := b.vector(schema, 1, 4) // fields
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		f, err := b.deref(start + 4*i)
		if err != nil {
			return err
		}
		if err := b.checkField(f, 0, &count); err != nil {
			return err
		}
	}
	if _, _, err := b.vector(schema, 2, 4); err != nil { // custom_metadata
		return err
	}
	_, _, err = b.vector(schema, 3, 8) // features
	return err
}

func (b fbuf) checkField(field, depth int, count *int) error {
	*count++
	if depth > 64 || *count > maxIPCFields {
		return fmt.Errorf("%w: schema nests too deep or has too many fields", errFlatbuf)
	}
	start, n, err := b.vector(field, 5, 4) // children
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		c, err := b.deref(start + 4*i)
		if err != nil {
			return err
		}
		if err := b.checkField(c, depth+1, count); err != nil {
			return err
		}
	}
	if _, _, err := b.vector(field, 6, 4); err != nil { // custom_metadata
		return err
	}
	if t, err := b.table(field, 3); err != nil { // type: Union typeIds (field 1) are a vector
		return err
	} else if t != 0 {
		typeType, _ := b.field(field, 2)
		if typeType != 0 && typeType < len(b) && b[typeType] == 14 { // Type.Union
			if _, _, err := b.vector(t, 1, 4); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkArrowFileFooter validates the footer of an Arrow IPC file.
func checkArrowFileFooter(r io.ReaderAt, size int64) error {
	if size < 6+4+6 {
		return fmt.Errorf("%w: Arrow file too short", ErrCorrupt)
	}
	tail := make([]byte, 10)
	if _, err := r.ReadAt(tail, size-10); err != nil {
		return fmt.Errorf("%w: read Arrow footer: %w", ErrCorrupt, err)
	}
	n := int64(int32(uint32(tail[0]) | uint32(tail[1])<<8 | uint32(tail[2])<<16 | uint32(tail[3])<<24))
	if n <= 0 || n > size-10-8 {
		return nil // let arrow-go report the bad footer length
	}
	buf := make(fbuf, n)
	if _, err := r.ReadAt(buf, size-10-n); err != nil {
		return fmt.Errorf("%w: read Arrow footer: %w", ErrCorrupt, err)
	}
	root, err := buf.deref(0)
	if err != nil {
		return err
	}
	for _, i := range []int{2, 3} { // dictionaries, recordBatches: Block structs of 24 bytes
		if _, _, err := buf.vector(root, i, 24); err != nil {
			return err
		}
	}
	schema, err := buf.table(root, 1)
	if err != nil || schema == 0 {
		return err
	}
	return buf.checkSchema(schema)
}

// checkArrowStreamSchema validates the first message (the schema) of an
// Arrow IPC stream.
func checkArrowStreamSchema(r io.ReaderAt, size int64) error {
	head := make([]byte, 8)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil // too short: arrow-go reports it
	}
	pos, n := int64(4), int64(int32(uint32(head[0])|uint32(head[1])<<8|uint32(head[2])<<16|uint32(head[3])<<24))
	if uint32(n) == 0xFFFFFFFF {
		pos, n = 8, int64(int32(uint32(head[4])|uint32(head[5])<<8|uint32(head[6])<<16|uint32(head[7])<<24))
	}
	if n <= 0 || n > size-pos {
		return nil // arrow-go's size limits report it
	}
	buf := make(fbuf, n)
	if _, err := r.ReadAt(buf, pos); err != nil {
		return nil
	}
	root, err := buf.deref(0)
	if err != nil {
		return err
	}
	if _, _, err := buf.vector(root, 4, 4); err != nil { // custom_metadata
		return err
	}
	ht, err := buf.field(root, 1)
	if err != nil || ht == 0 || ht >= len(buf) || buf[ht] != 1 { // MessageHeader.Schema
		return err
	}
	schema, err := buf.table(root, 2)
	if err != nil || schema == 0 {
		return err
	}
	return buf.checkSchema(schema)
}
