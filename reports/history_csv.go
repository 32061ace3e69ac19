package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// HistoryCSVColumns is the header of history.csv. One row per period of the
// timeline and series (a partition, or a partition and rank for quantiles):
// tidy long format, ready for pandas.read_csv or R's read.csv.
//
//   - period, period_start, period_end: the period (RFC 3339, UTC);
//   - metric, kind, dimension, partition, rank (quantiles only), unit,
//     confidence_level, epsilon (the metric's ε in that period);
//   - released: false for a gap (no report, or the statistic was defined
//     differently then): every number of the row is empty, never 0;
//   - value, lower, upper, clamped, share, share_lower, share_upper: as the
//     period's report.json published them (for quantiles: the quantile at
//     rank and its interval, empty when the report gave none);
//   - rolling7_days: released periods in the trailing 7-day window (up to
//     7); rolling7_value, _lower, _upper and rolling7_share, _share_lower,
//     _share_upper: their average and its interval, mean ± sqrt(Σ h²)/n;
//   - change_of: "share" or "value", what the changes compare;
//     prev_period and week_period: the period before and the one 7 days
//     before (empty if the timeline has none); change_prev and
//     change_week: the difference to it (empty if either was not released);
//     change_*_noise: the half-width sqrt(h₁² + h₂²) of the difference's
//     interval; change_*_exceeds_noise: whether |change| > noise.
var HistoryCSVColumns = []string{
	"period", "period_start", "period_end",
	"metric", "kind", "dimension", "partition", "rank", "unit", "confidence_level", "epsilon",
	"released", "value", "lower", "upper", "clamped", "share", "share_lower", "share_upper",
	"rolling7_days", "rolling7_value", "rolling7_lower", "rolling7_upper",
	"rolling7_share", "rolling7_share_lower", "rolling7_share_upper",
	"change_of",
	"prev_period", "change_prev", "change_prev_noise", "change_prev_exceeds_noise",
	"week_period", "change_week", "change_week_noise", "change_week_exceeds_noise",
}

// WriteHistoryCSV writes history.csv: see HistoryCSVColumns. Rows are
// ordered by metric (as in the index), series, then period. Numbers have 6
// significant digits.
func WriteHistoryCSV(w io.Writer, h *History) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(HistoryCSVColumns); err != nil {
		return fmt.Errorf("WriteHistoryCSV: %w", err)
	}
	num := func(f float64) string { return formatSig(f, significantDigits) }
	ci := func(e estimate) (string, string) {
		if !e.CI {
			return "", ""
		}
		return num(e.Lo), num(e.Hi)
	}
	for _, hm := range h.metrics {
		m := &hm.def
		for _, s := range hm.series {
			for i := range s.days {
				p := &h.Periods[i]
				d := &s.days[i]
				row := make([]string, 0, len(HistoryCSVColumns))
				row = append(row, clean(p.Name), p.Start.UTC().Format(time.RFC3339), p.End.UTC().Format(time.RFC3339),
					clean(m.Name), clean(m.Kind), spreadsheetSafe(clean(m.Dimension)), spreadsheetSafe(clean(s.partition)))
				rank := ""
				if s.quantile {
					rank = num(s.rank)
				}
				row = append(row, rank, clean(m.Unit), num(m.ConfidenceLevel))
				if !d.released {
					row = append(row, "", "false")
					for len(row) < len(HistoryCSVColumns) {
						row = append(row, "")
					}
					row[colChangeOf] = hm.measure
					if d.prev >= 0 {
						row[colPrevPeriod] = clean(h.Periods[d.prev].Name)
					}
					if d.week >= 0 {
						row[colWeekPeriod] = clean(h.Periods[d.week].Name)
					}
					if err := cw.Write(row); err != nil {
						return fmt.Errorf("WriteHistoryCSV: %w", err)
					}
					continue
				}
				lo, hi := ci(d.value)
				row = append(row, num(d.epsilon), "true", num(d.value.V), lo, hi)
				if s.quantile {
					row = append(row, "")
				} else {
					row = append(row, strconv.FormatBool(d.clamped))
				}
				if d.share != nil {
					slo, shi := ci(*d.share)
					row = append(row, num(d.share.V), slo, shi)
				} else {
					row = append(row, "", "", "")
				}
				rlo, rhi := ci(d.rolling)
				row = append(row, strconv.Itoa(d.rollDays), num(d.rolling.V), rlo, rhi)
				if d.rollShare != nil {
					slo, shi := ci(*d.rollShare)
					row = append(row, num(d.rollShare.V), slo, shi)
				} else {
					row = append(row, "", "", "")
				}
				row = append(row, hm.measure)
				for _, c := range []struct {
					idx int
					ok  bool
					ch  change
				}{{d.prev, d.prevOK, d.prevCh}, {d.week, d.weekOK, d.weekCh}} {
					name := ""
					if c.idx >= 0 {
						name = clean(h.Periods[c.idx].Name)
					}
					switch {
					case !c.ok:
						row = append(row, name, "", "", "")
					case !c.ch.CI:
						row = append(row, name, num(c.ch.Diff), "", "")
					default:
						row = append(row, name, num(c.ch.Diff), num(c.ch.Noise), strconv.FormatBool(c.ch.Exceeds))
					}
				}
				if err := cw.Write(row); err != nil {
					return fmt.Errorf("WriteHistoryCSV: %w", err)
				}
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("WriteHistoryCSV: %w", err)
	}
	return nil
}

// Indices in HistoryCSVColumns of the columns a gap row still fills
// (TestHistoryColumnIndices keeps them in step with the header).
const (
	colChangeOf   = 26
	colPrevPeriod = 27
	colWeekPeriod = 31
)
