package dp

import "testing"

// TestCapsCutCompactSaturation: compact (16-bit) count slots saturate at
// 65535, so they are used only while l∞ < 65535, and a user over l∞ is
// still detected exactly as cut; at l∞ = 65535 the 32-bit slots take over.
// Users are reserved up front and sharded over two aggregators, so the
// over-l0 bit is also checked through Reserve, growth and Merge.
func TestCapsCutCompactSaturation(t *testing.T) {
	for _, tc := range []struct {
		linf    int
		compact bool
	}{{65534, true}, {65535, false}} {
		opt := MetricOptions{Name: "m", Kind: KindCount, Epsilon: 1, MaxPartitions: 1,
			MaxPerPartition: tc.linf, Partitions: publicNames(3), CapsCutFraction: 0.2, Seed: seed(3)}
		add := func(a *Aggregator, u uint32) {
			switch u % 5 {
			case 0: // exactly l∞ events: not cut
				a.AddEvents(u, 0, tc.linf)
			case 1: // l∞+1 events: cut
				a.AddEvents(u, 0, tc.linf+1)
			case 2: // far past the 16-bit range: cut
				a.AddEvents(u, 1, 200000)
			case 3: // 2 partitions with l0 = 1: cut
				a.AddEvents(u, 0, 1)
				a.AddEvents(u, 2, 1)
			case 4: // one event: not cut
				a.AddEvents(u, 1, 1)
			}
		}
		const users = 200
		x, err := NewAggregator(opt)
		if err != nil {
			t.Fatal(err)
		}
		y, err := NewAggregator(opt)
		if err != nil {
			t.Fatal(err)
		}
		x.Reserve(users)
		if x.b.compact != tc.compact {
			t.Fatalf("l∞ %d: compact %v, want %v", tc.linf, x.b.compact, tc.compact)
		}
		for u := uint32(0); u < users; u++ {
			if u%2 == 0 {
				add(x, u)
			} else {
				add(y, u) // y grows as users arrive
			}
		}
		if err := x.Merge(y); err != nil {
			t.Fatal(err)
		}
		cut, kept := x.b.capsCut()
		if cut != 3*users/5 || kept != 2*users/5 {
			t.Errorf("l∞ %d: cut %d, not cut %d; want %d, %d", tc.linf, cut, kept, 3*users/5, 2*users/5)
		}
	}
}
