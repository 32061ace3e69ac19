package datasets

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ForbiddenColumns are column names that exports carry and dpstats never
// reads: titles, file names and paths, network addresses and other
// identifying free text. The job spec rejects a metric that names one
// (compared case-insensitively, see IsForbidden), and NewEventReader refuses
// them too, as a second line of defence. Treat the slice as read-only.
var ForbiddenColumns = []string{
	"title", "name", "file_name", "filename", "file_path", "path", "library_path",
	"library_name", "folder", "directory", "ip", "client_ip", "ip_address", "remote_addr",
	"remote_ip", "mac_address", "hostname", "device_name", "email", "username", "user_name",
	"latitude", "longitude", "location",
}

// IsForbidden reports whether column is one of ForbiddenColumns, ignoring
// case and surrounding space.
func IsForbidden(column string) bool {
	c := strings.ToLower(strings.TrimSpace(column))
	for _, f := range ForbiddenColumns {
		if c == f {
			return true
		}
	}
	return false
}

// NumberSpec names a numeric column and how it is generalized at read time.
type NumberSpec struct {
	Column string
	Gen    Generalizer
}

// EventSpec says what an EventReader reads: only these columns are
// projected from the files, every other column (whatever its type) is never
// decoded.
type EventSpec struct {
	// User is the privacy-unit column (string or integer). Required.
	User string
	// Time is the event timestamp column. Required.
	Time string
	// Dimensions are categorical string columns. Optional.
	Dimensions []string
	// Numbers are numeric columns with their generalization. Optional.
	Numbers []NumberSpec
	// Start and End are the run's period [Start, End): rows whose time is
	// outside it, or null, are skipped. Required, Start < End.
	Start, End time.Time
	// BatchSize is the number of rows read per record batch. Optional,
	// default DefaultBatchSize.
	BatchSize int
	// CodesOnly leaves EventBatch.Dims empty: dimensions come as Codes
	// only, which saves a string copy per row and dimension.
	CodesOnly bool
	// Times fills EventBatch.Times with each row's event time (consent is
	// checked per event against the instant the user's grant began).
	Times bool
	// Decoders is the number of goroutines that decode a Parquet file with
	// several row groups, each a share of its row groups; the batches come
	// out in the file's order whatever the number. Optional, default 1.
	Decoders int
}

// Validate checks the rules documented on the fields.
func (s EventSpec) Validate() error {
	if s.User == "" {
		return errors.New("the user column is required")
	}
	if s.Time == "" {
		return errors.New("the time column is required")
	}
	if s.Start.IsZero() || s.End.IsZero() || !s.Start.Before(s.End) {
		return fmt.Errorf("period [%s, %s) is empty or unset; need Start < End",
			s.Start.UTC().Format(time.RFC3339), s.End.UTC().Format(time.RFC3339))
	}
	check := func(col string) error {
		if col == "" {
			return errors.New("empty column name")
		}
		if IsForbidden(col) {
			return fmt.Errorf("column %q is forbidden (see ForbiddenColumns): dpstats never reads it", col)
		}
		return nil
	}
	for _, c := range append([]string{s.User, s.Time}, s.Dimensions...) {
		if err := check(c); err != nil {
			return err
		}
	}
	for _, n := range s.Numbers {
		if err := check(n.Column); err != nil {
			return err
		}
		if err := n.Gen.Validate(); err != nil {
			return fmt.Errorf("column %q: %w", n.Column, err)
		}
	}
	return nil
}

// EventBatch is one batch of events in the run's period, with a non-null
// user. Row i is (Users[i], Dims[d][i] for each dimension d, Numbers[k][i]
// for each number k). It is valid until the next Scan; the strings in Dims
// are owned by the reader and stay valid for good.
type EventBatch struct {
	Len   int
	Users []uint32 // UserIndex numbers
	// Dims[d] is the column of EventSpec.Dimensions[d]; "" for null.
	Dims [][]string
	// Codes[d] is the same column as dense codes: Codes[d][i] is the index
	// of Dims[d][i] in EventReader.DimValues(d), or -1 for null. Codes are
	// stable for the reader's lifetime, so a consumer can map each distinct
	// value once (e.g. to a partition index) instead of hashing every row.
	Codes [][]int32
	// Numbers[k] is the generalized column of EventSpec.Numbers[k] (0 for
	// null); NumberValid[k][i] is false where the value was null.
	Numbers     [][]int64
	NumberValid [][]bool
	// Times[i] is row i's event time in unix nanoseconds, if
	// EventSpec.Times asked for it; empty otherwise.
	Times []int64
}

// ReadCounts are exact counts over the private input. They are NOT
// differentially private: they must never reach a report, a log line or a
// metric; only an operator tool such as `dpstats inspect` may show them.
type ReadCounts struct {
	Files       int   // files opened
	Rows        int64 // rows read from the files
	Kept        int64 // rows returned in batches
	NullUser    int64 // skipped: null or empty user id
	NullTime    int64 // skipped: null time
	OutOfPeriod int64 // skipped: time outside [Start, End)
}

// EventReader reads events from one or many files, batch by batch:
//
//	r, err := datasets.NewEventReader(paths, spec, users)
//	if err != nil { ... }
//	defer r.Close()
//	for r.Scan() {
//		b := r.Batch()
//		...
//	}
//	if err := r.Err(); err != nil { ... } // an *InputError
//
// It projects only the spec's columns, keeps rows in the period with a
// non-null user, interns users in the shared UserIndex and generalizes
// numbers, so raw numbers never leave it. Not safe for concurrent use.
type EventReader struct {
	spec   EventSpec
	users  *UserIndex
	inputs []Input
	cols   []string // projection
	// positions in the projection
	userPos, timePos int
	dimPos, numPos   []int

	next    int // next input
	s       recordSource
	file    string
	batch   EventBatch
	into    *EventBatch        // ScanInto's batch, if set
	intern  []map[string]int32 // per dimension: value → code
	values  [][]string         // per dimension: code → value
	codeBuf [][]int32          // per dimension, reused across batches
	// Per dimension, the codes of the entries of the dictionary dimKeys
	// holds (see dictKey): a row group's batches share its dictionary.
	dimKeys  []dictKey
	dimCodes [][]int32
	sel      []int32  // rows of the current record that are kept, reused
	inPeriod []int32  // rows of the current record in the period, reused
	ids      []string // user ids of the kept rows (plain string columns), reused
	pool     *bufPool // the Scanners' recycled record buffers
	// internDictUsers' buffers (dictionary-encoded user ids), reused
	dictIDs []int64
	dictKey dictKey // the dictionary dictIDs describe, if kept
	pending []int32
	dictOut []uint32
	idxBuf  []int32
	err     error
	done    bool
	counts  ReadCounts
	// noRawUser (tests) reads every column through pqarrow, not raw.
	noRawUser bool
}

// NewEventReader returns a reader over the files, directories or globs in
// paths (see ExpandInputs). Files are opened one at a time, in order, as
// Scan reaches them.
func NewEventReader(paths []string, spec EventSpec, users *UserIndex) (*EventReader, error) {
	in, err := FileInputs(paths)
	if err != nil {
		return nil, err
	}
	return NewEventReaderFrom(in, spec, users)
}

// NewEventReaderFrom is NewEventReader over Inputs (e.g. an embedded sample).
func NewEventReaderFrom(inputs []Input, spec EventSpec, users *UserIndex) (*EventReader, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if users == nil {
		return nil, errors.New("nil UserIndex")
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("%w: no event inputs", ErrInputMissing)
	}
	r := &EventReader{spec: spec, users: users, inputs: inputs}
	pos := make(map[string]int)
	add := func(c string) int {
		if p, ok := pos[c]; ok {
			return p
		}
		pos[c] = len(r.cols)
		r.cols = append(r.cols, c)
		return pos[c]
	}
	r.userPos = add(spec.User)
	r.timePos = add(spec.Time)
	for _, d := range spec.Dimensions {
		r.dimPos = append(r.dimPos, add(d))
	}
	for _, n := range spec.Numbers {
		r.numPos = append(r.numPos, add(n.Column))
	}
	r.batch.Dims = make([][]string, len(spec.Dimensions))
	r.batch.Codes = make([][]int32, len(spec.Dimensions))
	r.batch.Numbers = make([][]int64, len(spec.Numbers))
	r.batch.NumberValid = make([][]bool, len(spec.Numbers))
	r.intern = make([]map[string]int32, len(spec.Dimensions))
	r.values = make([][]string, len(spec.Dimensions))
	r.codeBuf = make([][]int32, len(spec.Dimensions))
	r.dimKeys = make([]dictKey, len(spec.Dimensions))
	r.dimCodes = make([][]int32, len(spec.Dimensions))
	for i := range r.intern {
		r.intern[i] = make(map[string]int32)
	}
	return r, nil
}

// SetTimes sets EventSpec.Times from the next batch on: a caller that
// learns only after opening the reader (after loading consent) whether it
// needs each event's time sets it before the first Scan.
func (r *EventReader) SetTimes(on bool) { r.spec.Times = on }

// Columns returns the columns the reader projects, in order.
func (r *EventReader) Columns() []string { return append([]string(nil), r.cols...) }

// Scan advances to the next non-empty batch. It returns false at the end of
// the last file or on the first error; Err tells which.
func (r *EventReader) Scan() bool {
	r.into = nil
	return r.scan()
}

// Prefetch opens the first file and starts decoding its first batches in
// the background, so that a caller with other work to do first (loading
// consent) overlaps the two. Errors surface at the first Scan.
func (r *EventReader) Prefetch() {
	if r.s == nil && !r.done && r.err == nil {
		r.openNext()
	}
}

// openNext opens the next input; false at the end of the inputs or on an
// error (r.err).
func (r *EventReader) openNext() bool {
	if r.next == len(r.inputs) {
		r.done = true
		r.pool = nil // the recycled buffers are garbage now
		return false
	}
	in := r.inputs[r.next]
	r.next++
	if r.pool == nil {
		r.pool = newBufPool()
	}
	opt := ScanOptions{Columns: r.cols, BatchSize: r.spec.BatchSize, DictColumns: []string{r.spec.User}, pool: r.pool,
		userSeed: r.users.seed()}
	if !r.noRawUser {
		opt.rawUser = r.spec.User
		opt.rawColumns = r.cols
	}
	s, err := in.open(opt)
	if err != nil {
		r.err = inputErr(in.Name, "", -1, err)
		return false
	}
	r.file = in.Name
	if n := min(r.spec.Decoders, s.rowGroups()); n > 1 {
		p, err := newParallelReadAhead(s, n, func() (*Scanner, error) { return in.open(opt) })
		if err != nil {
			_ = s.Close()
			r.err = inputErr(in.Name, "", -1, err)
			return false
		}
		r.s = p
	} else {
		r.s = newReadAhead(s)
	}
	r.counts.Files++
	return true
}

func (r *EventReader) scan() bool {
	for !r.done && r.err == nil {
		if r.s == nil && !r.openNext() {
			return false
		}
		if !r.s.Scan() {
			err := r.s.Err()
			// The file was only read, and read to its end: an error closing
			// it cannot change what was read, so it is not an input error.
			_ = r.s.Close()
			r.s = nil
			if err != nil {
				r.err = err
				return false
			}
			continue
		}
		if err := r.fill(); err != nil {
			r.err = err
			return false
		}
		if r.Batch().Len > 0 {
			return true
		}
	}
	return false
}

func (r *EventReader) fill() error {
	rec := r.s.Record()
	n := int(rec.NumRows())
	r.counts.Rows += int64(n)
	colErr := func(col string, err error) error { return inputErr(r.file, col, -1, err) }

	users, err := newEventUserColumn(rec.Column(r.userPos))
	if err != nil {
		return colErr(r.spec.User, err)
	}
	times, err := NewTimeColumn(rec.Column(r.timePos))
	if err != nil {
		return colErr(r.spec.Time, err)
	}
	// Dimensions are decoded column by column into per-row codes of values
	// owned by the reader (interned), before the row filter.
	dimCodes := make([][]int32, len(r.dimPos))
	for d, p := range r.dimPos {
		if dimCodes[d], err = r.decodeDim(d, rec.Column(p), n); err != nil {
			return colErr(r.spec.Dimensions[d], err)
		}
	}
	nums := make([]IntColumn, len(r.numPos))
	for k, p := range r.numPos {
		if nums[k], err = NewIntColumn(rec.Column(p)); err != nil {
			return colErr(r.spec.Numbers[k].Column, err)
		}
	}

	// Rows are filtered first (period, user), then every column is
	// gathered through the selection, one column at a time.
	b := r.Batch()
	b.shape(len(r.spec.Dimensions), len(r.spec.Numbers))
	b.Users = b.Users[:0]
	inPeriod := r.inPeriod[:0]
	start, end := r.spec.Start.UnixNano(), r.spec.End.UnixNano()
	inPeriod, nullTime, outside := times.selectPeriod(start, end, inPeriod)
	r.counts.NullTime += nullTime
	r.counts.OutOfPeriod += outside
	r.inPeriod = inPeriod
	sel := r.sel[:0]
	if users.dictStrings() {
		sel, b.Users = r.internDictUsers(&users, inPeriod, sel, b.Users[:0])
		r.counts.NullUser += int64(len(inPeriod) - len(sel))
	} else if hs := userHashes(rec, len(r.cols)); hs != nil && users.plainStrings() && users.str.kind == strOff32 {
		// Read raw from plain pages (see rawColumn): the decoder
		// hashed the ids already. Rows with a null or empty id are left out.
		str := &users.str
		off := str.off32
		if str.valid.bits == nil {
			for _, i := range inPeriod {
				if off[i+1] != off[i] {
					sel = append(sel, i)
				}
			}
		} else {
			for _, i := range inPeriod {
				if off[i+1] != off[i] && !str.valid.isNull(int(i)) {
					sel = append(sel, i)
				}
			}
		}
		b.Users = resize(b.Users, len(sel))
		r.users.internRows(str.data, off, sel, hs, b.Users)
		r.counts.NullUser += int64(len(inPeriod) - len(sel))
	} else if users.plainStrings() {
		// The common case, and the costly one: intern the batch's ids
		// together (see UserIndex.internStrings).
		ids := r.ids[:0]
		for _, i := range inPeriod {
			if v := users.str.Value(int(i)); v != "" && !users.str.IsNull(int(i)) {
				ids = append(ids, v)
				sel = append(sel, i)
			}
		}
		b.Users = resize(b.Users, len(ids))
		r.users.internStrings(ids, b.Users)
		clear(ids) // they point into the record's buffers
		r.ids = ids[:0]
		r.counts.NullUser += int64(len(inPeriod) - len(sel))
	} else {
		for _, i := range inPeriod {
			u, ok := users.id(r.users, int(i))
			if !ok {
				r.counts.NullUser++
				continue
			}
			b.Users = append(b.Users, u)
			sel = append(sel, i)
		}
	}
	r.sel = sel
	m := len(sel)
	for d, codes := range dimCodes {
		var dst []int32
		if m == n {
			// Every row is kept (the usual case): hand over the decoded
			// codes and decode the next batch into b's old array.
			dst, r.codeBuf[d] = codes, b.Codes[d][:0]
		} else {
			dst = resize(b.Codes[d], m)
			for j, i := range sel {
				dst[j] = codes[i]
			}
		}
		b.Codes[d] = dst
		b.Dims[d] = b.Dims[d][:0]
		if r.spec.CodesOnly {
			continue
		}
		vals := r.values[d]
		for _, c := range dst {
			if c < 0 {
				b.Dims[d] = append(b.Dims[d], "")
			} else {
				b.Dims[d] = append(b.Dims[d], vals[c])
			}
		}
	}
	for k, col := range nums {
		gen := r.spec.Numbers[k].Gen
		out, valid := resize(b.Numbers[k], m), resize(b.NumberValid[k], m)
		for j, i := range sel {
			if col.IsNull(int(i)) {
				out[j], valid[j] = 0, false
			} else {
				out[j], valid[j] = gen.Apply(col.Value(int(i))), true
			}
		}
		b.Numbers[k], b.NumberValid[k] = out, valid
	}
	b.Times = b.Times[:0]
	if r.spec.Times {
		b.Times = resize(b.Times, m)
		for j, i := range sel {
			b.Times[j] = times.Value(int(i))
		}
	}
	b.Len = m
	r.counts.Kept += int64(m)
	return nil
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// decodeDim returns the n values of a dimension column as codes of
// interned strings (-1 for null). Dictionary columns with the usual index
// types take a fast path: the dictionary is interned once per batch, rows
// are a slice lookup.
func (r *EventReader) decodeDim(d int, arr arrow.Array, n int) ([]int32, error) {
	col, err := NewStringColumn(arr) // validates buffers and indices
	if err != nil {
		return nil, err
	}
	if cap(r.codeBuf[d]) < n {
		r.codeBuf[d] = make([]int32, n)
	}
	out := r.codeBuf[d][:n]
	if dict, ok := col.Dictionary(); ok {
		codes := r.dimCodes[d]
		if !r.dimKeys[d].matches(&dict) {
			codes = resize(codes, dict.Len())
			for k := range codes {
				codes[k] = -1
				if !dict.IsNull(k) {
					codes[k] = r.internDim(d, dict.Value(k))
				}
			}
			r.dimCodes[d] = codes
			r.dimKeys[d].keep(&dict)
		}
		da := arr.(*array.Dictionary)
		switch idx := da.Indices().(type) {
		case *array.Int8:
			for i, k := range idx.Int8Values()[:n] {
				out[i] = dictAt(codes, int(k))
			}
		case *array.Int16:
			for i, k := range idx.Int16Values()[:n] {
				out[i] = dictAt(codes, int(k))
			}
		case *array.Int32:
			for i, k := range idx.Int32Values()[:n] {
				out[i] = dictAt(codes, int(k))
			}
		default:
			for i := range out {
				k, _ := col.DictionaryIndex(i)
				out[i] = dictAt(codes, k)
			}
		}
		if da.NullN() > 0 {
			for i := range out {
				if da.IsNull(i) {
					out[i] = -1
				}
			}
		}
		return out, nil
	}
	for i := range out {
		if col.IsNull(i) {
			out[i] = -1
		} else {
			out[i] = r.internDim(d, col.Value(i))
		}
	}
	return out, nil
}

// dictAt returns codes[k], or -1 when k is out of range (only possible in
// null slots, whose index values are unspecified; they are blanked after).
func dictAt(codes []int32, k int) int32 {
	if uint(k) >= uint(len(codes)) {
		return -1
	}
	return codes[k]
}

// internDim returns the code of v in dimension d, copying v into the
// reader's own storage the first time, so batch strings never alias Arrow
// buffers.
func (r *EventReader) internDim(d int, v string) int32 {
	if c, ok := r.intern[d][v]; ok {
		return c
	}
	c := int32(len(r.values[d]))
	s := strings.Clone(v)
	r.intern[d][s] = c
	r.values[d] = append(r.values[d], s)
	return c
}

// NumUsers returns the number of users interned so far (in the reader's
// UserIndex): every user in a batch is below it.
func (r *EventReader) NumUsers() int { return r.users.Len() }

// NumDimensions returns len(EventSpec.Dimensions).
func (r *EventReader) NumDimensions() int { return len(r.values) }

// DimValues returns the distinct values of dimension d seen so far, indexed
// by code (see EventBatch.Codes). The slice may grow with later batches;
// entries never change. Treat it as read-only.
func (r *EventReader) DimValues(d int) []string { return r.values[d] }

// Batch returns the current batch; valid until the next Scan.
func (r *EventReader) Batch() *EventBatch {
	if r.into != nil {
		return r.into
	}
	return &r.batch
}

// ScanInto is Scan, filling b (reusing its arrays) instead of the reader's
// own batch: a consumer that keeps batches (a pipeline) saves a copy. b is
// the reader's Batch until the next Scan or ScanInto.
func (r *EventReader) ScanInto(b *EventBatch) bool {
	r.into = b
	return r.scan()
}

// shape gives b one column per dimension and per number.
func (b *EventBatch) shape(dims, nums int) {
	if len(b.Dims) != dims {
		b.Dims = make([][]string, dims)
	}
	if len(b.Codes) != dims {
		b.Codes = make([][]int32, dims)
	}
	if len(b.Numbers) != nums {
		b.Numbers = make([][]int64, nums)
	}
	if len(b.NumberValid) != nums {
		b.NumberValid = make([][]bool, nums)
	}
}

// Err returns the first error (an *InputError for problems with a file), or
// nil after a clean end.
func (r *EventReader) Err() error { return r.err }

// Close releases the open file, if any. Safe to call more than once.
func (r *EventReader) Close() error {
	r.done = true
	if r.s != nil {
		_ = r.s.Close() // read-only: nothing to lose
		r.s = nil
	}
	return nil
}

// ExactCounts returns exact row counts so far. They are NOT differentially
// private: for operator tools (`dpstats inspect`) only, never for reports,
// logs or metrics.
func (r *EventReader) ExactCounts() ReadCounts { return r.counts }
