package dp

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
)

// Contribution bounding. This is privacy-critical code: it is what makes the
// sensitivities passed to the library true.
//
// Every user owns MaxPartitions slots in one flat slice (user u owns
// slots[u*l0 : (u+1)*l0]; or small, bytes or vs, by layout: see slot16, the
// byte slot, vslot). Each (user, partition) pair gets a priority from a
// keyed bijective hash with per-bounder random keys; a user keeps the l0
// partitions with the lowest priorities among all the partitions they touch,
// which is a uniformly random l0-subset. Streaming invariant: the kept slots
// hold the l0 lowest priorities among the partitions seen so far. A
// partition that is rejected or evicted has a priority above every kept one,
// and the kept maximum only decreases, so it can never come back; hence a
// partition that is kept at the end was kept from its first event and its
// counts are exact.

// slot is one kept (user, partition) pair. Its priority is not stored: it
// is a function of (user, partition) and the bounder's keys (prio), computed
// again when a user touches more partitions than it keeps, which halves the
// per-user state.
type slot struct {
	pp uint32 // partition index + 1; 0 means the slot is empty
	n  uint32 // events (count) or non-NaN values (sum/mean/quantiles) seen, saturating
}

// slot16 is a kept (user, partition) pair of a count or users metric with
// public partitions, at most 65534 of them, and l∞ < 65535: 4 bytes. Its
// count saturates at 65535 > l∞; only min(n, l∞) and whether n > l∞ (the
// caps-cut estimate) are ever used, and both are exact under saturation.
type slot16 struct {
	pp uint16
	n  uint16
}

// vslot is a kept (user, partition) pair of a mean or quantiles metric
// with public partitions, at most 65534 of them (lazy values): 8 bytes,
// its l∞ sampled values in a chunk of the value store that it gets when
// the pair is first kept (a user who touches one partition holds one
// chunk, not l0), and keeps when an eviction gives the slot to another
// partition.
type vslot struct {
	pp  uint16 // partition index + 1; 0 means the slot is empty
	n   uint16 // values seen; nBig: the exact number is in bounder.bigN
	ref uint32 // its chunk: value cells ref×l∞ … ref×l∞+l∞−1
}

// nBig in vslot.n means that the slot has seen at least nBig values, and
// bigN holds the exact number (it takes a user with 65535 values in one
// partition: rare, so a map).
const nBig = math.MaxUint16

// maxChunks is the most chunks a lazy bounder hands out (a chunk index is
// a uint32); a bounder of more slots moves to the wide layout (toWide).
// A variable so that tests can make it small.
var maxChunks = math.MaxUint32

// A byte slot is a kept (user, partition) pair of a count or users metric
// with public partitions, at most 14 of them (with "other": partition + 1
// ≤ 15), and l∞ < 15: partition + 1 in the high 4 bits (0: empty), the
// count in the low 4, saturating at 15 > l∞: as with slot16, only
// min(n, l∞) and whether n > l∞ are ever used, and both are exact. Most
// dimensions of a usage report (device, platform, codec, resolution, a
// bucketed number) have that few values: 1 byte a slot instead of 4.
const (
	byteCount = 15 // the count saturates here
	byteParts = 15 // the highest partition + 1
)

type bounder struct {
	kind   Kind
	l0     int
	linf   int
	lower  float64
	upper  float64
	k0, k1 uint64
	rng    *rand.Rand

	slots []slot
	// small replaces slots for the metrics slot16 can hold (compact).
	small   []slot16
	compact bool
	// bytes replaces small for the metrics a byte slot can hold (see
	// byteCount); then compact is false.
	bytes    []uint8
	byteSlot bool
	sums     []float64 // sum: per slot, sum of clamped values
	// mean/quantiles: l∞ reservoir-sampled clamped values per slot, kept
	// exactly (see valueStore): slot i's at cells cell(i) … cell(i)+l∞−1.
	vals valueStore
	// lazy replaces slots for mean and quantiles with public partitions:
	// vs holds the slots, each with its own chunk of vals, handed out in
	// order (chunks so far).
	lazy   bool
	vs     []vslot
	chunks int
	bigN   map[int]uint32 // exact count of the vs slots whose n is nBig

	// over has bit u set when user u touched more than l0 partitions (one
	// was rejected or evicted): the caps cut that user. On the heap (a bit
	// per user).
	over []uint64

	maps *mappings // the arrays above that are memory maps (see growSlice)
}

// exact32 reports whether the bounds are exactly float32s of magnitude at
// most 2²⁴: then the values a run keeps (lower, upper, or the whole numbers
// between them that the event reader hands over) are exact in a float32,
// and a bounder starts with vals32. Any other value is still kept exactly:
// it moves the values to float64 (to64).
func exact32(lower, upper float64) bool {
	const limit = 1 << 24
	return lower >= -limit && upper <= limit &&
		float64(float32(lower)) == lower && float64(float32(upper)) == upper
}

func newBounder(o MetricOptions) (*bounder, error) {
	b := &bounder{kind: o.Kind, l0: o.MaxPartitions, linf: o.linf(), lower: o.Lower, upper: o.Upper}
	b.vals = newValueStore(o.Lower, o.Upper)
	b.compact = (o.Kind == KindCount || o.Kind == KindUsers) && !o.SelectPartitions &&
		len(o.Partitions)+1 <= math.MaxUint16-1 && b.linf < math.MaxUint16
	if b.compact && len(o.Partitions)+1 <= byteParts && b.linf < byteCount {
		b.compact, b.byteSlot = false, true
	}
	b.lazy = (o.Kind == KindMean || o.Kind == KindQuantiles) && !o.SelectPartitions &&
		len(o.Partitions)+1 <= math.MaxUint16-1
	b.maps = newMappings(b)
	var seed [32]byte
	if o.Seed != nil {
		binary.LittleEndian.PutUint64(seed[:], uint64(*o.Seed))
		r := rand.New(rand.NewPCG(uint64(*o.Seed), 0x9e3779b97f4a7c15))
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(seed[8*i:], r.Uint64())
		}
	} else if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("read random key: %w", err)
	}
	b.k0 = binary.LittleEndian.Uint64(seed[0:])
	b.k1 = binary.LittleEndian.Uint64(seed[8:])
	b.rng = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[16:]), binary.LittleEndian.Uint64(seed[24:])))
	return b, nil
}

// mix is the splitmix64 finalizer, a bijection on uint64.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// prio is a bijection of (user, partition) for fixed keys, so two partitions
// of one user never tie.
func (b *bounder) prio(user uint32, part int32) uint64 {
	x := uint64(user)<<32 | uint64(uint32(part))
	return mix(mix(x^b.k0) ^ b.k1)
}

func (b *bounder) users() int {
	switch {
	case b.compact:
		return len(b.small) / b.l0
	case b.byteSlot:
		return len(b.bytes) / b.l0
	case b.lazy:
		return len(b.vs) / b.l0
	}
	return len(b.slots) / b.l0
}

// numSlots is the number of slots, l0 per user.
func (b *bounder) numSlots() int { return b.users() * b.l0 }

// slotAt returns slot i's partition + 1 (0: empty) and count.
func (b *bounder) slotAt(i int) (pp, n uint32) {
	switch {
	case b.compact:
		return uint32(b.small[i].pp), uint32(b.small[i].n)
	case b.byteSlot:
		return uint32(b.bytes[i] >> 4), uint32(b.bytes[i] & byteCount)
	case b.lazy:
		return uint32(b.vs[i].pp), b.vn(i)
	}
	return b.slots[i].pp, b.slots[i].n
}

// vn is lazy slot i's count.
func (b *bounder) vn(i int) uint32 {
	if n := b.vs[i].n; n != nBig {
		return uint32(n)
	}
	return b.bigN[i]
}

// setVN sets lazy slot i's count.
func (b *bounder) setVN(i int, n uint32) {
	if n < nBig {
		b.vs[i].n = uint16(n)
		return
	}
	if b.bigN == nil {
		b.bigN = map[int]uint32{}
	}
	b.vs[i].n, b.bigN[i] = nBig, n
}

// cell is the first value cell of slot i (mean and quantiles).
func (b *bounder) cell(i int) int {
	if b.lazy {
		return int(b.vs[i].ref) * b.linf
	}
	return i * b.linf
}

// newChunk hands out the next chunk of l∞ value cells.
func (b *bounder) newChunk() uint32 {
	c := b.chunks
	b.chunks++
	b.vals.grow(b.maps, b.chunks*b.linf)
	return uint32(c)
}

// putSlot sets empty slot i to partition pp−1 with count n (a lazy slot
// gets its chunk).
func (b *bounder) putSlot(i int, pp, n uint32) {
	switch {
	case b.compact:
		b.small[i] = slot16{pp: uint16(pp), n: uint16(min(n, math.MaxUint16))}
	case b.byteSlot:
		b.bytes[i] = uint8(pp)<<4 | uint8(min(n, byteCount))
	case b.lazy:
		b.vs[i] = vslot{pp: uint16(pp), ref: b.newChunk()}
		b.setVN(i, n)
	default:
		b.slots[i] = slot{pp: pp, n: n}
	}
}

// toWide moves a lazy bounder to the wide layout (slots, and l∞ cells per
// slot in slot order), keeping every slot, count and value.
func (b *bounder) toWide() {
	slots := growSlice(b.maps, []slot(nil), len(b.vs))
	vals := b.vals
	vals.v16, vals.v32, vals.v64 = nil, nil, nil
	vals.grow(b.maps, len(b.vs)*b.linf)
	for i, v := range b.vs {
		if v.pp == 0 {
			continue
		}
		slots[i] = slot{pp: uint32(v.pp), n: b.vn(i)}
		vals.copyCells(b.maps, b.maps, &b.vals, i*b.linf, int(v.ref)*b.linf, b.linf)
	}
	b.maps.release(b.vs)
	switch b.vals.width {
	case w16:
		b.maps.release(b.vals.v16)
	case w32:
		b.maps.release(b.vals.v32)
	default:
		b.maps.release(b.vals.v64)
	}
	b.slots, b.vals, b.vs, b.bigN, b.chunks, b.lazy = slots, vals, nil, nil, 0, false
}

// copyUser copies user u's slots (and sums or values) from o, a bounder
// of the same metric; u has no slots in b.
func (b *bounder) copyUser(o *bounder, u int) {
	if o.overBit(u) {
		b.over[u/64] |= 1 << (u % 64)
	}
	for i := u * b.l0; i < (u+1)*b.l0; i++ {
		pp, n := o.slotAt(i)
		if pp == 0 {
			break // slots fill as a prefix
		}
		b.putSlot(i, pp, n)
		switch b.kind {
		case KindSum:
			b.sums[i] = o.sums[i]
		case KindMean, KindQuantiles:
			b.vals.copyCells(b.maps, o.maps, &o.vals, b.cell(i), o.cell(i), b.linf)
		}
	}
}

func (b *bounder) grow(user uint32) {
	need := (int(user) + 1) * b.l0
	if words := (int(user) + 64) / 64; words > len(b.over) {
		b.over = append(b.over, make([]uint64, words-len(b.over))...)
	}
	if b.lazy && need > maxChunks {
		b.toWide() // chunk indexes would not fit a uint32
	}
	switch {
	case b.compact:
		if cap(b.small) == 0 {
			b.small = growSlice(b.maps, b.small, max(need, 1024*b.l0))
		}
		b.small = growSlice(b.maps, b.small, need)
		return
	case b.byteSlot:
		if cap(b.bytes) == 0 {
			b.bytes = growSlice(b.maps, b.bytes, max(need, 1024*b.l0))
		}
		b.bytes = growSlice(b.maps, b.bytes, need)
		return
	case b.lazy:
		if cap(b.vs) == 0 {
			b.vs = growSlice(b.maps, b.vs, max(need, 1024*b.l0))
		}
		b.vs = growSlice(b.maps, b.vs, need)
		return
	}
	if cap(b.slots) == 0 {
		b.slots = growSlice(b.maps, b.slots, max(need, 1024*b.l0))
	}
	b.slots = growSlice(b.maps, b.slots, need)
	switch b.kind {
	case KindSum:
		b.sums = growSlice(b.maps, b.sums, need)
	case KindMean, KindQuantiles:
		b.vals.grow(b.maps, need*b.linf)
	}
}

// reserve sizes the state for users users at once (see Aggregator.Reserve).
func (b *bounder) reserve(users int) {
	if users > b.users() {
		b.grow(uint32(users - 1))
	}
	if b.lazy {
		// At most one chunk per slot: room for all of them, in a memory map
		// paid for only as chunks are handed out, so they never move.
		b.vals.reserve(b.maps, len(b.vs)*b.linf)
	}
}

// clamp clamps v (never NaN: NaN values are dropped before bounding) to
// [lower, upper]. Comparisons, not math.Min/Max: those are function calls
// on amd64 and handle NaN and signed zeros, which cannot matter here (a
// −0 kept for a lower bound of +0 adds the same to any sum).
func (b *bounder) clamp(v float64) float64 {
	if v < b.lower {
		return b.lower
	}
	if v > b.upper {
		return b.upper
	}
	return v
}

// add records one contribution; part must be ≥ 0.
func (b *bounder) add(user uint32, part int32, v float64) { b.addN(user, part, v, 1) }

// addN records k contributions of the same user to the same partition: k
// events for count and users (v is ignored), or one value v for the other
// kinds (k must then be 1; a NaN v is dropped before it touches anything:
// it takes no partition slot). The kept partitions depend only on which
// partitions a user touches, never on how often, so this is exactly k
// calls of add.
func (b *bounder) addN(user uint32, part int32, v float64, k uint32) {
	if math.IsNaN(v) && b.kind != KindCount && b.kind != KindUsers {
		return
	}
	switch {
	case b.compact:
		b.addN16(user, part, k)
		return
	case b.byteSlot:
		b.addN8(user, part, k)
		return
	case b.lazy:
		b.addLazy(user, part, v)
		return
	}
	base := int(user) * b.l0
	if base+b.l0 > len(b.slots) {
		b.grow(user)
	}
	s := b.slots[base : base+b.l0 : base+b.l0]
	pp := uint32(part) + 1
	for i := range s {
		switch s[i].pp {
		case pp:
			b.hitN(base+i, v, k)
			return
		case 0: // slots fill as a prefix: the first empty one ends the scan
			s[i] = slot{pp: pp}
			b.hitN(base+i, v, k)
			return
		}
	}
	mi := b.evictee(user, part, len(s), func(i int) uint32 { return s[i].pp })
	if mi < 0 {
		return // rejected for good
	}
	s[mi] = slot{pp: pp} // evict the highest priority
	switch b.kind {
	case KindSum:
		b.sums[base+mi] = 0
	}
	b.hitN(base+mi, v, k)
}

// addN8 is addN for byte-slot bounders (count and users: no values).
func (b *bounder) addN8(user uint32, part int32, k uint32) {
	base := int(user) * b.l0
	if base+b.l0 > len(b.bytes) {
		b.grow(user)
	}
	s := b.bytes[base : base+b.l0 : base+b.l0]
	pp := uint8(part) + 1
	k8 := uint8(min(k, byteCount))
	for i := range s {
		switch s[i] >> 4 {
		case pp:
			s[i] = pp<<4 | min(s[i]&byteCount+k8, byteCount) // saturating; ≤ 30, no overflow
			return
		case 0: // slots fill as a prefix: the first empty one ends the scan
			s[i] = pp<<4 | k8
			return
		}
	}
	evictLast(b, user, part, s, pp<<4|k8, bytePart)
}

// Byte and compact slots hold no values, and only the set of a user's
// kept (partition, count) pairs is ever read (aggregate, capsCut, Merge):
// their order within the user's slots is free. They use it to make the
// common case of evictee cheap. Invariant: once user's over bit is set
// (evictee ran for the user), the user's last slot holds the kept partition
// of highest priority, so a partition is rejected after two priorities
// (its own and that slot's) instead of l0 + 1.

// evictLast is evictee for compact slots s (byte or 16-bit), all taken,
// of user: part (new is its slot with its count) evicts the kept partition
// of highest priority if its own is lower, and is rejected for good
// otherwise. partOf reads a slot's partition.
func evictLast[S uint8 | slot16](b *bounder, user uint32, part int32, s []S, new S, partOf func(S) int32) {
	last := len(s) - 1
	p := b.prio(user, part)
	w, bit := user/64, uint64(1)<<(user%64)
	if b.over[w]&bit != 0 {
		if p >= b.prio(user, partOf(s[last])) {
			return // rejected for good
		}
	} else {
		b.over[w] |= bit
		mi, mp := 0, b.prio(user, partOf(s[0]))
		for i := 1; i < len(s); i++ {
			if q := b.prio(user, partOf(s[i])); q > mp {
				mi, mp = i, q
			}
		}
		s[mi], s[last] = s[last], s[mi]
		if p >= mp {
			return // rejected for good
		}
	}
	s[last] = new // evict the highest priority, then restore the invariant
	mi, mp := last, p
	for i := range last {
		if q := b.prio(user, partOf(s[i])); q > mp {
			mi, mp = i, q
		}
	}
	s[mi], s[last] = s[last], s[mi]
}

// bytePart is a byte slot's partition; slot16Part a compact slot's.
func bytePart(v uint8) int32    { return int32(v>>4) - 1 }
func slot16Part(v slot16) int32 { return int32(v.pp) - 1 }

// addN16 is addN for compact bounders (count and users: no values).
func (b *bounder) addN16(user uint32, part int32, k uint32) {
	base := int(user) * b.l0
	if base+b.l0 > len(b.small) {
		b.grow(user)
	}
	s := b.small[base : base+b.l0 : base+b.l0]
	pp := uint16(part) + 1
	for i := range s {
		switch s[i].pp {
		case pp:
			s[i].n += uint16(min(k, uint32(math.MaxUint16-s[i].n))) // saturating
			return
		case 0: // slots fill as a prefix: the first empty one ends the scan
			s[i] = slot16{pp: pp, n: uint16(min(k, math.MaxUint16))}
			return
		}
	}
	evictLast(b, user, part, s, slot16{pp: pp, n: uint16(min(k, math.MaxUint16))}, slot16Part)
}

// evictee is called when user's n slots are all taken and part is not among
// them: the caps cut this user (their over bit is set). Every partition has
// a per-user random priority (prio); the user keeps the n partitions with
// the lowest, so part evicts the slot whose partition has the highest
// priority if its own is lower, and is rejected for good (-1) otherwise.
// ppAt(i) is slot i's partition + 1.
func (b *bounder) evictee(user uint32, part int32, n int, ppAt func(int) uint32) int {
	b.over[user/64] |= 1 << (user % 64)
	p := b.prio(user, part)
	mi, maxPrio := 0, b.prio(user, int32(ppAt(0)-1))
	for i := 1; i < n; i++ {
		if q := b.prio(user, int32(ppAt(i)-1)); q > maxPrio {
			mi, maxPrio = i, q
		}
	}
	if p >= maxPrio {
		return -1
	}
	return mi
}

func (b *bounder) hitN(i int, v float64, k uint32) {
	sl := &b.slots[i]
	switch b.kind {
	case KindCount, KindUsers:
		sl.n += min(k, math.MaxUint32-sl.n) // saturating
	case KindSum:
		if math.IsNaN(v) {
			return
		}
		b.sums[i] += b.clamp(v)
		if sl.n < math.MaxUint32 {
			sl.n++
		}
	case KindMean, KindQuantiles:
		if math.IsNaN(v) || sl.n == math.MaxUint32 {
			return
		}
		b.sample(sl.n, i*b.linf, v)
		sl.n++
	}
}

// sample is reservoir sampling: the slot whose value cells start at cell
// has seen c values and keeps a uniform min(c, l∞)-subset of them; v,
// clamped, is value c+1.
func (b *bounder) sample(c uint32, cell int, v float64) {
	j := -1
	if int(c) < b.linf {
		j = int(c)
	} else if r := b.rng.Uint64N(uint64(c) + 1); r < uint64(b.linf) {
		j = int(r)
	}
	if j >= 0 {
		b.vals.set(b.maps, cell+j, b.clamp(v))
	}
}

// addLazy is addN for lazy bounders (mean and quantiles, public
// partitions; v is not NaN): the same choices as the wide slots make.
func (b *bounder) addLazy(user uint32, part int32, v float64) {
	base := int(user) * b.l0
	if base+b.l0 > len(b.vs) {
		b.grow(user)
		if !b.lazy {
			b.addN(user, part, v, 1)
			return
		}
	}
	s := b.vs[base : base+b.l0 : base+b.l0]
	pp := uint16(part) + 1
	for i := range s {
		switch s[i].pp {
		case pp:
			b.hitLazy(base+i, v)
			return
		case 0: // slots fill as a prefix: the first empty one ends the scan
			s[i] = vslot{pp: pp, ref: b.newChunk()}
			b.hitLazy(base+i, v)
			return
		}
	}
	mi := b.evictee(user, part, len(s), func(i int) uint32 { return uint32(s[i].pp) })
	if mi < 0 {
		return // rejected for good
	}
	if s[mi].n == nBig {
		delete(b.bigN, base+mi)
	}
	s[mi] = vslot{pp: pp, ref: s[mi].ref} // evict the highest priority; its chunk is reused
	b.hitLazy(base+mi, v)
}

func (b *bounder) hitLazy(i int, v float64) {
	n := b.vn(i)
	if n == math.MaxUint32 {
		return
	}
	b.sample(n, int(b.vs[i].ref)*b.linf, v)
	b.setVN(i, n+1)
}

// preAgg is the bounded, pre-noise state of every partition.
type preAgg struct {
	users  []int64     // kept users per partition
	total  []int64     // count: Σ min(events, l∞) per partition
	values [][]float64 // sum: per-user clamped sums; mean/quantiles: sampled values
}

// aggregate folds the per-user slots into per-partition aggregates over
// nPart partitions; with values, also the values of sum, mean and
// quantiles (see eachValue).
func (b *bounder) aggregate(nPart int, values bool) preAgg {
	pa := preAgg{users: make([]int64, nPart)}
	switch b.kind {
	case KindCount:
		pa.total = make([]int64, nPart)
	case KindSum, KindMean, KindQuantiles:
		if values {
			pa.values = make([][]float64, nPart)
			_ = b.eachValue(nPart, -1, func(p int, v float64) error {
				pa.values[p] = append(pa.values[p], v)
				return nil
			})
		}
	}
	for i, n := 0, b.numSlots(); i < n; i++ {
		pp, n := b.slotAt(i)
		if pp == 0 || int(pp-1) >= nPart {
			continue
		}
		p := pp - 1
		switch b.kind {
		case KindUsers:
			pa.users[p]++
		case KindCount:
			pa.users[p]++
			pa.total[p] += int64(min(n, uint32(b.linf)))
		case KindSum, KindMean, KindQuantiles:
			if n > 0 {
				pa.users[p]++
			}
		}
	}
	return pa
}

// eachValue calls fn with every value of the pre-noise state of a sum,
// mean or quantiles metric, partition by partition in slot order: sum:
// each kept slot's sum, clamped to l∞×[lower, upper]; mean and quantiles:
// each kept slot's min(n, l∞) sampled values; with only ≥ 0, those of
// partition only alone. It stops at fn's first error.
func (b *bounder) eachValue(nPart, only int, fn func(p int, v float64) error) error {
	lo, hi := float64(b.linf)*b.lower, float64(b.linf)*b.upper
	for i, n := 0, b.numSlots(); i < n; i++ {
		pp, n := b.slotAt(i)
		if pp == 0 || int(pp-1) >= nPart || n == 0 || only >= 0 && int(pp-1) != only {
			continue
		}
		p := int(pp - 1)
		switch b.kind {
		case KindSum:
			if err := fn(p, math.Min(math.Max(b.sums[i], lo), hi)); err != nil {
				return err
			}
		case KindMean, KindQuantiles:
			for c, k := b.cell(i), min(int(n), b.linf); k > 0; c, k = c+1, k-1 {
				if err := fn(p, b.vals.get(c)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// overBit reports whether user u touched more than l0 partitions.
func (b *bounder) overBit(u int) bool {
	return u/64 < len(b.over) && b.over[u/64]&(1<<(u%64)) != 0
}

// capsCut counts the users who contributed to the metric, split by whether
// the per-user caps cut them: they touched more than l0 partitions, or gave
// more than l∞ to a kept partition (count: events; mean and quantiles:
// values, of which l∞ were sampled; sum: their sum left l∞×[lower, upper]).
// Each user is in exactly one of the two counts, or in neither.
func (b *bounder) capsCut() (cut, kept int64) {
	lo, hi := float64(b.linf)*b.lower, float64(b.linf)*b.upper
	for u := 0; u < b.users(); u++ {
		if pp, _ := b.slotAt(u * b.l0); pp == 0 {
			continue // no contribution (slots fill as a prefix)
		}
		c := b.overBit(u)
		for i := u * b.l0; i < (u+1)*b.l0 && !c; i++ {
			pp, n := b.slotAt(i)
			if pp == 0 {
				break
			}
			switch b.kind {
			case KindCount, KindMean, KindQuantiles:
				// compact slots saturate at 65535 > l∞, byte slots at
				// 15 > l∞: still exact
				c = n > uint32(b.linf)
			case KindSum:
				v := b.sums[i]
				c = v < lo || v > hi
			}
		}
		if c {
			cut++
		} else {
			kept++
		}
	}
	return cut, kept
}
