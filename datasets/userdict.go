package datasets

import (
	"bytes"
	"errors"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"

	"github.com/apache/arrow-go/v18/parquet"
)

// Dictionary-encoded user ids. A Parquet export's user_id column is almost
// always dictionary-encoded (one dictionary per row group, most users of a
// day appear in every row group several times), and the reader asks arrow-go
// for it as a dictionary array (ScanOptions.DictColumns): then each distinct
// id of a batch is hashed and interned once, and a row's user is a lookup in
// a small array, instead of a copy of the id's bytes and a probe of the user
// table (a cache miss at 10⁵–10⁶ users) per row.
//
// A flat user column of a Parquet file is read raw (see rawColumn): rows
// of dictionary pages come as a dictionary array over the row group's
// dictionary, and take this path too, without arrow-go's dictionary reader
// (which hashes every entry of every row group into a memo table of its
// own).

// Marks in EventReader.dictIDs, besides a UserIndex number.
const (
	dictUnseen  = -1 // entry not met yet in this batch
	dictPending = -2 // met, queued for interning
	dictNoUser  = -3 // null or empty id: no user
)

// dictStrings reports whether the column holds dictionary-encoded strings.
func (c *userColumn) dictStrings() bool { return !c.isInt && c.str.kind == strDict }

// newEventUserColumn is newUserColumn for EventReader, which interns a
// dictionary-encoded column itself (internDictUsers): nothing per
// dictionary entry is allocated for each batch.
func newEventUserColumn(arr arrow.Array) (userColumn, error) {
	if s, err := newStringColumn(arr, false); err == nil {
		return userColumn{str: s}, nil
	} else if !errors.Is(err, ErrColumnType) {
		return userColumn{}, err
	}
	return newUserColumn(arr)
}

// dictKey holds a copy of the dictionary whose entries' users
// EventReader.dictIDs holds. arrow-go hands every batch of a Parquet row
// group a new copy of the row group's dictionary; when a batch's
// dictionary is byte for byte the kept one, the users already interned for
// its entries stay valid, and each row group's dictionary is interned once,
// not once per batch. Only dictionaries of int32 offsets and no null
// entries are kept (Parquet's are); others are interned per batch.
type dictKey struct {
	kept bool
	offs []int32 // offsets, less the first
	data []byte
}

// matches reports whether d is the kept dictionary.
func (k *dictKey) matches(d *StringColumn) bool {
	if !k.kept || !keepable(d) || d.n+1 != len(k.offs) {
		return false
	}
	o := d.off32[:d.n+1]
	if o[0] == 0 {
		if !bytes.Equal(int32Bytes(o), int32Bytes(k.offs)) {
			return false
		}
	} else {
		for i, v := range o {
			if v-o[0] != k.offs[i] {
				return false
			}
		}
	}
	return bytes.Equal(d.data[o[0]:o[d.n]], k.data)
}

// keep copies d, if keepable, as the kept dictionary; else forgets it.
func (k *dictKey) keep(d *StringColumn) {
	k.kept = keepable(d)
	if !k.kept {
		return
	}
	o := d.off32[:d.n+1]
	k.offs = resize(k.offs, len(o))
	for i, v := range o {
		k.offs[i] = v - o[0]
	}
	k.data = append(k.data[:0], d.data[o[0]:o[d.n]]...)
}

// keepable: int32 offsets (checked by NewStringColumn) and no null entry.
func keepable(d *StringColumn) bool {
	if d.kind != strOff32 {
		return false
	}
	return d.valid.bits == nil || bitutil.CountSetBits(d.valid.bits, d.valid.offset, d.n) == d.n
}

func int32Bytes(s []int32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 4*len(s))
}

// internDictUsers interns the users of rows (in order, skipping null and
// empty ids) of a dictionary-encoded user column, appending each kept row to
// sel and its user to users. Entries are interned in the order of the rows
// that first name them, so users are numbered exactly as interning row by
// row would number them. The entries' users are kept for the next batch
// if its dictionary is the same (see dictKey).
func (r *EventReader) internDictUsers(col *userColumn, rows, sel []int32, users []uint32) ([]int32, []uint32) {
	dict := col.str.dict
	ids := r.dictIDs
	if !r.dictKey.matches(dict) {
		ids = resize(ids, dict.Len())
		for k := range ids {
			ids[k] = dictUnseen
		}
		r.dictKey.keep(dict)
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
		var v string
		if dict.kind == strOff32 { // Parquet's: Value, inlined
			b := dict.data[dict.off32[k]:dict.off32[k+1]]
			v = unsafe.String(unsafe.SliceData(b), len(b))
		} else {
			v = dict.Value(k)
		}
		if v == "" || dict.valid.isNull(k) {
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
