package dp

import (
	"fmt"
	"math"
	"slices"
)

// Aggregator bounds the contributions of one metric and, at Release, hands
// the bounded aggregates to the library for noise. It is not safe for
// concurrent use: run one Aggregator per worker and Merge them.
type Aggregator struct {
	opt      MetricOptions
	b        *bounder
	maxPart  int32 // highest partition index seen (discovered partitions)
	released bool
	merged   bool
}

// NewAggregator validates opt and returns an empty Aggregator. Parameters the
// library would refuse (e.g. a sensitivity that overflows) are refused here,
// before any data is read.
func NewAggregator(opt MetricOptions) (*Aggregator, error) {
	if err := opt.Validate(); err != nil {
		return nil, fmt.Errorf("NewAggregator: %w", err)
	}
	opt.Partitions = slices.Clone(opt.Partitions)
	opt.Ranks = slices.Clone(opt.Ranks)
	// Probe the library with the real parameters on an empty partition.
	if _, err := newPartitionAgg(opt); err != nil {
		return nil, fmt.Errorf("NewAggregator: metric %q: %w", opt.Name, err)
	}
	if err := opt.checkZCDP(); err != nil {
		return nil, fmt.Errorf("NewAggregator: metric %q: %w", opt.Name, err)
	}
	if opt.SelectPartitions {
		if _, err := newSelector(opt); err != nil {
			return nil, fmt.Errorf("NewAggregator: metric %q: %w", opt.Name, err)
		}
	}
	b, err := newBounder(opt)
	if err != nil {
		return nil, fmt.Errorf("NewAggregator: metric %q: %w", opt.Name, err)
	}
	return &Aggregator{opt: opt, b: b, maxPart: -1}, nil
}

// Options returns the metric's options.
func (a *Aggregator) Options() MetricOptions { return a.opt }

func (a *Aggregator) public() bool { return !a.opt.SelectPartitions }

// Add records one contribution of a user to a partition. user is a dense
// interned user index (memory is proportional to the highest index ×
// MaxPartitions). With public partitions, partition is 0..len(Partitions)-1,
// or len(Partitions) for "other"; any index out of that range also goes to
// "other" (or, with NoOther, is dropped). With discovered partitions, partition is any dense index ≥ 0
// whose name is given at Release; negative indexes are dropped. value is
// ignored by count and users; for sum, mean and quantiles a NaN value is
// dropped before bounding (it takes none of the user's MaxPartitions), and
// other values are clamped to [Lower, Upper].
func (a *Aggregator) Add(user uint32, partition int32, value float64) {
	if p, ok := a.partition(partition); ok {
		a.b.add(user, p, value)
	}
}

// partition maps an Add's partition index to the one the bounder keeps
// (out-of-range public indexes to "other"), or false to drop it.
func (a *Aggregator) partition(p int32) (int32, bool) {
	if a.released || a.merged {
		return 0, false
	}
	if a.public() {
		if other := int32(len(a.opt.Partitions)); p < 0 || p > other || (a.opt.NoOther && p == other) {
			if a.opt.NoOther {
				return 0, false
			}
			p = other
		}
	} else if p < 0 {
		return 0, false
	}
	a.maxPart = max(a.maxPart, p)
	return p, true
}

// Reserve allocates the per-user state for user indexes below users at
// once, instead of growing it as higher indexes arrive: less copying, and
// no garbage from the doubling. It changes nothing else.
func (a *Aggregator) Reserve(users int) {
	if a.released || a.merged || users <= 0 || users > 1<<32 {
		return
	}
	a.b.reserve(users)
}

// AddEvents records n events of a user in a partition, exactly as n calls of
// Add with no value would: for count and users metrics, whose
// contributions carry no value. For the other kinds it does nothing (their
// values must be added one by one). n ≤ 0 does nothing.
func (a *Aggregator) AddEvents(user uint32, partition int32, n int) {
	if n <= 0 || (a.opt.Kind != KindCount && a.opt.Kind != KindUsers) {
		return
	}
	if p, ok := a.partition(partition); ok {
		a.b.addN(user, p, 0, uint32(min(n, math.MaxUint32)))
	}
}

// sameOptions reports whether two aggregators compute the same metric with
// the same parameters (the Seed hook is ignored).
func sameOptions(x, y MetricOptions) bool {
	return x.Name == y.Name && x.Kind == y.Kind && x.Epsilon == y.Epsilon && x.Delta == y.Delta && x.Rho == y.Rho &&
		x.noiseKind() == y.noiseKind() && x.MaxPartitions == y.MaxPartitions && x.linf() == y.linf() &&
		x.Lower == y.Lower && x.Upper == y.Upper && slices.Equal(x.Ranks, y.Ranks) &&
		slices.Equal(x.Partitions, y.Partitions) && x.SelectPartitions == y.SelectPartitions &&
		x.confidence() == y.confidence() && x.CapsCutFraction == y.CapsCutFraction && x.NoOther == y.NoOther
}

// Merge folds b, which must have seen a disjoint set of users (workers that
// shard users by id), into a. b is consumed. It is an error if the options
// differ, if either side was released, or if a user has contributions in
// both (then the bounding would no longer hold).
func (a *Aggregator) Merge(b *Aggregator) error {
	switch {
	case a == b:
		return fmt.Errorf("Merge: metric %q: cannot merge an aggregator into itself", a.opt.Name)
	case !sameOptions(a.opt, b.opt):
		return fmt.Errorf("Merge: metric %q with metric %q: options differ", a.opt.Name, b.opt.Name)
	case a.released || b.released || a.merged || b.merged:
		return fmt.Errorf("Merge: metric %q: an aggregator was already released or merged", a.opt.Name)
	}
	l0 := a.b.l0
	au := a.b.users()
	for u := 0; u < b.b.users() && u < au; u++ {
		bp, _ := b.b.slotAt(u * l0)
		ap, _ := a.b.slotAt(u * l0)
		if bp != 0 && ap != 0 {
			return fmt.Errorf("Merge: metric %q: user index %d has contributions in both aggregators; shard users, not events", a.opt.Name, u)
		}
	}
	if bu := b.b.users(); bu > au {
		a.b.grow(uint32(bu - 1))
	}
	for u := 0; u < b.b.users(); u++ {
		if bp, _ := b.b.slotAt(u * l0); bp == 0 {
			continue
		}
		a.b.copyUser(b.b, u)
	}
	a.maxPart = max(a.maxPart, b.maxPart)
	b.merged = true
	b.b = nil
	return nil
}

// numPartitions is the number of partition indexes in the pre-noise state.
func (a *Aggregator) numPartitions() int {
	switch {
	case a.public() && a.opt.NoOther:
		return len(a.opt.Partitions)
	case a.public():
		return len(a.opt.Partitions) + 1
	}
	return int(a.maxPart) + 1
}

// preNoise returns the bounded, pre-noise aggregates. Tests use it; it never
// leaves the package.
func (a *Aggregator) preNoise() preAgg {
	return a.b.aggregate(a.numPartitions(), true)
}

// AddEventRuns records, for every i, ns[i] events of users[i] in partition
// parts[i]: exactly what AddEvents(users[i], parts[i], ns[i]) in that order
// would, at the cost of one call (a feed hands over a batch's runs at once).
// users, parts and ns must have the same length.
func (a *Aggregator) AddEventRuns(users []uint32, parts []int32, ns []uint32) {
	if a.opt.Kind != KindCount && a.opt.Kind != KindUsers || a.released || a.merged {
		return
	}
	parts, ns = parts[:len(users)], ns[:len(users)]
	b, pub, noOther, other := a.b, a.public(), a.opt.NoOther, int32(len(a.opt.Partitions))
	maxPart := a.maxPart
	for i, u := range users {
		if j := i + prefetchAhead; j < len(users) && users[j] != u {
			b.prefetchUser(users[j])
		}
		p, n := parts[i], ns[i]
		switch {
		case n == 0:
			continue
		case !pub:
			if p < 0 {
				continue
			}
		case p < 0 || p > other || noOther && p == other:
			if noOther {
				continue
			}
			p = other
		}
		maxPart = max(maxPart, p)
		switch {
		case b.byteSlot:
			// addN8, inlined: the common case is a slot the user already
			// holds, or their next empty one.
			base := int(u) * b.l0
			if base+b.l0 > len(b.bytes) {
				b.grow(u)
			}
			s := b.bytes[base : base+b.l0 : base+b.l0]
			pp, k8 := uint8(p)+1, uint8(min(n, byteCount))
			j := 0
			for ; j < len(s); j++ {
				if v := s[j]; v>>4 == pp {
					s[j] = pp<<4 | min(v&byteCount+k8, byteCount) // saturating; ≤ 30, no overflow
					break
				} else if v == 0 { // slots fill as a prefix
					s[j] = pp<<4 | k8
					break
				}
			}
			if j == len(s) {
				evictLast(b, u, p, s, pp<<4|k8, bytePart)
			}
		case b.compact:
			b.addN16(u, p, n)
		default:
			b.addN(u, p, 0, n)
		}
	}
	a.maxPart = maxPart
}

// AddValues records, for every i, the contribution vals[i] of users[i] to
// partition parts[i]: exactly what Add(users[i], parts[i], vals[i]) in that
// order would. users, parts and vals must have the same length.
func (a *Aggregator) AddValues(users []uint32, parts []int32, vals []float64) {
	parts, vals = parts[:len(users)], vals[:len(users)]
	for i, u := range users {
		if j := i + prefetchAhead; j < len(users) && users[j] != u {
			a.b.prefetchUser(users[j])
		}
		if p, ok := a.partition(parts[i]); ok {
			a.b.addN(u, p, vals[i], 1)
		}
	}
}
