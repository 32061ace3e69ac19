package dp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"
)

func seed(s int64) *int64 { return &s }

type event struct {
	user uint32
	part int32
	v    float64
}

// population returns events of nUsers users over nPart partitions.
func population(r *rand.Rand, nUsers, nPart, maxEvents int) []event {
	var ev []event
	for u := 0; u < nUsers; u++ {
		n := 1 + r.IntN(maxEvents)
		for i := 0; i < n; i++ {
			ev = append(ev, event{uint32(u), int32(r.IntN(nPart)), r.Float64()*30 - 5})
		}
	}
	r.Shuffle(len(ev), func(i, j int) { ev[i], ev[j] = ev[j], ev[i] })
	return ev
}

func feed(t testing.TB, opt MetricOptions, ev []event) *Aggregator {
	t.Helper()
	a, err := NewAggregator(opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ev {
		a.Add(e.user, e.part, e.v)
	}
	return a
}

func publicNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = string(rune('a' + i))
	}
	return s
}

func allKinds(parts []string) []MetricOptions {
	base := MetricOptions{Epsilon: 1, MaxPartitions: 3, MaxPerPartition: 4, Lower: 0, Upper: 20, Partitions: parts, Ranks: []float64{0.5, 0.9}}
	var out []MetricOptions
	for _, k := range []Kind{KindCount, KindUsers, KindSum, KindMean, KindQuantiles} {
		o := base
		o.Name, o.Kind = string(k), k
		out = append(out, o)
	}
	return out
}

// TestBoundingAdversarialUser adds one user with a huge number of events
// over every partition and checks that the pre-noise aggregates move by at
// most l0×l∞ in total and in at most l0 partitions.
func TestBoundingAdversarialUser(t *testing.T) {
	events := 1_000_000
	if testing.Short() {
		events = 200_000
	}
	// 20 partitions: 4-byte count slots; 8: 1-byte count slots
	for _, nPart := range []int{20, 8} {
		adversarialUser(t, nPart, events)
	}
}

func adversarialUser(t *testing.T, nPart, events int) {
	r := rand.New(rand.NewPCG(1, 2))
	base := population(r, 300, nPart, 30)
	adv := uint32(300)
	var attack []event
	for i := 0; i < events; i++ {
		attack = append(attack, event{adv, int32(i % (nPart + 1)), 1e9}) // value far above Upper
	}
	for _, opt := range allKinds(publicNames(nPart)) {
		t.Run(fmt.Sprintf("%s/partitions=%d", opt.Kind, nPart), func(t *testing.T) {
			opt.Seed = seed(7)
			d := feed(t, opt, base).preNoise()
			d2 := feed(t, opt, append(append([]event{}, base...), attack...)).preNoise()
			l0, linf := opt.MaxPartitions, opt.linf()
			touched := 0
			var dUsers, dTotal int64
			var dSum float64
			dValues := 0
			for p := range d.users {
				changed := false
				if x := d2.users[p] - d.users[p]; x != 0 {
					changed = true
					dUsers += x
					if x != 1 {
						t.Errorf("partition %d: users changed by %d, want 0 or 1", p, x)
					}
				}
				if d.total != nil {
					if x := d2.total[p] - d.total[p]; x != 0 {
						changed = true
						dTotal += x
					}
				}
				if d.values != nil {
					if x := len(d2.values[p]) - len(d.values[p]); x != 0 {
						changed = true
						dValues += x
						if x > linf && opt.Kind != KindSum {
							t.Errorf("partition %d: %d values added, want ≤ l∞ = %d", p, x, linf)
						}
					}
					dSum += sum(d2.values[p]) - sum(d.values[p])
				}
				if changed {
					touched++
				}
			}
			if got, want := touched, l0; got != want {
				t.Errorf("partitions touched = %d, want exactly l0 = %d", got, want)
			}
			if dUsers > int64(l0) {
				t.Errorf("users changed by %d in total, want ≤ %d", dUsers, l0)
			}
			if got, want := dTotal, int64(l0*linf); opt.Kind == KindCount && got != want {
				t.Errorf("count changed by %d in total, want l0×l∞ = %d", got, want)
			}
			switch opt.Kind {
			case KindSum:
				if got, want := dSum, float64(l0*linf)*opt.Upper; got != want {
					t.Errorf("sum changed by %v in total, want l0×l∞×upper = %v", got, want)
				}
			case KindMean, KindQuantiles:
				if got, want := dValues, l0*linf; got != want {
					t.Errorf("values added = %d, want l0×l∞ = %d", got, want)
				}
				if got, want := dSum, float64(l0*linf)*opt.Upper; got != want {
					t.Errorf("values changed by %v in total, want %v (all clamped to upper)", got, want)
				}
			}
		})
	}
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// TestPartitionChoiceIsUniform checks with a chi-square test that the kept
// partitions are a uniformly random l0-subset, whatever the order and the
// number of events: the first partition seen has many events and is not
// favoured. 14 degrees of freedom; critical value 48.72 gives a false
// failure rate of 1e-5.
func TestPartitionChoiceIsUniform(t *testing.T) {
	const m, l0 = 6, 2
	trials := 15000
	if testing.Short() {
		trials = 6000
	}
	counts := map[[2]uint32]int{}
	for i := 0; i < trials; i++ {
		a, err := NewAggregator(MetricOptions{Name: "x", Kind: KindUsers, Epsilon: 1, MaxPartitions: l0, Partitions: publicNames(m - 1)})
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < m; p++ {
			for k := 0; k < 10-p; k++ {
				a.Add(0, int32(p), 0)
			}
		}
		var kept [2]uint32
		for i := range l0 {
			kept[i], _ = a.b.slotAt(i)
		}
		if kept[0] > kept[1] {
			kept[0], kept[1] = kept[1], kept[0]
		}
		counts[kept]++
	}
	if got, want := len(counts), 15; got != want {
		t.Fatalf("%d distinct subsets kept, want %d", got, want)
	}
	exp := float64(trials) / 15
	var chi2 float64
	for _, c := range counts {
		chi2 += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi2 > 48.72 {
		t.Errorf("chi-square = %.1f over 15 subsets, want ≤ 48.72 (uniform choice); counts %v", chi2, counts)
	}
}

// TestValueSamplingIsUniform checks that mean/quantiles keep a uniform
// l∞-subset of a user's values (reservoir sampling): 10 pairs out of 5
// values, 9 degrees of freedom, critical value 39.34 (false failure rate 1e-5).
func TestValueSamplingIsUniform(t *testing.T) {
	trials := 10000
	if testing.Short() {
		trials = 4000
	}
	counts := map[[2]float64]int{}
	a, err := NewAggregator(MetricOptions{Name: "x", Kind: KindMean, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 2, Lower: 0, Upper: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < trials; i++ {
		u := uint32(i)
		for v := 1; v <= 5; v++ {
			a.Add(u, 0, float64(v))
		}
	}
	vals := a.preNoise().values[0]
	for i := 0; i+1 < len(vals); i += 2 {
		k := [2]float64{math.Min(vals[i], vals[i+1]), math.Max(vals[i], vals[i+1])}
		counts[k]++
	}
	if got, want := len(counts), 10; got != want {
		t.Fatalf("%d distinct pairs, want %d: %v", got, want, counts)
	}
	exp := float64(trials) / 10
	var chi2 float64
	for _, c := range counts {
		chi2 += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi2 > 39.34 {
		t.Errorf("chi-square = %.1f, want ≤ 39.34; counts %v", chi2, counts)
	}
}

// TestConsentInvariance: the consent filter lives upstream (datasets); a user
// filtered out there never reaches Add. The pre-noise state with and without
// that user's events filtered out is identical bit for bit, even though the
// user still holds an interned index in the middle of the others, and for
// count, users and sum it also does not depend on the order of events.
func TestConsentInvariance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ev := population(r, 200, 8, 40)
	const withdrawn = 57
	var consented []event
	for _, e := range ev {
		if e.user != withdrawn {
			consented = append(consented, e)
		}
	}
	for _, opt := range allKinds(publicNames(7)) {
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(11)
			without := feed(t, opt, consented).preNoise()
			// The same stream with the withdrawn user's events dropped by the
			// upstream filter as it streams.
			a, err := NewAggregator(opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ev {
				if e.user == withdrawn { // consent filter
					continue
				}
				a.Add(e.user, e.part, e.v)
			}
			if got := a.preNoise(); !reflect.DeepEqual(got, without) {
				t.Errorf("pre-noise state differs when the withdrawn user's events are filtered upstream")
			}
			// Power check: if the user were not filtered, the state changes.
			if with := feed(t, opt, ev).preNoise(); reflect.DeepEqual(with, without) {
				t.Errorf("adding the withdrawn user's events changed nothing: the test has no power")
			}
			if opt.Kind == KindCount || opt.Kind == KindUsers {
				shuffled := append([]event{}, consented...)
				r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if got := feed(t, opt, shuffled).preNoise(); !reflect.DeepEqual(got, without) {
					t.Errorf("pre-noise state depends on the order of events")
				}
			}
		})
	}
}

// TestMergeEqualsSingle: sharding users across workers and merging gives the
// same pre-noise state as one aggregator.
func TestMergeEqualsSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ev := population(r, 300, 6, 20)
	for _, opt := range allKinds(publicNames(5))[:3] { // count, users, sum: no sampling randomness
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(3)
			want := feed(t, opt, ev).preNoise()
			var shards [3][]event
			for _, e := range ev {
				shards[e.user%3] = append(shards[e.user%3], e)
			}
			a := feed(t, opt, shards[0])
			for _, s := range shards[1:] {
				if err := a.Merge(feed(t, opt, s)); err != nil {
					t.Fatal(err)
				}
			}
			got := a.preNoise()
			if !reflect.DeepEqual(got.users, want.users) || !reflect.DeepEqual(got.total, want.total) {
				t.Errorf("merged state %+v, want %+v", got, want)
			}
			for p := range want.values {
				if math.Abs(sum(got.values[p])-sum(want.values[p])) > 1e-9 {
					t.Errorf("partition %d: merged sum %v, want %v", p, sum(got.values[p]), sum(want.values[p]))
				}
			}
		})
	}
}

func TestMergeErrors(t *testing.T) {
	opt := validCount()
	a := feed(t, opt, []event{{1, 0, 0}})
	b := feed(t, opt, []event{{1, 1, 0}})
	if err := a.Merge(b); err == nil {
		t.Errorf("Merge of overlapping users = nil, want error")
	}
	other := opt
	other.Epsilon = 2
	if err := a.Merge(feed(t, other, nil)); err == nil {
		t.Errorf("Merge with different options = nil, want error")
	}
	if err := a.Merge(a); err == nil {
		t.Errorf("Merge into itself = nil, want error")
	}
}

func TestAddOutOfRangeGoesToOther(t *testing.T) {
	opt := validCount() // partitions hevc, av1; other = 2
	opt.MaxPartitions = 3
	a := feed(t, opt, []event{{0, -1, 0}, {1, 99, 0}, {2, 2, 0}, {3, 0, 0}})
	if got, want := a.preNoise().users, []int64{1, 0, 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("users per partition = %v, want %v", got, want)
	}
}

// TestReserveChangesNothing checks that reserving per-user state up front
// (more users than there are, fewer, or none) leaves the bounded
// aggregates exactly as they were: same seed, same choices, same state.
func TestReserveChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ev := population(r, 500, 6, 20)
	for _, opt := range allKinds(publicNames(5)) {
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(11)
			want := feed(t, opt, ev).preNoise()
			for _, users := range []int{0, 1, 100, 500, 5000} {
				a, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				a.Reserve(users)
				for _, e := range ev {
					a.Add(e.user, e.part, e.v)
				}
				if got := a.preNoise(); !reflect.DeepEqual(got, want) {
					t.Errorf("Reserve(%d): bounded state differs from no reservation", users)
				}
			}
		})
	}
}

// TestAddEventsEqualsRepeatedAdd checks that AddEvents(u, p, n) leaves the
// bounded state exactly as n calls of Add(u, p, NaN) do, for count and
// users, including runs longer than max_per_partition, partitions out of
// range and n ≤ 0; and that it does nothing for kinds that carry values.
func TestAddEventsEqualsRepeatedAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	type run struct {
		user uint32
		part int32
		n    int
	}
	var runs []run
	for i := 0; i < 5000; i++ {
		runs = append(runs, run{uint32(r.IntN(300)), int32(r.IntN(9)) - 1, r.IntN(25) - 2})
	}
	for _, opt := range allKinds(publicNames(5)) {
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(13)
			one, err := NewAggregator(opt)
			if err != nil {
				t.Fatal(err)
			}
			many, _ := NewAggregator(opt)
			for _, rn := range runs {
				one.AddEvents(rn.user, rn.part, rn.n)
				if opt.Kind == KindCount || opt.Kind == KindUsers {
					for k := 0; k < rn.n; k++ {
						many.Add(rn.user, rn.part, math.NaN())
					}
				}
			}
			if got, want := one.preNoise(), many.preNoise(); !reflect.DeepEqual(got, want) {
				t.Errorf("AddEvents state %+v, repeated Add %+v", got, want)
			}
		})
	}
}

// TestValuesKeptExactly: the 16-bit and float32 stores of mean and
// quantile values keep exactly what the float64 store keeps; the first
// value that is not a whole number moves every value to float32 (if it is
// one) and the first that is not a float32 moves them to float64, without
// changing any, in the lazy and in the wide layout.
func TestValuesKeptExactly(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ev := population(r, 300, 4, 12)
	for i := range ev {
		ev[i].v = math.Round(ev[i].v * 600) // whole numbers, some outside the bounds
	}
	for _, opt := range allKinds(publicNames(3))[3:] { // mean, quantiles
		for _, lazy := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/lazy=%v", opt.Kind, lazy), func(t *testing.T) {
				opt.Lower, opt.Upper, opt.Seed = -100, 14400, seed(9)
				a, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				if a.b.vals.width != w16 || !a.b.lazy {
					t.Fatalf("whole values within 65535 of a whole lower bound: want the 16-bit store and lazy slots, have %d bits, lazy %v", a.b.vals.width, a.b.lazy)
				}
				a.b.lazy = lazy
				ref.b.lazy, ref.b.vals.width = false, w64
				for _, e := range ev {
					a.Add(e.user, e.part, e.v)
					ref.Add(e.user, e.part, e.v)
				}
				if got, want := a.preNoise(), ref.preNoise(); !reflect.DeepEqual(got, want) {
					t.Fatalf("16-bit store kept %v, float64 store %v", got.values, want.values)
				}
				for _, step := range []struct {
					user  uint32
					v     float64
					width uint8
				}{{1000, 0.5, w32}, {1001, 14400, w32}, {1002, 0.1, w64}, {1003, -100, w64}} {
					a.Add(step.user, 0, step.v) // a new user: the value is kept
					ref.Add(step.user, 0, step.v)
					if a.b.vals.width != step.width {
						t.Fatalf("after %v: a %d-bit store, want %d", step.v, a.b.vals.width, step.width)
					}
					if got, want := a.preNoise(), ref.preNoise(); !reflect.DeepEqual(got, want) {
						t.Fatalf("after %v: kept %v, want %v", step.v, got.values, want.values)
					}
				}
			})
		}
	}
	if exact32(0, 1<<25) || exact32(0.1, 10) || !exact32(-5, 14400) {
		t.Error("exact32 misjudges its bounds")
	}
	if !fits16(0, 65535) || fits16(0, 65536) || fits16(0.5, 10) || !fits16(-100, 14400) {
		t.Error("fits16 misjudges its bounds")
	}
}

// TestSlotIsSmall: a kept (user, partition) pair costs 8 bytes; its
// priority is computed again, never stored.
func TestSlotIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != 8 {
		t.Errorf("slot is %d bytes, want 8", n)
	}
	if n := unsafe.Sizeof(slot16{}); n != 4 {
		t.Errorf("slot16 is %d bytes, want 4", n)
	}
}

// TestCompactSlotsKeepTheSame: count and users metrics with public
// partitions keep 4-byte slots, or 1-byte slots for at most 14 partitions
// and l∞ < 15, and keep exactly what 8-byte slots keep, heavy users
// (counts past 15 and 65535), caps that bind and evictions included.
func TestCompactSlotsKeepTheSame(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		parts, linf int
		byteSlot    bool // else slot16
	}{{6, 4, true}, {14, 14, true}, {15, 4, false}, {6, 15, false}, {20, 10, false}} {
		ev := population(r, 400, tc.parts+1, 30)
		for _, opt := range allKinds(publicNames(tc.parts))[:2] { // count, users
			t.Run(fmt.Sprintf("%s/parts=%d/linf=%d", opt.Kind, tc.parts, tc.linf), func(t *testing.T) {
				opt.Seed, opt.MaxPerPartition = seed(21), tc.linf
				a, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				want := tc.byteSlot || opt.Kind == KindUsers && tc.parts <= 14 // users: l∞ = 1
				if a.b.byteSlot != want || a.b.compact == want {
					t.Fatalf("byte slots %v, 4-byte slots %v; want byte slots %v", a.b.byteSlot, a.b.compact, want)
				}
				ref.b.compact, ref.b.byteSlot = false, false
				for _, agg := range []*Aggregator{a, ref} {
					for _, e := range ev {
						agg.Add(e.user, e.part, e.v)
					}
					agg.AddEvents(3, 1, 70_000) // saturates a 16-bit count
					agg.AddEvents(3, 1, 70_000)
					agg.AddEvents(500, 2, 1<<31)
					agg.AddEvents(501, 0, 14) // at and past a byte's count
					agg.AddEvents(501, 0, 1)
					agg.AddEvents(502, int32(tc.parts), 15)
					agg.AddEvents(502, int32(tc.parts), 15)
				}
				if got, want := a.preNoise(), ref.preNoise(); !reflect.DeepEqual(got, want) {
					t.Errorf("compact %+v, wide %+v", got, want)
				}
				gc, gk := a.b.capsCut()
				wc, wk := ref.b.capsCut()
				if gc != wc || gk != wk {
					t.Errorf("caps cut %d/%d, wide %d/%d", gc, gk, wc, wk)
				}
			})
		}
	}
	sel := allKinds(nil)[0]
	sel.Partitions, sel.SelectPartitions, sel.Delta = nil, true, 1e-6
	if a, err := NewAggregator(sel); err != nil || a.b.compact || a.b.byteSlot {
		t.Errorf("discovered partitions: compact = %v (err %v), want wide slots", a != nil && (a.b.compact || a.b.byteSlot), err)
	}
}
