package dp

import (
	"math"
	"testing"
)

// TestNaNTakesNoSlot is adversarial: with MaxPartitions 1, every user first
// sends a NaN value to partition 0 and then a real value to partition 1. A
// NaN is no contribution, so it must not take the user's only slot: every
// user's real value is kept, whatever the random priorities.
func TestNaNTakesNoSlot(t *testing.T) {
	const users = 500
	for _, kind := range []Kind{KindSum, KindMean, KindQuantiles} {
		opt := MetricOptions{Name: "m", Kind: kind, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1, Lower: 0, Upper: 10,
			Ranks: []float64{0.5}, Partitions: publicNames(2), Seed: seed(5)}
		var ev []event
		for u := uint32(0); u < users; u++ {
			ev = append(ev, event{u, 0, math.NaN()}, event{u, 1, 7})
		}
		st := feed(t, opt, ev).preNoise()
		if st.users[0] != 0 || st.users[1] != users || len(st.values[1]) != users {
			t.Errorf("%s: users per partition %v, values in partition 1: %d; want [0 %d …], %d", kind, st.users, len(st.values[1]), users, users)
		}
	}
}

// TestNoOther: with NoOther (bucketed dimensions) there is no "other"
// partition: an index outside the list is dropped, not counted, and the
// release lists the public partitions only.
func TestNoOther(t *testing.T) {
	opt := MetricOptions{Name: "buckets", Kind: KindCount, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1,
		Partitions: publicNames(3), NoOther: true}
	a := feed(t, opt, []event{{0, 0, 0}, {1, 3, 0}, {2, 7, 0}, {3, -1, 0}})
	st := a.preNoise()
	if len(st.users) != 3 || st.users[0] != 1 || st.users[1]+st.users[2] != 0 {
		t.Errorf("pre-noise users %v, want [1 0 0]: indexes outside the list dropped", st.users)
	}
	rel, err := a.Release(nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range rel.Partitions {
		names = append(names, p.Name)
	}
	if len(names) != 3 || names[2] != "c" {
		t.Errorf("released partitions %q, want [a b c] (no %q)", names, OtherName)
	}
	bad := opt
	bad.Partitions = nil
	if err := bad.Validate(); err == nil {
		t.Error("NoOther without partitions: Validate() = nil, want an error")
	}
}
