package dp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"unsafe"
)

// wideTwin returns an aggregator of opt that keeps wide slots and float64
// values: the layout the lazy one must match choice for choice.
func wideTwin(t *testing.T, opt MetricOptions) *Aggregator {
	t.Helper()
	ref, err := NewAggregator(opt)
	if err != nil {
		t.Fatal(err)
	}
	ref.b.lazy, ref.b.vals = false, valueStore{lower: opt.Lower, width: w64}
	return ref
}

// TestLazySlotsKeepTheSame: mean and quantiles with public partitions keep
// 8-byte slots with values in chunks handed out on first use, 16-bit
// values and counts; with the same seed they keep exactly what the wide
// slots with float64 values keep: caps that bind (evictions), values at
// and past the clamp bounds, a user with more than 65535 values in a
// partition (the 16-bit count's overflow), reserved or grown state,
// sharded and merged users.
func TestLazySlotsKeepTheSame(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	ev := population(r, 400, 7, 30)
	for i := range ev {
		ev[i].v = math.Round(ev[i].v*2) - 5 // whole, from −15 to 55: past both bounds
	}
	heavy := 140_000 + r.IntN(10)
	for i := 0; i < heavy; i++ { // past the 16-bit count in two partitions: its overflow
		ev = append(ev, event{460, int32(i % 2), float64(i % 40)})
	}
	for i := 0; i < 50; i++ { // the clamp bounds themselves
		ev = append(ev, event{uint32(401 + i%3), int32(i % 7), []float64{0, 20}[i%2]})
	}
	for _, opt := range allKinds(publicNames(6))[3:] { // mean, quantiles
		for _, reserve := range []int{0, 500} {
			t.Run(fmt.Sprintf("%s/reserve=%d", opt.Kind, reserve), func(t *testing.T) {
				opt.Seed = seed(23)
				a, err := NewAggregator(opt)
				if err != nil {
					t.Fatal(err)
				}
				if !a.b.lazy || a.b.vals.width != w16 {
					t.Fatalf("want lazy slots and the 16-bit store, have lazy %v, %d bits", a.b.lazy, a.b.vals.width)
				}
				a.Reserve(reserve)
				ref := wideTwin(t, opt)
				for _, e := range ev {
					a.Add(e.user, e.part, e.v)
					ref.Add(e.user, e.part, e.v)
				}
				if len(a.b.bigN) == 0 {
					t.Fatal("no count past 65535: the overflow path is not exercised")
				}
				if _, n := a.b.slotAt(460 * opt.MaxPartitions); n < nBig {
					t.Fatalf("heavy user's first slot counts %d values, want ≥ %d", n, nBig)
				}
				got, want := a.preNoise(), ref.preNoise()
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("lazy %+v, wide %+v", got, want)
				}
				gc, gk := a.b.capsCut()
				wc, wk := ref.b.capsCut()
				if gc != wc || gk != wk || gc == 0 {
					t.Errorf("caps cut lazy %d/%d, wide %d/%d (want equal, some cut)", gc, gk, wc, wk)
				}
				// sharded and merged: the same as one aggregator (same seed
				// per shard: compare with wide shards merged the same way)
				var shards [2][]event
				for _, e := range ev {
					shards[e.user%2] = append(shards[e.user%2], e)
				}
				lz, wd := feed(t, opt, shards[0]), wideTwin(t, opt)
				for _, e := range shards[0] {
					wd.Add(e.user, e.part, e.v)
				}
				lz2, wd2 := feed(t, opt, shards[1]), wideTwin(t, opt)
				for _, e := range shards[1] {
					wd2.Add(e.user, e.part, e.v)
				}
				if err := lz.Merge(lz2); err != nil {
					t.Fatal(err)
				}
				if err := wd.Merge(wd2); err != nil {
					t.Fatal(err)
				}
				if got, want := lz.preNoise(), wd.preNoise(); !reflect.DeepEqual(got, want) {
					t.Errorf("merged lazy %+v, merged wide %+v", got, want)
				}
			})
		}
	}
	if n := unsafe.Sizeof(vslot{}); n != 8 {
		t.Errorf("vslot is %d bytes, want 8", n)
	}
}

// TestLazyMillionValues: a user with a million values in one partition and
// more partitions than l0: every value past the bound is clamped, exactly
// l0 partitions keep exactly l∞ values each, the exact count survives the
// 16-bit counter (the user is cut), and the other users are untouched.
func TestLazyMillionValues(t *testing.T) {
	events := 1_000_000
	if testing.Short() {
		events = 200_000
	}
	opt := MetricOptions{Name: "m", Kind: KindMean, Epsilon: 1, MaxPartitions: 2, MaxPerPartition: 3,
		Lower: 0, Upper: 100, Partitions: publicNames(4), Seed: seed(5)}
	a, err := NewAggregator(opt)
	if err != nil {
		t.Fatal(err)
	}
	a.Add(0, 1, 7) // another user
	for i := 0; i < events; i++ {
		a.Add(1, int32(i%5), 1e12) // far past upper; partition 4 is "other"
	}
	parts := 0
	for p, vs := range a.preNoise().values {
		hundreds := 0
		for _, v := range vs {
			switch {
			case v == 100:
				hundreds++
			case v != 7 || p != 1:
				t.Errorf("partition %d holds %v, want 100 (clamped) or the other user's 7", p, v)
			}
		}
		if hundreds > 0 {
			parts++
			if hundreds != 3 {
				t.Errorf("partition %d keeps %d of the heavy user's values, want l∞ = 3", p, hundreds)
			}
		}
	}
	if parts != 2 {
		t.Errorf("the heavy user is in %d partitions, want l0 = 2", parts)
	}
	total := uint32(0)
	for i := 2; i < 4; i++ {
		_, n := a.b.slotAt(i)
		total += n
	}
	if want := uint32(events / 5 * 2); total != want {
		t.Errorf("kept partitions counted %d values, want %d", total, want)
	}
	if cut, kept := a.b.capsCut(); cut != 1 || kept != 1 {
		t.Errorf("caps cut %d, not cut %d; want 1, 1", cut, kept)
	}
}

// TestLazyChunksFollowUse: a user who touches one partition holds one chunk
// of values, not l0; an eviction reuses the evicted slot's chunk.
func TestLazyChunksFollowUse(t *testing.T) {
	opt := MetricOptions{Name: "m", Kind: KindMean, Epsilon: 1, MaxPartitions: 4, MaxPerPartition: 5,
		Lower: 0, Upper: 14400, Partitions: publicNames(13)}
	a, err := NewAggregator(opt)
	if err != nil {
		t.Fatal(err)
	}
	const users = 10_000
	a.Reserve(users)
	for u := uint32(0); u < users; u++ {
		for k := 0; k < 1+int(u%7); k++ {
			a.Add(u, int32(u%13), float64(k*60))
		}
	}
	if a.b.chunks != users {
		t.Errorf("%d chunks for %d users of one partition each, want %d", a.b.chunks, users, users)
	}
	for p := int32(0); p < 13; p++ { // user 0 touches every partition: caps bind
		a.Add(0, p, 1)
	}
	if a.b.chunks != users+3 {
		t.Errorf("%d chunks, want %d (user 0 holds 4, evictions reuse them)", a.b.chunks, users+3)
	}
	if got := a.b.vals.len(); got != a.b.chunks*5 {
		t.Errorf("%d value cells for %d chunks, want %d", got, a.b.chunks, a.b.chunks*5)
	}
}

// TestLazyToWide: a lazy bounder that would hand out more chunks than a
// uint32 indexes moves to the wide layout and keeps every choice.
func TestLazyToWide(t *testing.T) {
	defer func(m int) { maxChunks = m }(maxChunks)
	maxChunks = 3 * 100 // l0 = 3: 100 users fit
	r := rand.New(rand.NewPCG(17, 18))
	ev := population(r, 150, 5, 20) // users in index order: 100 lazy, then the move
	for _, opt := range allKinds(publicNames(4))[3:] {
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(29)
			a, err := NewAggregator(opt)
			if err != nil {
				t.Fatal(err)
			}
			ref := wideTwin(t, opt)
			sorted := append([]event{}, ev...)
			for u := uint32(0); u < 150; u++ {
				for _, e := range sorted {
					if e.user == u {
						a.Add(e.user, e.part, e.v)
						ref.Add(e.user, e.part, e.v)
					}
				}
				if u == 50 && !a.b.lazy {
					t.Fatal("moved to the wide layout too early")
				}
			}
			if a.b.lazy {
				t.Fatal("still lazy past maxChunks slots")
			}
			if got, want := a.preNoise(), ref.preNoise(); !reflect.DeepEqual(got, want) {
				t.Errorf("after the move %+v, wide all along %+v", got, want)
			}
		})
	}
}
