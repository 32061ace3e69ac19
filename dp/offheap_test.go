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
