package reports

import (
	"math"
	"time"
)

func f64(f float64) *float64 { return &f }

// countPartitions builds count/users partitions with shares derived the way
// the runner derives them: noisy counts clamped at 0 and normalized.
func countPartitions(names []string, values []float64, halfWidth float64) []Partition {
	var total float64
	for _, v := range values {
		total += math.Max(v, 0)
	}
	ps := make([]Partition, len(names))
	for i, n := range names {
		v := values[i]
		s := math.Max(v, 0) / total
		lo := math.Max(v-halfWidth, 0) / total
		hi := math.Min((math.Max(v, 0)+halfWidth)/total, 1)
		ps[i] = Partition{Name: n, Value: v, Lower: v - halfWidth, Upper: v + halfWidth,
			Share: f64(s), ShareLower: f64(lo), ShareUpper: f64(hi)}
	}
	return ps
}

// withBuckets sets the partitions' bucket edges: partition i is
// [edges[i], edges[i+1]), the last edge opens the last bucket, and
// partitions after it (such as "other") have none.
func withBuckets(ps []Partition, edges ...float64) []Partition {
	for i := range ps {
		if i < len(edges) {
			ps[i].BucketLower = f64(edges[i])
		}
		if i+1 < len(edges) {
			ps[i].BucketUpper = f64(edges[i+1])
		}
	}
	return ps
}

// userPartitions builds users partitions with shares of the category's
// users, the way the runner derives them (dp.ShareOfUsers): count over the
// population count, the interval from both counts' intervals (here the same
// half-widths stand in for the wider ones at the higher level).
func userPartitions(names []string, values []float64, halfWidth, total, totalHalfWidth float64) []Partition {
	ps := make([]Partition, len(names))
	for i, n := range names {
		v := values[i]
		ps[i] = Partition{Name: n, Value: v, Lower: v - halfWidth, Upper: v + halfWidth,
			Share:      f64(math.Max(v, 0) / total),
			ShareLower: f64(math.Max(v-halfWidth, 0) / (total + totalHalfWidth)),
			ShareUpper: f64(math.Min((v+halfWidth)/(total-totalHalfWidth), 1))}
	}
	return ps
}

// fixture is a fixed report with every kind and display, a negative noisy
// count, a wide interval, numbers with far too many digits, unequal
// buckets, quantiles without an interval, and a mean at its clamp bound.
func fixture() *Report {
	return &Report{
		Job:         "media-usage",
		Title:       "Media usage, daily",
		Period:      "2026-01-05",
		RunID:       "run-20260106T020000Z-7f3a",
		ToolVersion: "v0.3.0",
		PeriodStart: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC),
		PeriodEnd:   time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC),
		GeneratedAt: time.Date(2026, 1, 6, 2, 0, 13, 0, time.UTC),
		Epsilon:     1.05,
		Delta:       1e-6,
		Noise:       "laplace",
		Ledger: LedgerSummary{WindowDays: 30, EpsilonSpent: 7, EpsilonCap: 10, DeltaSpent: 7e-6, DeltaCap: 1e-5,
			EpsilonAllTime: 23, DeltaAllTime: 2.3e-5},
		Metrics: []Metric{
			{
				Name: "device_share", Title: "Device type share", Kind: KindUsers, Display: DisplayShare,
				Description: "Share of active users by the kind of device they played on.",
				Dimension:   "device_type", ConsentCategory: "product_usage",
				MaxPartitions: 3, MaxPerPartition: 1, Epsilon: 0.2, ConfidenceLevel: 0.95,
				Partitions: userPartitions(
					[]string{"android_tv", "roku", "apple_tv", "web", "fire_tv", "other"},
					[]float64{41237.61803398875, 28711.2, 15002.9, 9120.4, 1543.7, 12.3}, 29.96, 81355.4, 119.8),
			},
			{
				Name: "codec_share", Title: "Video codec share", Kind: KindCount, Display: DisplayShare,
				Description: "Share of playback sessions by video codec.",
				Dimension:   "video_codec", ConsentCategory: "playback_stats",
				MaxPartitions: 4, MaxPerPartition: 5, Epsilon: 0.2, ConfidenceLevel: 0.95,
				Partitions: countPartitions(
					[]string{"h264", "hevc", "av1", "vp9", "mpeg2", "other"},
					[]float64{182344.4, 120871.9, 40211.3, 18220.8, 101.2, -37.4}, 598.6),
				CapsCut: &CapsCut{Epsilon: 0.02, Users: 8120, UsersLower: 7935.6, UsersUpper: 8304.4,
					Contributing: 81544, ContributingLower: 81322.7, ContributingUpper: 81765.3,
					Share: 0.0996, ShareLower: 0.0971, ShareUpper: 0.1021},
			},
			{
				Name: "resolution_mix", Title: "Resolution mix", Kind: KindUsers, Display: DisplayShare,
				Dimension: "resolution", ConsentCategory: "playback_stats",
				MaxPartitions: 4, MaxPerPartition: 1, Epsilon: 0.1, ConfidenceLevel: 0.95,
				Partitions: userPartitions([]string{"sd", "720p", "1080p", "4k"},
					[]float64{5210.2, 17320.5, 52110.7, 21844.1}, 119.8, 90118.6, 119.8),
			},
			{
				Name: "bitrate_dist", Title: "Bitrate distribution", Kind: KindCount, Display: DisplayHistogram,
				Description: "Playback sessions by stream bitrate, in generalized buckets.",
				Dimension:   "bitrate_kbps", ConsentCategory: "playback_stats", Generalization: "bucketed: 0, 2, 5, 10, 20, 40, 80 Mbps",
				MaxPartitions: 2, MaxPerPartition: 10, Epsilon: 0.2, ConfidenceLevel: 0.95, BucketUnit: "kbps",
				Partitions: withBuckets(countPartitions(
					[]string{"0–1999 kbps", "2000–4999 kbps", "5000–9999 kbps", "10000–19999 kbps", "20000–39999 kbps", "40000–79999 kbps", "≥ 80000 kbps", "other"},
					[]float64{20311.5, 61922.8, 98411.2, 87301.6, 40220.9, 9012.3, 310.4, 52.2}, 599.1),
					0, 2000, 5000, 10000, 20000, 40000, 80000),
			},
			{
				Name: "duration_dist", Title: "Playback duration", Kind: KindUsers, Display: DisplayHistogram,
				Description: "Users by their typical session length, rounded to generalized buckets.",
				Dimension:   "duration_s", ConsentCategory: "playback_stats", Generalization: "bucketed: 5, 15, 30, 45, 60, 90, 120, 180 min",
				MaxPartitions: 3, MaxPerPartition: 1, Epsilon: 0.15, ConfidenceLevel: 0.95, BucketUnit: "s",
				Partitions: withBuckets(userPartitions(
					[]string{"0–299 s", "300–899 s", "900–1799 s", "1800–2699 s", "2700–3599 s", "3600–5399 s", "5400–7199 s", "7200–10799 s", "≥ 10800 s", "other"},
					[]float64{8120.4, 15220.7, 21002.3, 18450.1, 14210.6, 12011.9, 7020.2, 2210.5, 402.8, 31.5}, 59.9, 90118.6, 119.8),
					0, 300, 900, 1800, 2700, 3600, 5400, 7200, 10800),
			},
			{
				Name: "median_duration", Title: "Session length by media type", Kind: KindQuantiles, Display: DisplayTable,
				Description: "Quartiles of session length per media type.",
				Dimension:   "media_type", ConsentCategory: "playback_stats", Unit: "min", Generalization: "rounded to 5 min",
				MaxPartitions: 2, MaxPerPartition: 1, Lower: 0, Upper: 240, Epsilon: 0.1, ConfidenceLevel: 0.95,
				Partitions: []Partition{
					{Name: "movie", Value: 94.2, Lower: 90, Upper: 98.7, Quantiles: []Quantile{{0.25, 62.5, f64(58), f64(66), ""}, {0.5, 94.2, f64(90), f64(98.7), ""}, {0.75, 118.3, f64(113.1), f64(123.9), ""}}},
					{Name: "episode", Value: 41.8, Lower: 40.1, Upper: 43.5, Quantiles: []Quantile{{0.25, 22.1, f64(20), f64(24.3), ""}, {0.5, 41.8, f64(40.1), f64(43.5), ""}, {0.75, 47.9, f64(46), f64(50.2), ""}}},
					{Name: "clip", Value: 4.13, Lower: 2.9, Upper: 5.5, ValueCount: f64(1811), ValueCountLower: f64(1632.4), ValueCountUpper: f64(1989.6), Quantiles: []Quantile{{0.25, 1.92, nil, nil, "too few values for the noise"}, {0.5, 4.13, f64(2.9), f64(5.5), ""}, {0.75, 8.7, f64(6.1), f64(11.2), ""}}},
					{Name: "other", Value: 120, Lower: 120, Upper: 120, IntervalNote: "too few values for the noise", ValueCount: f64(0), ValueCountLower: f64(-178.6), ValueCountUpper: f64(178.6),
						Quantiles: []Quantile{{0.25, 60, nil, nil, "too few values for the noise"}, {0.5, 120, nil, nil, "too few values for the noise"}, {0.75, 180, nil, nil, "too few values for the noise"}}},
				},
			},
			{
				Name: "mean_duration", Title: "Mean session length by media type", Kind: KindMean, Display: DisplayTable,
				Description: "Average length of one session, per media type.",
				Dimension:   "media_type", ConsentCategory: "playback_stats", Unit: "s", Generalization: "rounded to the nearest 60 s",
				MaxPartitions: 2, MaxPerPartition: 5, Lower: 0, Upper: 14400, Epsilon: 0.05, ConfidenceLevel: 0.95,
				Partitions: []Partition{
					{Name: "movie", Value: 4161.64, Lower: 3811.2, Upper: 4512.08},
					{Name: "episode", Value: 2504.2, Lower: 2301.7, Upper: 2706.7},
					{Name: "clip", Value: 95.3, Lower: 0, Upper: 402.4},
					{Name: "other", Value: 14400, Lower: 0, Upper: 14400},
				},
			},
			{
				Name: "mean_bitrate", Title: "Mean bitrate by resolution", Kind: KindMean, Display: DisplayTable,
				Dimension: "resolution", ConsentCategory: "playback_stats", Unit: "kbps",
				MaxPartitions: 4, MaxPerPartition: 3, Lower: 0, Upper: 120000, Epsilon: 0.05, ConfidenceLevel: 0.95,
				Partitions: []Partition{
					{Name: "sd", Value: 1843.77, Lower: 1520.1, Upper: 2167.4},
					{Name: "720p", Value: 4120.123456789, Lower: 3990.2, Upper: 4250.0},
					{Name: "1080p", Value: 9877.5, Lower: 9801.3, Upper: 9953.7},
					{Name: "4k", Value: 31022.9, Lower: 30400.2, Upper: 31645.6},
				},
				Warnings: []string{"Bitrates above 120 Mbps were clamped to 120 Mbps."},
			},
		},
		Collected: []Statistic{
			{Name: "device_share", Kind: KindUsers, Description: "Users by device type.", Columns: []string{"user_id", "device_type"}, ConsentCategory: "product_usage", Bounds: Bounds{MaxPartitions: 3, MaxPerPartition: 1}, EpsilonShare: 0.2},
			{Name: "codec_share", Kind: KindCount, Description: "Sessions by video codec.", Columns: []string{"user_id", "video_codec"}, ConsentCategory: "playback_stats", Bounds: Bounds{MaxPartitions: 4, MaxPerPartition: 5}, EpsilonShare: 0.2},
			{Name: "resolution_mix", Kind: KindUsers, Description: "Users by resolution played.", Columns: []string{"user_id", "resolution"}, ConsentCategory: "playback_stats", Bounds: Bounds{MaxPartitions: 4, MaxPerPartition: 1}, EpsilonShare: 0.1},
			{Name: "bitrate_dist", Kind: KindCount, Description: "Sessions by bitrate bucket.", Columns: []string{"user_id", "bitrate_kbps"}, ConsentCategory: "playback_stats", Generalization: "bucketed: 0, 2, 5, 10, 20, 40, 80 Mbps", Bounds: Bounds{MaxPartitions: 2, MaxPerPartition: 10}, EpsilonShare: 0.2},
			{Name: "duration_dist", Kind: KindUsers, Description: "Users by session length bucket.", Columns: []string{"user_id", "duration_s"}, ConsentCategory: "playback_stats", Generalization: "bucketed: 5, 15, 30, 45, 60, 90, 120, 180 min", Bounds: Bounds{MaxPartitions: 3, MaxPerPartition: 1}, EpsilonShare: 0.15},
			{Name: "median_duration", Kind: KindQuantiles, Description: "Session length quartiles by media type.", Columns: []string{"user_id", "media_type", "duration_s"}, ConsentCategory: "playback_stats", Generalization: "rounded to 5 min", Bounds: Bounds{MaxPartitions: 2, MaxPerPartition: 1, Lower: 0, Upper: 240}, EpsilonShare: 0.1},
			{Name: "mean_duration", Kind: KindMean, Description: "Mean session length by media type.", Columns: []string{"user_id", "media_type", "duration_s"}, ConsentCategory: "playback_stats", Generalization: "rounded to the nearest 60 s", Bounds: Bounds{MaxPartitions: 2, MaxPerPartition: 5, Lower: 0, Upper: 14400}, EpsilonShare: 0.05},
			{Name: "mean_bitrate", Kind: KindMean, Description: "Mean bitrate by resolution.", Columns: []string{"user_id", "resolution", "bitrate_kbps"}, ConsentCategory: "playback_stats", Bounds: Bounds{MaxPartitions: 4, MaxPerPartition: 3, Lower: 0, Upper: 120000}, EpsilonShare: 0.05},
			{Name: "population:playback_stats", Kind: KindUsers, Description: "Users with an event that counts for playback_stats; the quality gate.", Columns: []string{"user_id", "event_time"}, ConsentCategory: "playback_stats", Bounds: Bounds{MaxPartitions: 1, MaxPerPartition: 1}, EpsilonShare: 0.025},
			{Name: "population:product_usage", Kind: KindUsers, Description: "Users with an event that counts for product_usage; the quality gate.", Columns: []string{"user_id", "event_time"}, ConsentCategory: "product_usage", Bounds: Bounds{MaxPartitions: 1, MaxPerPartition: 1}, EpsilonShare: 0.025},
		},
		Population: []PopulationCount{
			{Category: "playback_stats", Value: 90118.6, Lower: 89998.8, Upper: 90238.4, Epsilon: 0.025, Delta: 5e-7, ConfidenceLevel: 0.95},
			{Category: "product_usage", Value: 81355.4, Lower: 81235.6, Upper: 81475.2, Epsilon: 0.025, Delta: 5e-7, ConfidenceLevel: 0.95},
		},
		MinUsers: 2000,
		Warnings: []string{"Partition “other” of Video codec share had a negative noisy count; see the note there."},
	}
}
