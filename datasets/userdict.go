package datasets

import (
	"math"

	"github.com/apache/arrow-go/v18/parquet"
)

// Dictionary-encoded user ids. A Parquet export's user_id column is almost
// always dictionary-encoded (one dictionary per row group, most users of a
// day appear in every row group several times), and the reader asks arrow-go
// for it as a dictionary array (ScanOptions.DictColumns): then each distinct
// id of a batch is hashed and interned once, and a row's user is a lookup in
// a small array, instead of a copy of the id's bytes and a probe of the user
// table (a cache miss at 10⁵–10⁶ users) per row.

// Marks in EventReader.dictIDs, besides a UserIndex number.
const (
	dictUnseen  = -1 // entry not met yet in this batch
	dictPending = -2 // met, queued for interning
	dictNoUser  = -3 // null or empty id: no user
)

// dictStrings reports whether the column holds dictionary-encoded strings.
func (c *userColumn) dictStrings() bool { return !c.isInt && c.dictIDs != nil }

// internDictUsers interns the users of rows (in order, skipping null and
// empty ids) of a dictionary-encoded user column, appending each kept row to
// sel and its user to users. Entries are interned in the order of the rows
// that first name them, so users are numbered exactly as interning row by
// row would number them.
func (r *EventReader) internDictUsers(col *userColumn, rows, sel []int32, users []uint32) ([]int32, []uint32) {
	dict, _ := col.str.Dictionary()
	ids := resize(r.dictIDs, dict.Len())
	for k := range ids {
		ids[k] = dictUnseen
	}
	str := &col.str
	rowNull := str.valid
	// The rows' indices as int32s (arrow-go's dictionary reader writes
	// int32 indices; other index types are copied once).
	index := str.idx.i32
	if index == nil {
		index = resize(r.idxBuf, str.n)
		for i := range index {
			index[i] = int32(str.idx.Value(i))
		}
		r.idxBuf = index
	}
	// First pass: queue the entries the rows name, in order of first use.
	pending := r.pending[:0]
	strs := r.ids[:0]
	for _, i := range rows {
		if rowNull.isNull(int(i)) {
			continue
		}
		k := int(index[i])
		if ids[k] != dictUnseen {
			continue
		}
		v := str.dictValue(k)
		if v == "" || dict.IsNull(k) {
			ids[k] = dictNoUser
			continue
		}
		ids[k] = dictPending
		pending = append(pending, int32(k))
		strs = append(strs, v)
	}
	out := resize(r.dictOut, len(strs))
	r.users.internStrings(strs, out)
	for j, k := range pending {
		ids[k] = int64(out[j])
	}
	clear(strs) // they point into the record's buffers
	r.ids, r.pending, r.dictOut = strs[:0], pending[:0], out[:0]
	// Second pass: every row's user is a lookup.
	for _, i := range rows {
		if rowNull.isNull(int(i)) {
			continue
		}
		if id := ids[index[i]]; id >= 0 && id <= math.MaxUint32 {
			sel = append(sel, i)
			users = append(users, uint32(id))
		}
	}
	r.dictIDs = ids
	return sel, users
}

// dictValue returns dictionary entry k of a dictionary-encoded column.
func (c *StringColumn) dictValue(k int) string {
	if c.dictVals != nil {
		return c.dictVals[k]
	}
	return c.dict.Value(k)
}

// dictionaryLeaf returns the leaf index of column c if reading it as an
// arrow dictionary pays: a top-level byte-array column (nested or other
// columns keep their plain arrow type) whose every row group is wholly
// dictionary-encoded (per the footer's encoding stats; a writer whose
// dictionary outgrew its page limit falls back to plain pages, which
// arrow-go would then push row by row through its dictionary builder's hash
// table), with a dictionary page of at most 2/3 of the column's bytes (else
// nearly every row is a distinct entry, and the dictionary's hash table
// costs more than it saves). Without encoding stats, no.
func (p *parquetSource) dictionaryLeaf(c string) (int, bool) {
	md := p.pf.MetaData()
	i := md.Schema.ColumnIndexByName(c)
	if i < 0 || md.Schema.Column(i).PhysicalType() != parquet.Types.ByteArray || md.Schema.Column(i).Path() != c {
		return 0, false
	}
	for rg := 0; rg < p.pf.NumRowGroups(); rg++ {
		cc, err := md.RowGroup(rg).ColumnChunk(i)
		if err != nil || cc == nil || !cc.HasDictionaryPage() {
			return 0, false
		}
		stats := cc.EncodingStats()
		if len(stats) == 0 {
			return 0, false
		}
		for _, st := range stats {
			// Every page but the dictionary's holds indices.
			if st.PageType.String() != "DICTIONARY_PAGE" &&
				st.Encoding != parquet.Encodings.RLEDict && st.Encoding != parquet.Encodings.PlainDict {
				return 0, false
			}
		}
		dictBytes := cc.DataPageOffset() - cc.DictionaryPageOffset()
		if total := cc.TotalCompressedSize(); dictBytes <= 0 || 3*dictBytes > 2*total {
			return 0, false
		}
	}
	return i, true
}
