package engine

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/reports"
)

// equivSpec has every metric kind (count, users, sum, mean, quantiles,
// bucketed, selected partitions) at a huge ε, with caps generous enough
// that they do not bind on the generated data (a user has a handful of
// events a day), so that both engines compute the same bounded values and
// differ only by their (tiny) noise.
const equivSpec = `
version: 1
name: beam-equiv
period: daily
input: {user: user_id, time: event_time}
privacy: {epsilon: 1000000, delta: 1e-6, max_epsilon: 1000000, max_delta: 1e-6}
ledger: {cap_epsilon: 10000000, cap_delta: 1e-5, window_days: 30}
quality_gate: {min_users: 0}
metrics:
  - name: events_by_device
    description: d
    kind: count
    consent: product_usage
    dimension: device_type
    partitions: [android_tv, roku, apple_tv, fire_tv, smart_tv, chromecast, web]
    max_partitions: 8
    max_per_partition: 1000
  - name: users_by_device
    description: d
    kind: users
    consent: product_usage
    dimension: device_type
    partitions: [android_tv, roku, apple_tv, fire_tv, smart_tv, chromecast, web]
    max_partitions: 8
  - name: total_duration
    description: d
    kind: sum
    consent: playback_stats
    value: duration_s
    generalize: {step: 60, unit: s}
    lower: 0
    upper: 14400
    max_partitions: 1
    max_per_partition: 1000
  - name: mean_duration
    description: d
    kind: mean
    consent: playback_stats
    dimension: media_type
    partitions: [movie, episode, track]
    value: duration_s
    lower: 0
    upper: 14400
    max_partitions: 4
    max_per_partition: 1000
  - name: duration_quantiles
    description: d
    kind: quantiles
    consent: playback_stats
    dimension: media_type
    partitions: [movie, episode]
    value: duration_s
    lower: 0
    upper: 14400
    ranks: [0.495, 0.5, 0.505, 0.895, 0.9, 0.905]
    max_partitions: 3
    max_per_partition: 1000
  - name: bitrate_buckets
    description: d
    kind: count
    consent: playback_stats
    dimension: bitrate_kbps
    buckets: {edges: [0, 1000, 4000, 16000], unit: kbps}
    max_partitions: 4
    max_per_partition: 1000
`

// selectSpec selects its partitions. Its ε is moderate: the library's
// partition selection (dpagg.PreAggSelectPartition) with max_partitions > 3
// never returns above ε ≈ 709 (its Gaussian threshold's σ becomes 0), in
// either engine, and the driver refuses more than dp.MaxGaussianEpsilon.
const selectSpec = `
version: 1
name: beam-select
period: daily
input: {user: user_id, time: event_time}
privacy: {epsilon: 2000, delta: 1e-6, max_epsilon: 2000, max_delta: 1e-6}
ledger: {cap_epsilon: 10000, cap_delta: 1e-5, window_days: 30}
quality_gate: {min_users: 0}
metrics:
  - name: events_by_platform
    description: d
    kind: count
    consent: product_usage
    dimension: platform
    select_partitions: true
    max_partitions: 14          # every platform: the caps do not bind
    max_per_partition: 60
  - name: users_by_codec
    description: d
    kind: users
    consent: playback_stats
    dimension: video_codec
    select_partitions: true
    max_partitions: 8           # every codec
`

// noiseScale is a bound on the standard deviation of one released value's
// noise (Laplace: √2·b), from the metric's public parameters.
func noiseScale(o dp.MetricOptions, values float64) float64 {
	sp := o.Split()
	l0 := float64(o.MaxPartitions)
	linf := float64(o.MaxPerPartition)
	if o.Kind == dp.KindUsers {
		linf = 1
	}
	b := func(sens, eps float64) float64 { return math.Sqrt2 * sens / eps }
	switch o.Kind {
	case dp.KindSum:
		return b(l0*linf*math.Max(math.Abs(o.Lower), math.Abs(o.Upper)), sp.Aggregation.Epsilon)
	case dp.KindMean:
		// BoundedMean: a noisy count and a noisy normalized sum, ε/2 each;
		// the mean's error is about (sum noise + |mean−mid|·count noise)/n.
		half := (o.Upper - o.Lower) / 2
		return (b(l0*linf*half, sp.Aggregation.Epsilon/2) + half*b(l0*linf, sp.Aggregation.Epsilon/2)) / math.Max(values, 1)
	default:
		return b(l0*linf, sp.Aggregation.Epsilon)
	}
}

// common returns the partitions both engines released, and fails if one
// engine misses a partition the other released with a value of 50 or more.
func common(t *testing.T, metric string, l, b []reports.Partition) ([]reports.Partition, []reports.Partition) {
	t.Helper()
	in := func(ps []reports.Partition) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			m[p.Name] = true
		}
		return m
	}
	inL, inB := in(l), in(b)
	keep := func(ps []reports.Partition, other map[string]bool) []reports.Partition {
		var out []reports.Partition
		for _, p := range ps {
			if other[p.Name] {
				out = append(out, p)
			} else if p.Value >= 50 {
				t.Errorf("%s: partition %q (value %v) released by one engine only", metric, p.Name, p.Value)
			}
		}
		return out
	}
	l, b = keep(l, inB), keep(b, inL)
	if len(l) < 3 {
		t.Errorf("%s: only %d partitions in common", metric, len(l))
	}
	return l, b
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func readReport(t *testing.T, dir string) *reports.Report {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "report.json"))
	must(t, err)
	defer f.Close()
	r, err := reports.ReadJSON(f)
	must(t, err)
	return r
}

// Both engines release the same bounded values within the noise, for every
// metric kind, through the whole release protocol (jobs.Run).
//
// Tolerances: each engine's value is the same bounded value plus its own
// noise, so their difference has at most twice one value's noise: with sd
// the standard deviation bound of noiseScale, |difference| > 30·sd has
// probability below 2·e^(−30/√2·… ) ≈ 1e-9 per value for Laplace noise
// (P(|L| > k·sd) = e^(−k√2)), so the false-failure rate over the ~50 values
// compared is below 1e-7. Quantiles: see the comment in compareEngines.
func TestEquivalenceWithLocalEngine(t *testing.T) {
	compareEngines(t, equivSpec, false)
}

// With selected partitions, the partitions with many users are released by
// both engines (at this ε a partition with 50 users is kept with
// probability 1 − 10⁻¹⁰⁰ or so), and their values agree within the noise.
func TestEquivalenceSelectedPartitions(t *testing.T) {
	compareEngines(t, selectSpec, true)
}

func compareEngines(t *testing.T, yaml string, selected bool) {
	dir := t.TempDir()
	events, consent := generate(t, dir, 6000, 800, 7)
	spec := parseSpec(t, yaml)
	_, localDir := runJob(t, spec, nil, events, consent)
	res, beamDir := runJob(t, spec, beamEngine(t), events, consent)
	if res.Status != jobs.StatusReleased {
		t.Fatalf("beam run: status %s", res.Status)
	}
	local := readReport(t, filepath.Join(localDir, "out", spec.Name, day.Format("2006-01-02")))
	beam := readReport(t, filepath.Join(beamDir, "out", spec.Name, day.Format("2006-01-02")))
	opts := spec.MetricOptions(nil)
	if len(local.Metrics) != len(beam.Metrics) {
		t.Fatalf("%d metrics local, %d beam", len(local.Metrics), len(beam.Metrics))
	}
	for i, lm := range local.Metrics {
		bm := beam.Metrics[i]
		o := opts[i]
		if lm.Name != bm.Name {
			t.Fatalf("metric %d: %s local, %s beam", i, lm.Name, bm.Name)
		}
		if selected {
			lm.Partitions, bm.Partitions = common(t, lm.Name, lm.Partitions, bm.Partitions)
		}
		if len(lm.Partitions) != len(bm.Partitions) {
			t.Fatalf("metric %s: %d partitions local, %d beam", lm.Name, len(lm.Partitions), len(bm.Partitions))
		}
		for j, lp := range lm.Partitions {
			bp := bm.Partitions[j]
			if lp.Name != bp.Name {
				t.Fatalf("metric %s: partition %d is %q local, %q beam", lm.Name, j, lp.Name, bp.Name)
			}
			if o.Kind == dp.KindQuantiles {
				// Values are whole seconds, sparse near the quantiles: any
				// point of a gap between two values is a right answer, and
				// the tiny noise decides which. Each engine's quantile at
				// rank r must lie within the other's at r ± 0.005 (10 or
				// more values away at these sizes; the noise moves ranks
				// by ~10⁻⁴), give or take a leaf of the tree.
				leaf := (o.Upper - o.Lower) / 65536
				within := func(a, b []reports.Quantile, k int) bool {
					return a[k].Value >= b[k-1].Value-leaf && a[k].Value <= b[k+1].Value+leaf
				}
				for _, k := range []int{1, 4} {
					if !within(lp.Quantiles, bp.Quantiles, k) || !within(bp.Quantiles, lp.Quantiles, k) {
						t.Errorf("%s/%s: quantile %v: local %v, beam %v", lm.Name, lp.Name, lp.Quantiles[k].Rank, lp.Quantiles, bp.Quantiles)
					}
				}
				vc := o.Split().ValueCount.Epsilon
				if tol := 30 * math.Sqrt2 * float64(o.MaxPartitions*o.MaxPerPartition) / vc; bp.ValueCount == nil ||
					math.Abs(*lp.ValueCount-*bp.ValueCount) > math.Max(tol, 1) {
					t.Errorf("%s/%s: value count local %v, beam %v (tolerance %v)", lm.Name, lp.Name, *lp.ValueCount, deref(bp.ValueCount), tol)
				}
				if bp.Quantiles[0].IntervalNote == "" {
					t.Errorf("%s/%s: beam quantile has no interval note", lm.Name, lp.Name)
				}
				continue
			}
			tol := math.Max(30*noiseScale(o, 0), 1)
			if o.Kind == dp.KindMean {
				tol = 30 * noiseScale(o, 100) // every mean partition has hundreds of values here
			}
			if d := math.Abs(lp.Value - bp.Value); d > tol {
				t.Errorf("%s/%s: local %v, beam %v (tolerance %v)", lm.Name, lp.Name, lp.Value, bp.Value, tol)
			}
			if o.Kind == dp.KindMean {
				if bp.IntervalNote == "" {
					t.Errorf("%s/%s: beam mean has no interval note", lm.Name, lp.Name)
				}
			} else if w, bw := lp.Upper-lp.Lower, bp.Upper-bp.Lower; lp.Lower > 0 && bp.Lower > 0 && // not trimmed at 0
				math.Abs(w-bw) > math.Max(0.01*w, 1e-5*math.Abs(lp.Upper)) { // the report rounds its numbers
				t.Errorf("%s/%s: interval width local %v, beam %v", lm.Name, lp.Name, lp.Upper-lp.Lower, bp.Upper-bp.Lower)
			}
		}
		if !selected && lm.CapsCut != nil && lm.CapsCut.Users >= 1 {
			t.Fatalf("%s: the caps bind on the test data (local caps-cut estimate %v users): raise them", lm.Name, lm.CapsCut.Users)
		}
		if lm.CapsCut == nil || bm.CapsCut == nil {
			t.Errorf("%s: caps-cut estimate local %v, beam %v", lm.Name, lm.CapsCut, bm.CapsCut)
		} else if tol := 30 * math.Sqrt2 / o.Split().CapsCut.Epsilon; math.Abs(lm.CapsCut.Contributing-bm.CapsCut.Contributing) > math.Max(tol, 1) ||
			math.Abs(lm.CapsCut.Users-bm.CapsCut.Users) > math.Max(tol, 1) {
			t.Errorf("%s: caps cut local %+v, beam %+v", lm.Name, *lm.CapsCut, *bm.CapsCut)
		}
	}
	if len(local.Population) != len(beam.Population) {
		t.Fatalf("population counts: %d local, %d beam", len(local.Population), len(beam.Population))
	}
	for i, lp := range local.Population {
		if bp := beam.Population[i]; lp.Category != bp.Category || math.Abs(lp.Value-bp.Value) > 1 {
			t.Errorf("population %s: local %v, beam %s %v", lp.Category, lp.Value, bp.Category, bp.Value)
		}
	}
	if t.Failed() {
		b, _ := json.MarshalIndent(beam.Metrics, "", " ")
		t.Logf("beam metrics: %s", b)
	}
}
