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
// slots[u*l0 : (u+1)*l0]). Each (user, partition) pair gets a priority from a
// keyed bijective hash with per-bounder random keys; a user keeps the l0
// partitions with the lowest priorities among all the partitions they touch,
// which is a uniformly random l0-subset. Streaming invariant: the kept slots
// hold the l0 lowest priorities among the partitions seen so far. A
// partition that is rejected or evicted has a priority above every kept one,
// and the kept maximum only decreases, so it can never come back; hence a
// partition that is kept at the end was kept from its first event and its
// counts are exact.

// slot is one kept (user, partition) pair.
type slot struct {
	prio uint64
	pp   uint32 // partition index + 1; 0 means the slot is empty
	n    uint32 // events (count) or non-NaN values (sum/mean/quantiles) seen, saturating
}

type bounder struct {
	kind   Kind
	l0     int
	linf   int
	lower  float64
	upper  float64
	k0, k1 uint64
	rng    *rand.Rand

	slots []slot
	sums  []float64 // sum: per slot, sum of clamped values
	vals  []float64 // mean/quantiles: per slot, linf reservoir-sampled clamped values
	// over has bit u set when user u touched more than l0 partitions (one
	// was rejected or evicted): the caps cut that user.
	over []uint64
}

func newBounder(o MetricOptions) (*bounder, error) {
	b := &bounder{kind: o.Kind, l0: o.MaxPartitions, linf: o.linf(), lower: o.Lower, upper: o.Upper}
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

func (b *bounder) users() int { return len(b.slots) / b.l0 }

func (b *bounder) grow(user uint32) {
	need := (int(user) + 1) * b.l0
	if need > cap(b.slots) {
		c := max(need, 2*cap(b.slots), 1024*b.l0)
		ns := make([]slot, len(b.slots), c)
		copy(ns, b.slots)
		b.slots = ns
	}
	b.slots = b.slots[:need]
	if words := (int(user) + 64) / 64; words > len(b.over) {
		b.over = append(b.over, make([]uint64, words-len(b.over))...)
	}
	switch b.kind {
	case KindSum:
		b.sums = growFloats(b.sums, need)
	case KindMean, KindQuantiles:
		b.vals = growFloats(b.vals, need*b.linf)
	}
}

func growFloats(s []float64, need int) []float64 {
	if need > cap(s) {
		ns := make([]float64, len(s), max(need, 2*cap(s)))
		copy(ns, s)
		s = ns
	}
	return s[:need]
}

func (b *bounder) clamp(v float64) float64 {
	return math.Min(math.Max(v, b.lower), b.upper)
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
			s[i] = slot{prio: b.prio(user, part), pp: pp}
			b.hitN(base+i, v, k)
			return
		}
	}
	b.over[user/64] |= 1 << (user % 64)
	p := b.prio(user, part)
	mi := 0
	for i := 1; i < len(s); i++ {
		if s[i].prio > s[mi].prio {
			mi = i
		}
	}
	if p >= s[mi].prio {
		return // rejected for good
	}
	s[mi] = slot{prio: p, pp: pp} // evict the highest priority
	switch b.kind {
	case KindSum:
		b.sums[base+mi] = 0
	}
	b.hitN(base+mi, v, k)
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
		r := b.vals[i*b.linf : (i+1)*b.linf]
		if c := int(sl.n); c < b.linf {
			r[c] = b.clamp(v)
		} else if j := b.rng.Uint64N(uint64(c) + 1); j < uint64(b.linf) {
			r[j] = b.clamp(v)
		}
		sl.n++
	}
}

// preAgg is the bounded, pre-noise state of every partition.
type preAgg struct {
	users  []int64     // kept users per partition
	total  []int64     // count: Σ min(events, l∞) per partition
	values [][]float64 // sum: per-user clamped sums; mean/quantiles: sampled values
}

// aggregate folds the per-user slots into per-partition aggregates over
// nPart partitions.
func (b *bounder) aggregate(nPart int) preAgg {
	pa := preAgg{users: make([]int64, nPart)}
	switch b.kind {
	case KindCount:
		pa.total = make([]int64, nPart)
	case KindSum, KindMean, KindQuantiles:
		pa.values = make([][]float64, nPart)
	}
	lo, hi := float64(b.linf)*b.lower, float64(b.linf)*b.upper
	for i, sl := range b.slots {
		if sl.pp == 0 || int(sl.pp-1) >= nPart {
			continue
		}
		p := sl.pp - 1
		switch b.kind {
		case KindUsers:
			pa.users[p]++
		case KindCount:
			pa.users[p]++
			pa.total[p] += int64(min(sl.n, uint32(b.linf)))
		case KindSum:
			if sl.n == 0 {
				continue
			}
			pa.users[p]++
			pa.values[p] = append(pa.values[p], math.Min(math.Max(b.sums[i], lo), hi))
		case KindMean, KindQuantiles:
			if sl.n == 0 {
				continue
			}
			pa.users[p]++
			k := min(int(sl.n), b.linf)
			pa.values[p] = append(pa.values[p], b.vals[i*b.linf:i*b.linf+k]...)
		}
	}
	return pa
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
		s := b.slots[u*b.l0 : (u+1)*b.l0]
		if s[0].pp == 0 {
			continue // no contribution (slots fill as a prefix)
		}
		c := b.overBit(u)
		for i := range s {
			if c || s[i].pp == 0 {
				break
			}
			switch b.kind {
			case KindCount, KindMean, KindQuantiles:
				c = s[i].n > uint32(b.linf)
			case KindSum:
				v := b.sums[u*b.l0+i]
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
