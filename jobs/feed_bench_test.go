package jobs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
				var runs userRuns
				runs.build(batch.Users, batch.Times, f.grants)
				f.add(&batch, values, &runs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		})
	}
}

// BenchmarkFeedJob measures the feed side of a run (sortRows, buildRuns and
// every metric's feed.add, on one goroutine) over the first rows of a real
// events file, read into memory once: DPSTATS_FEED_BENCH=SPEC:EVENTS:CONSENT
// (e.g. jobs/playback-daily.yaml and a `make bench` cache directory's
// files), DPSTATS_FEED_BENCH_ROWS (default 2Mi). Skipped without it.
func BenchmarkFeedJob(b *testing.B) {
	env := strings.Split(os.Getenv("DPSTATS_FEED_BENCH"), ":")
	if len(env) != 3 {
		b.Skip("DPSTATS_FEED_BENCH=SPEC:EVENTS:CONSENT not set")
	}
	maxRows := 2 << 20
	if v := os.Getenv("DPSTATS_FEED_BENCH_ROWS"); v != "" {
		var err error
		if maxRows, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	spec, err := LoadSpec(env[0])
	if err != nil {
		b.Fatal(err)
	}
	plan, err := spec.compile()
	if err != nil {
		b.Fatal(err)
	}
	seed := int64(1)
	if err := plan.addGate(spec, &seed); err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 1)
	plan.events.Start, plan.events.End, plan.events.CodesOnly = start, end, true
	plan.events.Decoders, plan.events.BatchSize = 2, decodeRows
	evIn, err := datasets.FileInputs([]string{env[1]})
	if err != nil {
		b.Fatal(err)
	}
	conIn, err := datasets.FileInputs([]string{env[2]})
	if err != nil {
		b.Fatal(err)
	}
	users := datasets.NewUserIndex()
	r, err := datasets.NewEventReaderFrom(evIn, plan.events, users)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	consent, err := datasets.LoadConsentFrom(conIn, users, end, datasets.ConsentColumns(spec.Consent))
	if err != nil {
		b.Fatal(err)
	}
	for i, f := range plan.feeds {
		f.grants = consent.GrantsDuring(plan.categories[i], start, end)
		if f.grants.Partial() {
			r.SetTimes(true)
		}
	}
	var batches []*sharedBatch
	var tmp datasets.EventBatch
	rows := 0
	for rows < maxRows {
		sb := new(sharedBatch)
		if !fillBatch(r, &sb.EventBatch, &tmp, feedRows) {
			break
		}
		sb.values, sb.numUsers = snapshot(r), r.NumUsers()
		rows += sb.Len
		batches = append(batches, sb)
	}
	if err := r.Err(); err != nil {
		b.Fatal(err)
	}
	leaders := shareFeeds(plan.feeds)
	group, grants := consentGroups(leaders)
	opts := append(spec.MetricOptions(&seed), spec.GateOptions(&seed)...)
	var spare sortBuffers
	cpu := cpuTime()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i, f := range plan.feeds {
			if f.agg, err = dp.NewAggregator(opts[i]); err != nil {
				b.Fatal(err)
			}
			f.agg.Reserve(users.Len())
			f.codeToIdx = nil
		}
		b.StartTimer()
		for _, sb := range batches {
			sb.sortRows(&spare)
			sb.buildRuns(grants)
			for i, f := range leaders {
				f.add(&sb.EventBatch, sb.dimValues, &sb.runs[group[i]])
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	// The process's CPU time (the timer's pauses included): steadier than
	// the wall time on a shared machine.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*rows), "cpu-ns/row")
}
