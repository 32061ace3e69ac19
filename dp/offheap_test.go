package dp

import (
	"reflect"
	"testing"
)

// TestGrowSliceKeepsContents grows a slice from the heap into memory maps
// (where the OS has them) and on: the contents are kept, the new tail is
// zero, and a replaced map is unmapped.
func TestGrowSliceKeepsContents(t *testing.T) {
	m := new(mappings)
	var s []slot
	want := []slot{}
	for i, need := range []int{10, 1000, offHeapMin / 8, offHeapMin / 4, 3 * offHeapMin / 8} {
		s = growSlice(m, s, need)
		if len(s) != need {
			t.Fatalf("len %d, want %d", len(s), need)
		}
		for j := len(want); j < need; j++ {
			if s[j] != (slot{}) {
				t.Fatalf("step %d: new element %d is %+v, want zero", i, j, s[j])
			}
		}
		if !reflect.DeepEqual(s[:len(want)], want) {
			t.Fatalf("step %d: contents lost", i)
		}
		for j := len(want); j < need; j++ {
			s[j] = slot{pp: uint32(j), n: uint32(i)}
			want = append(want, s[j])
		}
		if n := len(m.maps); n > 1 {
			t.Fatalf("step %d: %d maps held, want at most 1 (the replaced ones are unmapped)", i, n)
		}
	}
	m.release(s)
	m.unmapAll()
	if len(m.maps) != 0 {
		t.Errorf("%d maps left", len(m.maps))
	}
}

// TestOffHeapBounderMatchesHeap: a bounder of many users (its state in
// memory maps) keeps exactly what one of few users keeps for them.
func TestOffHeapBounderMatchesHeap(t *testing.T) {
	for _, opt := range allKinds(publicNames(4)) {
		t.Run(string(opt.Kind), func(t *testing.T) {
			opt.Seed = seed(11)
			small := feed(t, opt, []event{{1, 0, 3}, {1, 2, 5}, {2, 1, 7}, {1, 3, 2}, {1, 1, 9}})
			big, err := NewAggregator(opt)
			if err != nil {
				t.Fatal(err)
			}
			big.Reserve(400_000) // 400k × 3 slots × 8 B: mapped
			for _, e := range []event{{1, 0, 3}, {1, 2, 5}, {2, 1, 7}, {1, 3, 2}, {1, 1, 9}} {
				big.Add(e.user, e.part, e.v)
			}
			if got, want := big.preNoise(), small.preNoise(); !reflect.DeepEqual(got, want) {
				t.Errorf("big %+v, small %+v", got, want)
			}
		})
	}
}

// TestReserveMapped: room is reserved only in a memory map of at most the
// limit (never on the heap, where it would cost its whole size); the
// contents and length are kept, and growing into the room moves nothing.
func TestReserveMapped(t *testing.T) {
	m := new(mappings)
	defer m.unmapAll()
	s := growSlice(m, []uint16(nil), 10)
	s[3] = 7
	if got := reserveMapped(m, s, 1<<22, 1<<20); cap(got) != cap(s) {
		t.Errorf("over the limit: cap %d, want unchanged %d", cap(got), cap(s))
	}
	s = reserveMapped(m, s, 1<<22, 1<<30)
	mem := mapZeroed(4096)
	if mem == nil { // no memory maps here: nothing reserved
		if cap(s) >= 1<<22 {
			t.Errorf("reserved %d elements on the heap", cap(s))
		}
		return
	}
	unmap(mem)
	if len(s) != 10 || cap(s) < 1<<22 || s[3] != 7 {
		t.Fatalf("len %d cap %d s[3] %d; want 10, ≥ %d, 7", len(s), cap(s), s[3], 1<<22)
	}
	p := &s[0]
	s = growSlice(m, s, 1<<21)
	if &s[0] != p || s[3] != 7 || s[1<<21-1] != 0 {
		t.Error("growing into the reserved room moved or changed the slice")
	}
	// A bounder whose every possible chunk would take 200 GB reserves
	// nothing, and still works.
	a, err := NewAggregator(MetricOptions{Name: "m", Kind: KindMean, Epsilon: 1, MaxPartitions: 10,
		MaxPerPartition: 100_000, Lower: 0, Upper: 10, Partitions: publicNames(12)})
	if err != nil {
		t.Fatal(err)
	}
	a.Reserve(100_000)
	if c := cap(a.b.vals.v16); c > 1<<20 {
		t.Errorf("reserved %d value cells past the limit", c)
	}
	a.Add(99_999, 3, 5)
	if got := a.preNoise().values[3]; len(got) != 1 || got[0] != 5 {
		t.Errorf("partition 3 holds %v, want [5]", got)
	}
}
