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
		for _, p := range rel.Partitions {
			rm.Partitions = append(rm.Partitions, partitionFor(m, rel, p))
		}
		r.Metrics = append(r.Metrics, rm)
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("job %s: %w", spec.Name, err)
	}
	return r, nil
}

func partitionFor(m *Metric, rel *dp.Released, p dp.ReleasedPartition) reports.Partition {
	rp := reports.Partition{Name: p.Name, Value: p.Value, Lower: p.Lower, Upper: p.Upper, Clamped: p.Clamped}
	switch m.Kind {
	case KindCount, KindUsers:
		rp.Share, rp.ShareLower, rp.ShareUpper = ptr(p.Share), ptr(p.ShareLower), ptr(p.ShareUpper)
	case KindQuantiles:
		// The library gives no interval for quantiles: value is the released
		// quantile nearest the median, and [lower, upper] the clamping range,
		// which holds every quantile of the clamped values for certain.
		best := math.Inf(1)
		for _, q := range p.Quantiles {
			rp.Quantiles = append(rp.Quantiles, reports.Quantile{Rank: q.Rank, Value: q.Value})
			if d := math.Abs(q.Rank - 0.5); d < best {
				best, rp.Value = d, q.Value
			}
		}
		rp.Lower, rp.Upper = rel.Lower, rel.Upper
	}
	return rp
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
