package jobs

import (
	"fmt"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// BenchmarkFeedAdd measures one count metric's per-row loop over a batch
// sorted by user (as the pipeline feeds it), with consent granted before the
// period to every user ("whole"), or during the period to one user in five
// ("partial": each of their rows compares its event time).
func BenchmarkFeedAdd(b *testing.B) {
	const users, rows = 20000, 256 << 10
	for _, partial := range []bool{false, true} {
		b.Run(map[bool]string{false: "whole", true: "partial"}[partial], func(b *testing.B) {
			var gs []grant
			for u := range users {
				at := day.Add(-time.Hour)
				if partial && u%5 == 0 {
					at = day.Add(12 * time.Hour)
				}
				gs = append(gs, grant{fmt.Sprintf("u%05d", u), "product_usage", true, at})
			}
			idx := datasets.NewUserIndex()
			con, err := datasets.LoadConsentFrom([]datasets.Input{consentFile(b, gs)}, idx, afterDay, datasets.ConsentColumns{})
			if err != nil {
				b.Fatal(err)
			}
			spec := exactSpec(b)
			plan, err := spec.compile()
			if err != nil {
				b.Fatal(err)
			}
			f := plan.feeds[0] // device_share: count by device_type
			var batch datasets.EventBatch
			batch.Len = rows
			batch.Users = make([]uint32, rows)
			batch.Times = make([]int64, rows)
			batch.Codes = [][]int32{make([]int32, rows)}
			for i := range rows {
				batch.Users[i] = uint32(i * users / rows)
				batch.Times[i] = day.Add(time.Duration(i) * 24 * time.Hour / rows).UnixNano()
				batch.Codes[0][i] = int32(i % 2)
			}
			values := func(int) []string { return []string{"tv", "phone"} }
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				opts := spec.MetricOptions(nil)
				agg, err := dp.NewAggregator(opts[0])
				if err != nil {
					b.Fatal(err)
				}
				f.agg, f.grants = agg, con.GrantsDuring("product_usage", day, day.Add(24*time.Hour))
				b.StartTimer()
				f.add(&batch, values)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}
