package datasets

import (
	"encoding/binary"
	"hash/maphash"
	"runtime"
	"unsafe"

	"github.com/dpstats/dpstats/internal/prefetch"
)

// internTable maps strings to dense ids with open addressing (linear
// probing, at most half full). It exists for speed: the user id of every
// event row is looked up here, and at 10⁵–10⁶ users every lookup is a
// cache miss. A slot holds a short key's bytes inline (most user ids are
// short), its id and a hash tag, so a lookup touches one cache line; and
// because the slot of a key is known from its hash alone, a batch of
// lookups can load the slots of the next keys ahead of time (see
// UserIndex.internStrings) instead of waiting for each miss in turn.
type internTable struct {
	slots []internSlot // len is a power of two
	arena []byte       // bytes of keys longer than inlineKey
	n     int
	seed  maphash.Seed
	// mapped holds slots' array when it is an anonymous memory map (see
	// allocSlots), unmapped when replaced or when the table is garbage.
	mapped *[]byte
}

// offHeapMin is the smallest slot array worth a memory map. The table of
// 10⁵–10⁶ users lives for the whole run and holds no pointers: outside the
// Go heap it does not raise the garbage collector's goal, so the decoded
// batches (garbage at a high rate) cannot pile up in proportion to users.
const offHeapMin = 1 << 20

const inlineKey = 16

type internSlot struct {
	// key holds the key's bytes when it is at most inlineKey long, else
	// its offset (8 bytes, little endian) in the arena.
	key  [inlineKey]byte
	klen uint32 // key length + 1; 0 marks an empty slot
	tag  uint32 // the hash's high 32 bits: most mismatches stop here
	id   uint32
}

// allocSlots returns n empty slots, from a memory map (returned too) when
// big enough and the OS has them, else from the heap (mem nil).
func allocSlots(n int) (slots []internSlot, mem []byte) {
	if size := n * int(unsafe.Sizeof(internSlot{})); size >= offHeapMin {
		if mem = mapZeroed(size); mem != nil {
			return unsafe.Slice((*internSlot)(unsafe.Pointer(unsafe.SliceData(mem))), n), mem
		}
	}
	return make([]internSlot, n), nil
}

func newInternTable() *internTable {
	t := &internTable{seed: maphash.MakeSeed(), slots: make([]internSlot, 1024), mapped: new([]byte)}
	runtime.AddCleanup(t, func(m *[]byte) {
		if *m != nil {
			unmap(*m)
		}
	}, t.mapped)
	return t
}

func (t *internTable) hash(s string) uint64 { return maphash.String(t.seed, s) }

// peek loads the first slot key hash h probes, so that a lookup of it a
// little later finds it in cache. The result means nothing.
func (t *internTable) peek(h uint64) uint32 {
	return t.slots[h&uint64(len(t.slots)-1)].tag
}

// prefetch starts loading the first slot key hash h probes (see peek).
func (t *internTable) prefetch(h uint64) {
	prefetch.Line(unsafe.Pointer(&t.slots[h&uint64(len(t.slots)-1)]))
}

// prefetchKey starts loading the arena bytes of the key in the first slot
// key hash h probes, if that key is long and has h's tag.
func (t *internTable) prefetchKey(h uint64) {
	sl := &t.slots[h&uint64(len(t.slots)-1)]
	n := uint64(sl.klen) - 1
	if sl.klen <= inlineKey+1 || sl.tag != uint32(h>>32) {
		return
	}
	if off := binary.LittleEndian.Uint64(sl.key[:8]); off+n <= uint64(len(t.arena)) {
		prefetch.Line(unsafe.Pointer(&t.arena[off]))
		prefetch.Line(unsafe.Pointer(&t.arena[off+n-1]))
	}
}

func (t *internTable) keyOf(sl *internSlot) string {
	n := int(sl.klen - 1)
	if n <= inlineKey {
		return string(sl.key[:n])
	}
	off := binary.LittleEndian.Uint64(sl.key[:8])
	return string(t.arena[off : off+uint64(n)])
}

func (t *internTable) equal(sl *internSlot, s string) bool {
	n := int(sl.klen - 1)
	if n != len(s) {
		return false
	}
	if n <= inlineKey {
		return string(sl.key[:n]) == s
	}
	off := binary.LittleEndian.Uint64(sl.key[:8])
	return string(t.arena[off:off+uint64(n)]) == s
}

// lookup returns the id of s, whose hash is h.
func (t *internTable) lookup(s string, h uint64) (uint32, bool) {
	tag := uint32(h >> 32)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.klen == 0 {
			return 0, false
		}
		if sl.tag == tag && t.equal(sl, s) {
			return sl.id, true
		}
	}
}

// insert adds s (hash h), which must not be in the table, with id. It
// copies s.
func (t *internTable) insert(s string, h uint64, id uint32) {
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	sl := &t.slots[t.free(h)]
	sl.klen, sl.tag, sl.id = uint32(len(s)+1), uint32(h>>32), id
	if len(s) <= inlineKey {
		copy(sl.key[:], s)
	} else {
		binary.LittleEndian.PutUint64(sl.key[:8], uint64(len(t.arena)))
		t.arena = append(t.arena, s...)
	}
	t.n++
}

// free returns the first empty slot for hash h.
func (t *internTable) free(h uint64) uint64 {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].klen != 0 {
		i = (i + 1) & mask
	}
	return i
}

func (t *internTable) grow() { t.resize(2 * len(t.slots)) }

// reserve makes room for n keys without growing.
func (t *internTable) reserve(n int) {
	size := len(t.slots)
	for 2*(n+1) > size {
		size *= 2
	}
	if size > len(t.slots) {
		t.resize(size)
	}
}

// resize moves the keys to a table of size slots (a power of two).
func (t *internTable) resize(size int) {
	old, oldMem := t.slots, *t.mapped
	t.slots, *t.mapped = allocSlots(size)
	for i := range old {
		if old[i].klen != 0 {
			t.slots[t.free(t.hash(t.keyOf(&old[i])))] = old[i]
		}
	}
	if oldMem != nil {
		unmap(oldMem) // old's array: nothing refers to it any more
	}
}
