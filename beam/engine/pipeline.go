package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/google/differential-privacy/privacy-on-beam/v3/pbeam"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/dp"
)

// The pipeline:
//
//	event files ──readEvents──▶ (user id, eventRow)  ─┐
//	consent files ─readConsent─▶ (user id, grantRec) ─┴─CoGroupByKey─joinFn─▶ (user id, contrib)
//	  ─beam.Partition by metric─▶ per metric: pbeam.MakePrivate, pbeam.Count/SumPerKey/MeanPerKey/QuantilesPerKey─▶ noisy results
//	  ─format─▶ one staging file of JSON lines (noisy values only).
//
// Only the last step's output leaves the pipeline, and every value in it
// went through Privacy on Beam's noise.

// eventRow is one event in the period, resolved for every metric: its
// partition (excluded: not part of the metric) and value.
type eventRow struct {
	Time  int64
	Parts []string
	Vals  []float64
}

// grantRec says that a user's events at or after From count for consent
// category Category (math.MinInt64: every event of the period).
type grantRec struct {
	Category int
	From     int64
}

// contrib is one contribution of a user to a metric after consent, or,
// with Caps, the user's caps-cut class ("cut" or "kept") for the metric.
type contrib struct {
	Metric int
	Caps   bool
	Part   string
	Value  float64
}

const (
	capsCut  = "cut"
	capsKept = "kept"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*eventRow)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*grantRec)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*contrib)(nil)).Elem())
	register.DoFn3x1[context.Context, string, func(string, eventRow), error](&readEventsFn{})
	register.DoFn3x1[context.Context, []byte, func(string, grantRec), error](&readConsentFn{})
	register.DoFn4x0[string, func(*eventRow) bool, func(*grantRec) bool, func(string, contrib)](&joinFn{})
	register.Function2x1(slotOf)
	register.DoFn2x1[string, int64, string](&formatIntFn{})
	register.DoFn2x1[string, float64, string](&formatFloatFn{})
	register.DoFn2x1[string, []float64, string](&formatQuantilesFn{})
	register.Function1x1(partOf)
	register.Function1x2(partValue)
	register.Function2x1(keyOfQuantiles)
	register.Emitter2[string, eventRow]()
	register.Emitter2[string, grantRec]()
	register.Emitter2[string, contrib]()
	register.Iter1[eventRow]()
	register.Iter1[grantRec]()
}

func timeOf(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// readEventsFn reads one event file and emits its events in the period,
// keyed by user id.
type readEventsFn struct {
	Plan *plan
}

func (f *readEventsFn) ProcessElement(ctx context.Context, path string, emit func(string, eventRow)) error {
	in, err := openInput(ctx, path)
	if err != nil {
		return err
	}
	users := datasets.NewUserIndex()
	r, err := datasets.NewEventReaderFrom([]datasets.Input{in}, f.Plan.eventSpec(), users)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer r.Close()
	p := f.Plan
	type resolver struct {
		public map[string]bool
		gen    datasets.Generalizer
	}
	res := make([]resolver, len(p.Metrics))
	for i, m := range p.Metrics {
		res[i].public = map[string]bool{}
		for _, n := range m.Public {
			res[i].public[n] = true
		}
		if m.BucketNum >= 0 {
			res[i].gen = p.Numbers[m.BucketNum].gen()
		}
	}
	var names []string
	for r.Scan() {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := r.Batch()
		if len(names) < users.Len() {
			names = users.AppendNames(names)
		}
		for i := 0; i < b.Len; i++ {
			row := eventRow{Time: b.Times[i], Parts: make([]string, len(p.Metrics)), Vals: make([]float64, len(p.Metrics))}
			for k, m := range p.Metrics {
				part := m.Other
				switch {
				case m.Dim >= 0:
					c := b.Codes[m.Dim][i]
					if c < 0 {
						continue
					}
					v := r.DimValues(m.Dim)[c]
					switch {
					case v == "":
						continue // no value, like a null
					case m.Selected || res[k].public[v]:
						part = v
					}
				case m.BucketNum >= 0:
					if !b.NumberValid[m.BucketNum][i] {
						continue
					}
					j := res[k].gen.Bucket(b.Numbers[m.BucketNum][i])
					if j < 0 || j >= len(m.Public) {
						continue
					}
					part = m.Public[j]
				}
				if m.ValueNum >= 0 {
					if !b.NumberValid[m.ValueNum][i] {
						continue
					}
					row.Vals[k] = float64(b.Numbers[m.ValueNum][i])
				}
				row.Parts[k] = part
			}
			emit(names[b.Users[i]], row)
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return nil
}

// readConsentFn reads every consent file (a user's records may be in any
// of them) with the local engine's consent rules (datasets.Consent) and
// emits, per user and category, the instant from which the user's events
// of the period count.
type readConsentFn struct {
	Plan  *plan
	Paths []string
}

func (f *readConsentFn) ProcessElement(ctx context.Context, _ []byte, emit func(string, grantRec)) error {
	p := f.Plan
	inputs := make([]datasets.Input, 0, len(f.Paths))
	for _, path := range f.Paths {
		in, err := openInput(ctx, path)
		if err != nil {
			return err
		}
		inputs = append(inputs, in)
	}
	users := datasets.NewUserIndex()
	cols := datasets.ConsentColumns{User: p.ConsentUser, Category: p.ConsentCategory, Granted: p.ConsentGranted, UpdatedAt: p.ConsentUpdatedAt}
	consent, err := datasets.LoadConsentFrom(inputs, users, timeOf(p.AsOf), cols)
	if err != nil {
		return fmt.Errorf("read consent: %w", err)
	}
	names := users.AppendNames(nil)
	for c, cat := range p.Categories {
		g := consent.GrantsDuring(cat, timeOf(p.Start), timeOf(p.End))
		for u, name := range names {
			if from, ok := g.From(uint32(u)); ok {
				emit(name, grantRec{Category: c, From: from})
			}
		}
	}
	return nil
}

// joinFn applies consent to one user's events and emits their
// contributions to every metric, and, for the metrics that estimate it,
// whether the per-user caps cut them.
type joinFn struct {
	Plan *plan
	// CapsCut[m] says whether metric m estimates the caps cut.
	CapsCut []bool
}

type partState struct {
	n   int
	sum float64
}

func (f *joinFn) ProcessElement(user string, events func(*eventRow) bool, grants func(*grantRec) bool, emit func(string, contrib)) {
	p := f.Plan
	from := make([]int64, len(p.Categories))
	granted := make([]bool, len(p.Categories))
	var g grantRec
	for grants(&g) {
		granted[g.Category], from[g.Category] = true, g.From
	}
	caps := make([]map[string]*partState, len(p.Metrics))
	var row eventRow
	for events(&row) {
		for m, mp := range p.Metrics {
			c := mp.Category
			if !granted[c] || row.Time < from[c] || row.Parts[m] == excluded {
				continue
			}
			v := row.Vals[m]
			if mp.ValueNum >= 0 {
				v = math.Min(math.Max(v, mp.Lower), mp.Upper) // each value is clamped, as dp.Aggregator.Add does
			}
			emit(user, contrib{Metric: m, Part: row.Parts[m], Value: v})
			if f.CapsCut[m] {
				if caps[m] == nil {
					caps[m] = map[string]*partState{}
				}
				st := caps[m][row.Parts[m]]
				if st == nil {
					st = &partState{}
					caps[m][row.Parts[m]] = st
				}
				st.n++
				st.sum += v
			}
		}
	}
	for m, parts := range caps {
		if parts == nil {
			continue
		}
		emit(user, contrib{Metric: m, Caps: true, Part: cutClass(p.Metrics[m], parts)})
	}
}

// cutClass says whether the caps cut a user with these partitions (see
// dp.CapsCut): more than l0 partitions, or, in any of them (all are kept
// when there are at most l0), more than l∞ events or values, or a sum
// outside l∞×[lower, upper].
func cutClass(m metricPlan, parts map[string]*partState) string {
	if len(parts) > m.L0 {
		return capsCut
	}
	for _, st := range parts {
		switch dp.Kind(m.Kind) {
		case dp.KindCount, dp.KindMean, dp.KindQuantiles:
			if st.n > m.Linf {
				return capsCut
			}
		case dp.KindSum:
			if st.sum < float64(m.Linf)*m.Lower || st.sum > float64(m.Linf)*m.Upper {
				return capsCut
			}
		}
	}
	return capsKept
}

// slotOf is the partition (beam.Partition) of a contribution: two slots
// per metric, its contributions and its caps-cut classes.
func slotOf(_ string, c contrib) int {
	if c.Caps {
		return 2*c.Metric + 1
	}
	return 2 * c.Metric
}

func partOf(c contrib) string                     { return c.Part }
func partValue(c contrib) (string, float64)       { return c.Part, c.Value }
func keyOfQuantiles(k string, _ []float64) string { return k }

// result is one staged line: a noisy value of one metric's partition.
type result struct {
	Metric int       `json:"m"`
	What   string    `json:"w"` // "value", "values" (quantiles' count), "caps"
	Part   string    `json:"p"`
	Value  float64   `json:"v,omitempty"`
	Quant  []float64 `json:"q,omitempty"`
}

const (
	whatValue  = "value"
	whatValues = "values"
	whatCaps   = "caps"
)

func line(r result) string {
	b, _ := json.Marshal(r) // plain strings and finite floats
	return string(b)
}

type formatIntFn struct {
	Metric int
	What   string
}

func (f *formatIntFn) ProcessElement(k string, v int64) string {
	return line(result{Metric: f.Metric, What: f.What, Part: k, Value: float64(v)})
}

type formatFloatFn struct {
	Metric int
	What   string
}

func (f *formatFloatFn) ProcessElement(k string, v float64) string {
	return line(result{Metric: f.Metric, What: f.What, Part: k, Value: v})
}

type formatQuantilesFn struct {
	Metric int
}

func (f *formatQuantilesFn) ProcessElement(k string, q []float64) string {
	return line(result{Metric: f.Metric, What: whatValue, Part: k, Quant: q})
}

func noiseKind(o dp.MetricOptions) pbeam.NoiseKind {
	if o.Noise == dp.NoiseGaussian {
		return pbeam.GaussianNoise{}
	}
	return pbeam.LaplaceNoise{}
}

// publicPartitions are the partitions a metric with public partitions
// always releases: the list, then "other" (or "total"), as dp names them.
func publicPartitions(o dp.MetricOptions) []string {
	out := append([]string(nil), o.Partitions...)
	switch {
	case len(o.Partitions) == 0:
		out = append(out, dp.TotalName)
	case !o.NoOther:
		out = append(out, dp.OtherName)
	}
	return out
}

// private makes contributions private under a spec holding exactly the
// budget the aggregations on it consume.
func private(s beam.Scope, contribs beam.PCollection, aggEps, aggDel, selEps, selDel float64) (pbeam.PrivatePCollection, error) {
	spec, err := pbeam.NewPrivacySpec(pbeam.PrivacySpecParams{AggregationEpsilon: aggEps, AggregationDelta: aggDel,
		PartitionSelectionEpsilon: selEps, PartitionSelectionDelta: selDel})
	if err != nil {
		return pbeam.PrivatePCollection{}, err
	}
	return pbeam.MakePrivate(s, contribs, spec), nil
}

// addMetric adds metric i's aggregations (options o) over its
// contributions and caps-cut classes, and returns their formatted noisy
// outputs. Budgets are those of o.Split(), mechanism by mechanism, as the
// local engine spends them.
func addMetric(s beam.Scope, contribs, classes beam.PCollection, i int, o dp.MetricOptions) ([]beam.PCollection, error) {
	s = s.Scope(fmt.Sprintf("metric%d", i))
	sp := o.Split()
	agg, sel, vc := sp.Aggregation, sp.Selection, sp.ValueCount
	pcol, err := private(s, contribs, agg.Epsilon+vc.Epsilon, agg.Delta+vc.Delta, sel.Epsilon, sel.Delta)
	if err != nil {
		return nil, fmt.Errorf("metric %s: %w", o.Name, err)
	}
	l0, linf := int64(o.MaxPartitions), int64(o.MaxPerPartition)
	var public any
	var selection pbeam.PartitionSelectionParams
	if o.SelectPartitions {
		selection = pbeam.PartitionSelectionParams{Epsilon: sel.Epsilon, Delta: sel.Delta}
	} else {
		public = publicPartitions(o)
	}
	var out []beam.PCollection
	switch o.Kind {
	case dp.KindCount, dp.KindUsers:
		if o.Kind == dp.KindUsers {
			linf = 1 // a user's events in a partition count once: distinct users
		}
		counts := pbeam.Count(s, pbeam.ParDo(s, partOf, pcol), pbeam.CountParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: agg.Epsilon, AggregationDelta: agg.Delta, PartitionSelectionParams: selection, PublicPartitions: public,
			MaxPartitionsContributed: l0, MaxValue: linf, AllowNegativeOutputs: true})
		out = append(out, beam.ParDo(s, &formatIntFn{Metric: i, What: whatValue}, counts))
	case dp.KindSum:
		sums := pbeam.SumPerKey(s, pbeam.ParDo(s, partValue, pcol), pbeam.SumParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: agg.Epsilon, AggregationDelta: agg.Delta, PartitionSelectionParams: selection, PublicPartitions: public,
			MaxPartitionsContributed: l0, MinValue: float64(linf) * o.Lower, MaxValue: float64(linf) * o.Upper})
		out = append(out, beam.ParDo(s, &formatFloatFn{Metric: i, What: whatValue}, sums))
	case dp.KindMean:
		means := pbeam.MeanPerKey(s, pbeam.ParDo(s, partValue, pcol), pbeam.MeanParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: agg.Epsilon, AggregationDelta: agg.Delta, PartitionSelectionParams: selection, PublicPartitions: public,
			MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf, MinValue: o.Lower, MaxValue: o.Upper})
		out = append(out, beam.ParDo(s, &formatFloatFn{Metric: i, What: whatValue}, means))
	case dp.KindQuantiles:
		qs := pbeam.QuantilesPerKey(s, pbeam.ParDo(s, partValue, pcol), pbeam.QuantilesParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: agg.Epsilon, AggregationDelta: agg.Delta, PartitionSelectionParams: selection, PublicPartitions: public,
			MaxPartitionsContributed: l0, MaxContributionsPerPartition: linf, MinValue: o.Lower, MaxValue: o.Upper, Ranks: o.Ranks})
		out = append(out, beam.ParDo(s, &formatQuantilesFn{Metric: i}, qs))
		// The number of values per partition, on the partitions the
		// quantiles released (public, or the output of their DP selection).
		countPublic := public
		if o.SelectPartitions {
			countPublic = beam.ParDo(s, keyOfQuantiles, qs)
		}
		n := pbeam.Count(s, pbeam.ParDo(s, partOf, pcol), pbeam.CountParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: vc.Epsilon, AggregationDelta: vc.Delta, PublicPartitions: countPublic,
			MaxPartitionsContributed: l0, MaxValue: linf, AllowNegativeOutputs: true})
		out = append(out, beam.ParDo(s, &formatIntFn{Metric: i, What: whatValues}, n))
	default:
		return nil, fmt.Errorf("metric %s: kind %q is unknown", o.Name, o.Kind)
	}
	if cc := sp.CapsCut; o.CapsCutFraction > 0 {
		cpcol, err := private(s, classes, cc.Epsilon, cc.Delta, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("metric %s: caps-cut estimate: %w", o.Name, err)
		}
		// One class per user: a count of users in two public partitions.
		counts := pbeam.Count(s, pbeam.ParDo(s, partOf, cpcol), pbeam.CountParams{NoiseKind: noiseKind(o),
			AggregationEpsilon: cc.Epsilon, AggregationDelta: cc.Delta, PublicPartitions: []string{capsCut, capsKept},
			MaxPartitionsContributed: 1, MaxValue: 1, AllowNegativeOutputs: true})
		out = append(out, beam.ParDo(s, &formatIntFn{Metric: i, What: whatCaps}, counts))
	}
	return out, nil
}
