package jobs

import (
	"fmt"
	"math"
	"time"

	"github.com/dpstats/dpstats/dp"
	"github.com/dpstats/dpstats/reports"
)

// buildReport turns released values and the spec into a report. It sees no
// rows: only dp.Released values (noisy) and the spec (public). The ledger
// summary is filled in by Run before the report is staged. The report's
// time is now, the run's start (when it was admitted under the ledger's
// lock, and the time of its ledger record), which does not depend on the
// data; its files carry the period's end as modification time.
func buildReport(cfg Config, start, end, now time.Time, released []*dp.Released) (*reports.Report, error) {
	spec := cfg.Spec
	eps, delta := spec.Spend()
	r := &reports.Report{
		Job:         spec.Name,
		Title:       spec.TitleOrName(),
		Period:      cfg.Period,
		RunID:       cfg.RunID,
		ToolVersion: cfg.ToolVersion,
		PeriodStart: start,
		PeriodEnd:   end,
		GeneratedAt: now,
		Epsilon:     eps,
		Delta:       delta,
		Noise:       spec.Privacy.Noise,
		// Provisional: replaced after the spend is recorded.
		Ledger: reports.LedgerSummary{WindowDays: spec.Ledger.WindowDays, EpsilonSpent: eps, EpsilonCap: spec.Ledger.CapEpsilon,
			DeltaSpent: delta, DeltaCap: spec.Ledger.CapDelta},
	}
	if cfg.Rerun {
		r.Warnings = append(r.Warnings, "This is a deliberate re-run of a period that was released before: "+
			"it was charged to the privacy budget again, and its noise is fresh. Comparing it with the earlier "+
			"release of the same period reveals more than either alone; that is why both are charged.")
	}
	for _, st := range spec.Statistics() {
		r.Collected = append(r.Collected, reports.Statistic{
			Name: st.Name, Description: st.Description, Kind: string(st.Kind), Columns: st.Columns,
			ConsentCategory: st.Consent, Generalization: st.Generalization,
			Bounds:       reports.Bounds{MaxPartitions: st.MaxPartitions, MaxPerPartition: st.MaxPerPartition, Lower: deref(st.Lower), Upper: deref(st.Upper)},
			EpsilonShare: st.EpsilonShare,
		})
	}
	stats := spec.Statistics()
	for i, rel := range released {
		m := &spec.Metrics[i]
		rm := reports.Metric{
			Name:            m.Name,
			Title:           m.Title,
			Description:     m.Description,
			Kind:            string(m.Kind),
			Dimension:       m.Dimension,
			ConsentCategory: m.Consent,
			Generalization:  stats[i].Generalization,
			MaxPartitions:   rel.MaxPartitions,
			MaxPerPartition: rel.MaxPerPartition,
			Epsilon:         rel.Epsilon,
			Delta:           rel.Delta,
			ConfidenceLevel: rel.ConfidenceLevel,
			Display:         displayFor(m),
			Warnings:        rel.Warnings,
		}
		if rm.Dimension == "" {
			rm.Dimension = TotalPartition
		}
		if m.Kind.HasValue() {
			rm.Lower, rm.Upper = rel.Lower, rel.Upper
			if m.Generalize != nil {
				rm.Unit = m.Generalize.Unit
			}
		}
		var edges map[string]int // bucket label → index in m.Buckets.Edges
		if m.Buckets != nil {
			rm.BucketUnit = m.Buckets.Unit
			edges = map[string]int{}
			for i, l := range m.Buckets.Labels() {
				edges[l] = i
			}
		}
		for _, p := range rel.Partitions {
			rp := partitionFor(m, rel, p)
			if i, ok := edges[p.Name]; ok {
				rp.BucketLower = ptr(m.Buckets.Edges[i])
				if i+1 < len(m.Buckets.Edges) {
					rp.BucketUpper = ptr(m.Buckets.Edges[i+1])
				}
			}
			rm.Partitions = append(rm.Partitions, rp)
		}
		if c := rel.CapsCut; c != nil {
			rm.CapsCut = &reports.CapsCut{Epsilon: c.Epsilon, Delta: c.Delta,
				Users: c.Users, UsersLower: c.UsersLower, UsersUpper: c.UsersUpper,
				Contributing: c.Contributing, ContributingLower: c.ContributingLower, ContributingUpper: c.ContributingUpper,
				Share: c.Share, ShareLower: c.ShareLower, ShareUpper: c.ShareUpper}
		}
		r.Metrics = append(r.Metrics, rm)
	}
	zcdpReport(r, spec, released)
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("job %s: %w", spec.Name, err)
	}
	return r, nil
}

func partitionFor(m *Metric, rel *dp.Released, p dp.ReleasedPartition) reports.Partition {
	rp := reports.Partition{Name: p.Name, Value: p.Value, Lower: p.Lower, Upper: p.Upper, Clamped: p.Clamped, IntervalNote: p.NoInterval}
	switch m.Kind {
	case KindCount, KindUsers:
		rp.Share, rp.ShareLower, rp.ShareUpper = ptr(p.Share), ptr(p.ShareLower), ptr(p.ShareUpper)
	case KindQuantiles:
		// Value is the released quantile nearest the median, with its own
		// interval (derived by post-processing, see dp/quantci.go), or none
		// and the reason: never the clamping range, which is the metric's.
		best := math.Inf(1)
		for _, q := range p.Quantiles {
			rq := reports.Quantile{Rank: q.Rank, Value: q.Value, IntervalNote: q.NoInterval}
			if q.NoInterval == "" {
				rq.Lower, rq.Upper = ptr(q.Lower), ptr(q.Upper)
			}
			rp.Quantiles = append(rp.Quantiles, rq)
			if d := math.Abs(q.Rank - 0.5); d < best {
				best, rp.Value, rp.Lower, rp.Upper, rp.IntervalNote = d, q.Value, q.Lower, q.Upper, q.NoInterval
				if q.NoInterval != "" {
					rp.Lower, rp.Upper = 0, 0
				}
			}
		}
		rp.ValueCount, rp.ValueCountLower, rp.ValueCountUpper = ptr(p.Values), ptr(p.ValuesLower), ptr(p.ValuesUpper)
	}
	return rp
}

// noQuantileInterval says why a released quantile has no interval.
const noQuantileInterval = "the DP library releases quantiles without a confidence interval"

// quantileFor maps one released quantile, with its interval when the
// release has one.
func quantileFor(q dp.QuantileValue) reports.Quantile {
	return reports.Quantile{Rank: q.Rank, Value: q.Value}
}

// displayFor picks how the report draws a metric: bars with error bars for
// the share of a categorical dimension, a histogram for ordered buckets, a
// table for values.
func displayFor(m *Metric) string {
	switch {
	case m.Kind != KindCount && m.Kind != KindUsers:
		return reports.DisplayTable
	case m.Buckets != nil:
		return reports.DisplayHistogram
	case m.Dimension == "":
		return reports.DisplayTable
	default:
		return reports.DisplayShare
	}
}

func ptr[T any](v T) *T { return &v }

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
