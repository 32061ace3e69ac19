package dp

import (
	"cmp"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// benchEvents returns n contributions from nUsers users over 12 partitions
// (plus "other"), with skewed per-user partition preferences.
func benchEvents(n, nUsers int) []event {
	r := rand.New(rand.NewPCG(9, 9))
	ev := make([]event, n)
	for i := range ev {
		u := uint32(r.IntN(nUsers))
		p := int32((int(u)*7 + r.IntN(4)) % 13)
		ev[i] = event{u, p, r.Float64() * 100}
	}
	return ev
}

func benchSize(b *testing.B) (int, int) {
	if testing.Short() {
		return 1_000_000, 20_000
	}
	return 10_000_000, 200_000
}

func benchKind(b *testing.B, opt MetricOptions) {
	n, users := benchSize(b)
	ev := benchEvents(n, users)
	opt.Name, opt.Epsilon, opt.Partitions = "bench", 1, publicNames(12)
	b.ResetTimer()
	var before, after runtime.MemStats
	for i := 0; i < b.N; i++ {
		runtime.GC()
		runtime.ReadMemStats(&before)
		a, err := NewAggregator(opt)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ev {
			a.Add(e.user, e.part, e.v)
		}
		if _, err := a.Release(nil); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc), "alloc-bytes/run")
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "contributions/s")
}

func BenchmarkCount(b *testing.B) {
	benchKind(b, MetricOptions{Kind: KindCount, MaxPartitions: 3, MaxPerPartition: 5})
}

func BenchmarkUsers(b *testing.B) {
	benchKind(b, MetricOptions{Kind: KindUsers, MaxPartitions: 3})
}

func BenchmarkSum(b *testing.B) {
	benchKind(b, MetricOptions{Kind: KindSum, MaxPartitions: 3, MaxPerPartition: 5, Lower: 0, Upper: 100})
}

func BenchmarkMean(b *testing.B) {
	benchKind(b, MetricOptions{Kind: KindMean, MaxPartitions: 3, MaxPerPartition: 5, Lower: 0, Upper: 100})
}

func BenchmarkQuantiles(b *testing.B) {
	benchKind(b, MetricOptions{Kind: KindQuantiles, MaxPartitions: 3, MaxPerPartition: 5, Lower: 0, Upper: 100, Ranks: []float64{0.5, 0.9, 0.99}})
}

// BenchmarkTenMetrics feeds the same 10M contributions from 200k users to 10
// metrics, as one run of a job does.
func BenchmarkTenMetrics(b *testing.B) {
	n, users := benchSize(b)
	ev := benchEvents(n, users)
	kinds := []MetricOptions{
		{Kind: KindCount, MaxPartitions: 3, MaxPerPartition: 5},
		{Kind: KindUsers, MaxPartitions: 3},
		{Kind: KindSum, MaxPartitions: 3, MaxPerPartition: 5, Lower: 0, Upper: 100},
		{Kind: KindMean, MaxPartitions: 3, MaxPerPartition: 5, Lower: 0, Upper: 100},
		{Kind: KindQuantiles, MaxPartitions: 2, MaxPerPartition: 3, Lower: 0, Upper: 100, Ranks: []float64{0.5, 0.9}},
	}
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var aggs []*Aggregator
		for m := 0; m < 10; m++ {
			opt := kinds[m%len(kinds)]
			opt.Name, opt.Epsilon, opt.Partitions = "m", 0.1, publicNames(12)
			a, err := NewAggregator(opt)
			if err != nil {
				b.Fatal(err)
			}
			aggs = append(aggs, a)
		}
		for _, e := range ev {
			for _, a := range aggs {
				a.Add(e.user, e.part, e.v)
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		for _, a := range aggs {
			if _, err := a.Release(nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*10*float64(b.N)/b.Elapsed().Seconds(), "contributions/s")
	b.ReportMetric(float64(peak), "heap-inuse-bytes")
}

// BenchmarkTwoMetricSorted feeds the two-metric job of issue 13 (a count
// with l∞ = 10 and a mean of whole seconds in [0, 14400] with l∞ = 5, per
// one of 13 device types, ≤ 4 partitions per user) the way the pipeline
// does: each batch of 64k events sorted by user, a count's run of events in
// one partition added at once, users reserved up front.
func BenchmarkTwoMetricSorted(b *testing.B) {
	n, users := benchSize(b)
	ev := benchEvents(n, users)
	for i := range ev {
		ev[i].v = float64(int(ev[i].v * 144))
	}
	const batch = 64 << 10
	for lo := 0; lo < len(ev); lo += batch {
		part := ev[lo:min(lo+batch, len(ev))]
		slices.SortStableFunc(part, func(x, y event) int { return cmp.Compare(x.user, y.user) })
	}
	parts := publicNames(13)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		count, err := NewAggregator(MetricOptions{Name: "c", Kind: KindCount, Epsilon: 0.5, MaxPartitions: 4, MaxPerPartition: 10, Partitions: parts})
		if err != nil {
			b.Fatal(err)
		}
		mean, err := NewAggregator(MetricOptions{Name: "m", Kind: KindMean, Epsilon: 0.5, MaxPartitions: 4, MaxPerPartition: 5, Lower: 0, Upper: 14400, Partitions: parts})
		if err != nil {
			b.Fatal(err)
		}
		count.Reserve(users)
		mean.Reserve(users)
		run := 0
		for j, e := range ev {
			run++
			if j+1 == len(ev) || ev[j+1].user != e.user || ev[j+1].part != e.part {
				count.AddEvents(e.user, e.part, run)
				run = 0
			}
			mean.Add(e.user, e.part, e.v)
		}
		for _, a := range []*Aggregator{count, mean} {
			if _, err := a.Release(nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
