package datasets

import (
	"errors"

	"github.com/apache/arrow-go/v18/arrow"
)

// The users of a consent export. The interning goroutine was the load's
// bottleneck (the UserIndex is not safe for concurrent use), so it does as
// little as it can per row. A Parquet export's flat string user column is
// read raw (ScanOptions.rawUser, see rawColumn), its dictionary pages too
// as plain ids (rawUserPlain: a consent export's ids are nearly all
// distinct, and a dictionary would save no interning): the decoding
// goroutine copies the ids and hashes them under the UserIndex's seed
// (each dictionary entry once), so that the interning goroutine only
// probes the table, once per run of rows of one user
// (consentInterner.internRaw). 2M users (3.5M rows, 2 cores): the
// interning stage 0.21 → 0.13 CPU-s, the load 0.5 → 0.4 CPU-s.
// Every other form of the user column is interned here too, with the same
// numbering: users are numbered in the order of their first row with a
// category, across the batches in file order.

// consentUserForm is how a batch's user column arrived, and which path
// interned it (see consentInterner.rows).
type consentUserForm int

const (
	userHashed consentUserForm = iota // plain strings with the decoder's hashes
	userDict                          // an arrow dictionary (indices into distinct ids)
	userPlain                         // plain strings without hashes
	userInt                           // integer ids
	userOther                         // anything else StringColumn reads (large, view)
	numUserForms
)

// consentUserRead is how a Parquet export's user column is asked for; only
// tests change it, to reach every form the user column can take.
type consentUserRead int

const (
	readUserRaw   consentUserRead = iota // page by page (rawColumn; the default)
	readUserDict                         // pqarrow, as an arrow dictionary
	readUserPlain                        // pqarrow, as a plain string array
)

var consentUserReads = readUserRaw

// scanOptions adds the user column's read to opt.
func (r consentUserRead) scanOptions(opt ScanOptions, user string, users *UserIndex) ScanOptions {
	switch r {
	case readUserRaw:
		opt.rawUser, opt.userSeed, opt.rawUserPlain = user, users.seed(), true
	case readUserDict:
		opt.DictColumns = append(opt.DictColumns, user)
	}
	return opt
}

// newConsentUserColumn is newUserColumn without its per-entry array for a
// dictionary column (internDict keeps its own, reused across batches).
func newConsentUserColumn(arr arrow.Array) (userColumn, error) {
	if s, err := newStringColumn(arr, false); err == nil {
		return userColumn{str: s}, nil
	} else if !errors.Is(err, ErrColumnType) {
		return userColumn{}, err
	}
	return newUserColumn(arr)
}

// internRaw selects the rows of a raw user column (string offsets off
// into data, hashes hs) that have a user and a category, and interns their
// users in row order: rows and uids, appended to, are the selected rows
// and their users. A row whose id is its predecessor's (the usual layout:
// an export lists a user's records together) takes its number without a
// probe: only the first row of each run is looked up (UserIndex.internRows).
func (it *consentInterner) internRaw(users *UserIndex, str *StringColumn, cat *StringColumn, hs []uint64, n int, rows []int32, uids []uint32) ([]int32, []uint32) {
	off, data := str.off32[:n+1], str.data
	hs = hs[:n]
	heads, ix := it.heads[:0], it.ix[:0] // first rows of runs; each row's run
	start := len(rows)
	noNulls := str.valid.bits == nil && !cat.mayBeNull()
	var ph uint64 // the previous selected row's hash, and its id
	var pid []byte
	for i := 0; i < n; i++ {
		lo, hi := off[i], off[i+1]
		if lo == hi || (!noNulls && (str.valid.isNull(i) || cat.IsNull(i))) {
			continue
		}
		if v := data[lo:hi]; len(heads) == 0 || hs[i] != ph || string(v) != string(pid) {
			heads = append(heads, int32(i))
			ph, pid = hs[i], v
		}
		rows = append(rows, int32(i))
		ix = append(ix, int32(len(heads)-1))
	}
	out := resize(it.out, len(heads))
	users.internRows(data, off, heads, hs, out)
	uids = resize(uids, len(rows))
	for k, j := range ix {
		uids[start+k] = out[j]
	}
	it.heads, it.ix, it.out = heads[:0], ix[:0], out[:0]
	it.rows[userHashed] += int64(len(rows) - start)
	return rows, uids
}

// internDict interns the users of a dictionary-encoded user column: each
// distinct entry of the batch once, in the order of its first row with a
// category (so the numbering is the one of row after row). A hash column
// (hs, nil if none) saves hashing the entries here.
func (it *consentInterner) internDict(users *UserIndex, col *StringColumn, cat *StringColumn, hs []uint64, n int, rows []int32, uids []uint32) ([]int32, []uint32) {
	dict, _ := col.Dictionary()
	// marks[k]: entry k's place in strs (≥ 0), unseen (-1) or no user (-2).
	const unseen, noUser = -1, -2
	if len(it.marks) < dict.Len() {
		it.marks = make([]int32, dict.Len())
		for k := range it.marks {
			it.marks[k] = unseen
		}
	}
	marks := it.marks
	strs, hashes, touched, ix := it.strs[:0], it.hashes[:0], it.touched[:0], it.ix[:0]
	start := len(rows)
	for i := 0; i < n; i++ {
		if col.valid.isNull(i) || cat.IsNull(i) {
			continue
		}
		k, _ := col.DictionaryIndex(i)
		m := marks[k]
		if m == unseen {
			touched = append(touched, int32(k))
			if v := dict.Value(k); v == "" || dict.IsNull(k) {
				m = noUser
			} else {
				m = int32(len(strs))
				strs = append(strs, v)
				if hs != nil {
					hashes = append(hashes, hs[i])
				}
			}
			marks[k] = m
		}
		if m == noUser {
			continue
		}
		rows = append(rows, int32(i))
		ix = append(ix, m)
	}
	for _, k := range touched {
		marks[k] = unseen
	}
	out := resize(it.out, len(strs))
	if hs != nil {
		users.internHashed(strs, hashes, out)
	} else {
		users.internStrings(strs, out)
	}
	uids = resize(uids, len(rows))
	for j, m := range ix {
		uids[start+j] = out[m]
	}
	clear(strs) // they point into the record's buffers
	it.strs, it.hashes, it.touched, it.ix, it.out = strs[:0], hashes[:0], touched[:0], ix[:0], out[:0]
	it.rows[userDict] += int64(len(rows) - start)
	return rows, uids
}

// internPlain interns the users of plain string ids without hashes a
// batch at a time (UserIndex.internStrings), consecutive rows of the same
// user once.
func (it *consentInterner) internPlain(users *UserIndex, str *StringColumn, cat *StringColumn, n int, rows []int32, uids []uint32) ([]int32, []uint32) {
	strs, ix := it.strs[:0], it.ix[:0]
	start := len(rows)
	prev, have := "", false
	noNulls := str.valid.bits == nil && !cat.mayBeNull()
	for i := 0; i < n; i++ {
		if !noNulls && (cat.IsNull(i) || str.IsNull(i)) {
			continue
		}
		v := str.Value(i)
		if v == "" {
			continue
		}
		if !have || v != prev {
			strs = append(strs, v)
			prev, have = v, true
		}
		rows = append(rows, int32(i))
		ix = append(ix, int32(len(strs)-1))
	}
	out := resize(it.out, len(strs))
	users.internStrings(strs, out)
	uids = resize(uids, len(rows))
	for k, j := range ix {
		uids[start+k] = out[j]
	}
	clear(strs) // they point into the record's buffers
	it.strs, it.ix, it.out = strs[:0], ix[:0], out[:0]
	it.rows[userPlain] += int64(len(rows) - start)
	return rows, uids
}
