package dp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestAddEventRunsEqualsAddEvents: AddEventRuns and AddValues make exactly
// the calls AddEvents and Add would, in order, in every slot layout (byte,
// 16-bit, wide, lazy; public and discovered partitions; with NoOther),
// including out-of-range and negative partitions, zero counts, counts that
// saturate a byte or a 16-bit slot, NaN values, and heavy users whose
// partitions are evicted and rejected many times.
func TestAddEventRunsEqualsAddEvents(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	type run struct {
		user uint32
		part int32
		n    uint32
		v    float64
	}
	var runs []run
	for i := 0; i < 20000; i++ {
		u := uint32(r.IntN(400))
		if i%3 == 0 {
			u = uint32(r.IntN(8)) // heavy users: many partitions, many evictions
		}
		rn := run{u, int32(r.IntN(14)) - 1, uint32(r.IntN(20)), r.Float64()*30 - 5}
		switch i % 97 {
		case 0:
			rn.n = 70_000 // saturates a 16-bit count
		case 1:
			rn.v = math.NaN()
		}
		runs = append(runs, rn)
	}
	users := make([]uint32, len(runs))
	parts := make([]int32, len(runs))
	ns := make([]uint32, len(runs))
	vals := make([]float64, len(runs))
	for i, rn := range runs {
		users[i], parts[i], ns[i], vals[i] = rn.user, rn.part, rn.n, rn.v
	}
	type layout struct {
		name  string
		parts int
		linf  int
		sel   bool
		other bool // NoOther
	}
	for _, l := range []layout{
		{"byte", 6, 4, false, false},
		{"byte-noother", 6, 4, false, true},
		{"compact", 20, 10, false, false},
		{"compact-linf", 6, 15, false, false},
		{"selected", 0, 4, true, false},
	} {
		var names []string
		if !l.sel {
			names = publicNames(l.parts)
		}
		for _, opt := range allKinds(names) {
			opt.SelectPartitions, opt.NoOther = l.sel, l.other
			if l.sel {
				opt.Delta = 1e-6
			}
			if opt.Kind != KindUsers {
				opt.MaxPerPartition = l.linf
			}
			t.Run(fmt.Sprintf("%s/%s", l.name, opt.Kind), func(t *testing.T) {
				opt.Seed = seed(17)
				batch, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				one, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				value := opt.Kind != KindCount && opt.Kind != KindUsers
				// in chunks of varied sizes, as a feed hands them over
				for lo := 0; lo < len(runs); {
					hi := min(len(runs), lo+1+r.IntN(700))
					if value {
						batch.AddValues(users[lo:hi], parts[lo:hi], vals[lo:hi])
					} else {
						batch.AddEventRuns(users[lo:hi], parts[lo:hi], ns[lo:hi])
					}
					lo = hi
				}
				for _, rn := range runs {
					if value {
						one.Add(rn.user, rn.part, rn.v)
					} else {
						one.AddEvents(rn.user, rn.part, int(rn.n))
					}
				}
				got, want := batch.preNoise(), one.preNoise()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("batched %+v, one by one %+v", got, want)
				}
				if len(want.users) == 0 || want.users[0] == 0 {
					t.Errorf("no users kept in partition 0: the test feeds nothing")
				}
				gc, gk := batch.b.capsCut()
				wc, wk := one.b.capsCut()
				if gc != wc || gk != wk {
					t.Errorf("caps cut %d/%d, one by one %d/%d", gc, gk, wc, wk)
				}
				if wc == 0 {
					t.Errorf("no user cut: the test exercises no eviction")
				}
			})
		}
	}
}

// TestEvictionKeepsLowestPriorities: byte and 16-bit slots reorder a cut
// user's slots (the highest priority last); whatever the order in which a
// user touches partitions, the kept partitions are exactly the l0 of lowest
// priority among those touched, and a kept partition's count is exact.
func TestEvictionKeepsLowestPriorities(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		parts, l0, linf int
		byteSlot        bool
	}{{14, 1, 4, true}, {14, 2, 4, true}, {14, 5, 14, true}, {40, 3, 10, false}, {40, 1, 10, false}, {300, 7, 100, false}} {
		t.Run(fmt.Sprintf("parts=%d/l0=%d/linf=%d", tc.parts, tc.l0, tc.linf), func(t *testing.T) {
			opt := MetricOptions{Name: "c", Kind: KindCount, Epsilon: 1, MaxPartitions: tc.l0, MaxPerPartition: tc.linf,
				Partitions: publicNames(tc.parts), Seed: seed(5)}
			a, err := NewAggregator(opt)
			if err != nil {
				t.Fatal(err)
			}
			if a.b.byteSlot != tc.byteSlot || a.b.compact == tc.byteSlot {
				t.Fatalf("byte slots %v, 16-bit %v; want byte slots %v", a.b.byteSlot, a.b.compact, tc.byteSlot)
			}
			const users = 300
			counts := make([]map[int32]uint32, users)
			for u := range counts {
				counts[u] = map[int32]uint32{}
			}
			for range 30000 {
				u := uint32(r.IntN(users))
				p := int32(r.IntN(tc.parts + 1))
				n := uint32(1 + r.IntN(3))
				if r.IntN(2) == 0 {
					a.AddEvents(u, p, int(n))
				} else {
					a.AddEventRuns([]uint32{u}, []int32{p}, []uint32{n})
				}
				counts[u][p] += n
			}
			for u := range uint32(users) {
				// the l0 touched partitions of lowest priority, with their counts
				want := map[uint32]uint32{}
				var ps []int32
				for p := range counts[u] {
					ps = append(ps, p)
				}
				for range min(tc.l0, len(ps)) {
					bi := 0
					for i := range ps {
						if a.b.prio(u, ps[i]) < a.b.prio(u, ps[bi]) {
							bi = i
						}
					}
					want[uint32(ps[bi])+1] = min(counts[u][ps[bi]], 15)
					ps = append(ps[:bi], ps[bi+1:]...)
				}
				got := map[uint32]uint32{}
				for i := int(u) * tc.l0; i < int(u+1)*tc.l0; i++ {
					if pp, n := a.b.slotAt(i); pp != 0 {
						got[pp] = min(n, 15)
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("user %d keeps %v (partition+1: count, at most 15), want %v", u, got, want)
				}
				if over := len(counts[u]) > tc.l0; a.b.overBit(int(u)) != over {
					t.Fatalf("user %d: over bit %v, touched %d partitions of %d", u, !over, len(counts[u]), tc.l0)
				}
			}
		})
	}
}
