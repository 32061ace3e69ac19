package datasets

import (
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// Loading a consent export is a pipeline of three goroutines: one decodes
// the file (a readAhead), the caller's interns the users of each batch in
// row order (the UserIndex is not safe for concurrent use, and its numbers
// must not depend on goroutines), and an applier applies the batch's rows
// to the categories' states in row order. Each stage sees the batches in
// file order, so the outcome is the one of a single goroutine reading row
// after row.

// consentBatch is one record batch on its way from the interning stage to
// the applier: its columns, the rows that have a user and a category, and
// their users.
type consentBatch struct {
	rec     arrow.RecordBatch // retained; the applier releases it
	cat     StringColumn
	granted boolColumn
	at      TimeColumn
	rows    []int32
	uids    []uint32
}

// consentDecoders is the number of goroutines that decode a Parquet
// export's row groups (see newParallelReadAhead). One: decoding is the
// longest stage, and two decoders are faster in a warm process (2M users,
// BenchmarkLoadConsent: 0.21 s and 0.38 CPU-s against 0.25 s and 0.42),
// but not in a fresh one, as a run is (the bench's consent line: 0.22–0.32
// s either way), and hold 55 MiB more at the peak, which at 2M users is
// the run's peak.
var consentDecoders = 1

// consentBatches is the number of batches in flight between the stages.
const consentBatches = 3

// load reads one export into c. With replay set, it only sets firstG from
// the grants of the categories in replay, whose lastW are final.
func (c *Consent) load(in Input, cols ConsentColumns, replay map[string]*consentState) error {
	opt := ScanOptions{
		Columns: []string{cols.User, cols.Category, cols.Granted, cols.UpdatedAt},
		// A handful of categories: each row's is an index into them.
		DictColumns: []string{cols.Category},
		pool:        c.pool,
	}
	opt = consentUserReads.scanOptions(opt, cols.User, c.users)
	if opt.rawUser != "" {
		// The category (as a dictionary) and the time page by page too.
		opt.rawColumns = []string{cols.Category, cols.UpdatedAt}
	}
	sc, err := in.open(opt)
	if err != nil {
		return err
	}
	if rows := sc.footerRows(); replay == nil && rows > 0 {
		// A consent export holds a record or more per user and category:
		// sizing the user index (and the categories' states) for half its
		// rows up front saves moving every key at each doubling (2M users:
		// 0.2 s of 1 s).
		c.users.reserve(c.users.Len() + int(min(rows/2, 1<<30)))
		// The states are memory maps whose pages cost nothing until
		// used: room for as many users as rows, never copied.
		c.hint = c.users.Len() + int(min(rows, 1<<30))
	}
	var s recordSource
	if n := min(consentDecoders, sc.rowGroups()); n > 1 {
		p, err := newParallelReadAhead(sc, n, func() (*Scanner, error) { return in.open(opt) })
		if err != nil {
			_ = sc.Close()
			return err
		}
		s = p
	} else {
		s = newReadAhead(sc)
	}
	defer s.Close()

	free := make(chan *consentBatch, consentBatches)
	for range consentBatches {
		free <- &consentBatch{}
	}
	work := make(chan *consentBatch, consentBatches)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a := consentApplier{c: c, replay: replay, asOf: c.asOf.UnixNano()}
		for b := range work {
			a.apply(b)
			b.rec.Release()
			b.rec = nil
			free <- b
		}
	}()
	defer func() {
		close(work)
		<-done
	}()

	var it consentInterner
	if replay == nil { // a replay reads the rows again
		defer func() {
			for f, n := range it.rows {
				c.userRows[f] += n
			}
		}()
	}
	for s.Scan() {
		rec := s.Record()
		b := <-free
		if err := it.intern(c.users, rec, b, in.Name, cols); err != nil {
			free <- b
			return err
		}
		rec.Retain() // past the next Scan, until applied
		b.rec = rec
		work <- b
	}
	return s.Err()
}

// consentInterner is the interning stage's buffers, and its count of the
// rows it interned by the form of their user column (for tests).
type consentInterner struct {
	strs    []string
	hashes  []uint64
	ix      []int32
	out     []uint32
	heads   []int32
	marks   []int32 // internDict's, per dictionary entry
	touched []int32
	rows    [numUserForms]int64
}

// intern reads rec's columns into b and interns the users of the rows that
// have a user and a category, in row order (consecutive rows of the same
// user, the usual layout of an export, are looked up once).
func (it *consentInterner) intern(users *UserIndex, rec arrow.RecordBatch, b *consentBatch, name string, cols ConsentColumns) error {
	ids, err := newConsentUserColumn(rec.Column(0))
	if err != nil {
		return inputErr(name, cols.User, -1, err)
	}
	if b.cat, err = NewStringColumn(rec.Column(1)); err != nil {
		return inputErr(name, cols.Category, -1, err)
	}
	if b.granted, err = newBoolColumn(rec.Column(2)); err != nil {
		return inputErr(name, cols.Granted, -1, err)
	}
	if b.at, err = NewTimeColumn(rec.Column(3)); err != nil {
		return inputErr(name, cols.UpdatedAt, -1, err)
	}
	cat := &b.cat
	n := int(rec.NumRows())
	rows, uids := b.rows[:0], b.uids[:0]
	hs := userHashes(rec, 4) // the decoder's, when it read the ids raw
	switch {
	case ids.isInt:
		var prev int64
		var u uint32
		have := false
		for i := 0; i < n; i++ {
			if cat.IsNull(i) || ids.ints.IsNull(i) {
				continue
			}
			if v := ids.ints.Value(i); !have || v != prev {
				u, prev, have = users.IntID(v), v, true
			}
			rows = append(rows, int32(i))
			uids = append(uids, u)
		}
		it.rows[userInt] += int64(len(rows))
	case ids.str.kind == strDict:
		rows, uids = it.internDict(users, &ids.str, cat, hs, n, rows, uids)
	case ids.str.kind == strOff32 && hs != nil:
		rows, uids = it.internRaw(users, &ids.str, cat, hs, n, rows, uids)
	case ids.str.kind == strOff32:
		rows, uids = it.internPlain(users, &ids.str, cat, n, rows, uids)
	default:
		for i := 0; i < n; i++ {
			if cat.IsNull(i) {
				continue
			}
			if u, ok := ids.id(users, i); ok {
				rows = append(rows, int32(i))
				uids = append(uids, u)
			}
		}
		it.rows[userOther] += int64(len(rows))
	}
	b.rows, b.uids = rows, uids
	return nil
}

// consentApplier is the applying stage: it owns c.cats while loading.
type consentApplier struct {
	c      *Consent
	replay map[string]*consentState
	asOf   int64
	// entries maps a dictionary category column's entries to their
	// states (nil: not looked up yet; skipState: none, when replaying).
	entries []*consentState
}

// skipState marks a dictionary entry whose rows a replay skips.
var skipState = &consentState{}

// state returns the state of category name, created if new (nil when
// replaying a category not in replay).
func (a *consentApplier) state(name string) *consentState {
	if a.replay != nil {
		return a.replay[name]
	}
	st := a.c.cats[name]
	if st == nil {
		st = &consentState{hint: a.c.hint}
		a.c.cats[strings.Clone(name)] = st
	}
	return st
}

// entryStates returns the states of the dictionary entries of a
// dictionary-encoded category column, all unknown (nil).
func (a *consentApplier) entryStates(dict *StringColumn) []*consentState {
	entries := resize(a.entries, dict.Len())
	clear(entries)
	a.entries = entries
	return entries
}

// entry returns the state of dictionary entry e (nil: skip its rows).
func (a *consentApplier) entry(entries []*consentState, dict *StringColumn, e int) *consentState {
	st := entries[e]
	if st == nil {
		if st = a.state(dict.Value(e)); st == nil {
			st = skipState
		}
		entries[e] = st
	}
	if st == skipState {
		return nil
	}
	return st
}

func (a *consentApplier) apply(b *consentBatch) {
	if a.replay == nil && a.applyPlain(b) {
		return
	}
	asOf, cat, at, granted := a.asOf, &b.cat, &b.at, &b.granted
	rows, uids := b.rows, b.uids[:len(b.rows)]
	if dict, ok := cat.Dictionary(); ok {
		entries := a.entryStates(&dict)
		for k, row := range rows {
			i := int(row)
			e, _ := cat.DictionaryIndex(i)
			st := a.entry(entries, &dict, e)
			if st == nil {
				continue
			}
			if a.replay != nil {
				st.regrant(uids[k], at.Value(i), !at.IsNull(i), granted.granted(i), asOf)
			} else {
				st.add(uids[k], at.Value(i), !at.IsNull(i), granted.granted(i), asOf)
			}
		}
		return
	}
	var (
		lastName string
		last     *consentState
	)
	for k, row := range rows {
		i := int(row)
		name := cat.Value(i)
		if last == nil || name != lastName {
			last, lastName = a.state(name), name
		}
		if last == nil {
			continue // replaying other categories
		}
		if a.replay != nil {
			last.regrant(uids[k], at.Value(i), !at.IsNull(i), granted.granted(i), asOf)
		} else {
			last.add(uids[k], at.Value(i), !at.IsNull(i), granted.granted(i), asOf)
		}
	}
}

// mayBeNull reports whether some row of c may be null: false if c has no
// null bitmap and, dictionary-encoded, no null entry.
func (c *StringColumn) mayBeNull() bool {
	if c.valid.bits != nil {
		return true
	}
	return c.kind == strDict && c.dict.valid.bits != nil
}

// applyPlain is apply for the usual export, without replay: a dictionary
// category with int32 indices, a boolean granted and a timestamp
// updated_at, neither with nulls. It reports false, having done nothing,
// for any other batch.
func (a *consentApplier) applyPlain(b *consentBatch) bool {
	dict, ok := b.cat.Dictionary()
	idx := b.cat.idx.i32
	ts, mul := b.at.ints.i64, b.at.mul
	g := b.granted.b
	if !ok || idx == nil || ts == nil || b.at.ints.valid.bits != nil || b.granted.isInt || g.NullN() != 0 {
		return false
	}
	if len(b.rows) == 0 {
		return true
	}
	gbits, goff := g.Data().Buffers()[1].Bytes(), g.Data().Offset() // checked by newBoolColumn
	hi, lo := int64(math.MaxInt64)/mul, int64(math.MinInt64)/mul
	entries := a.entryStates(&dict)
	asOf, uids := a.asOf, b.uids[:len(b.rows)]
	for k, row := range b.rows {
		i := int(row)
		st := entries[idx[i]] // known after the batch's first row of it
		if st == nil {
			st = a.entry(entries, &dict, int(idx[i]))
		}
		t := ts[i]
		switch { // TimeColumn.Value
		case mul == 1:
		case t > hi:
			t = math.MaxInt64
		case t < lo:
			t = math.MinInt64
		default:
			t *= mul
		}
		st.add(uids[k], t, true, bitutil.BitIsSet(gbits, goff+i), asOf)
	}
	return true
}
