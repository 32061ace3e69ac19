package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// TidyCSVName is the file name of the report's long-format CSV, beside
// report.json and the per-metric CSVs.
const TidyCSVName = "report.csv"

// TidyColumns is the header of report.csv, in order. The first fourteen are
// the promised tidy columns; the rest add what a notebook needs to read a
// row on its own.
var TidyColumns = []string{
	"period", "metric", "kind", "dimension", "partition",
	"value", "lower", "upper", "share", "share_lower", "share_upper",
	"bucket_lower", "bucket_upper", "unit",
	"rank", "bucket_unit", "confidence_level", "clamped", "noise_dominated", "interval_note",
}

// WriteTidyCSV writes report.csv: every released number of the report in
// long format, one row per number, for notebooks (pandas, R, DuckDB).
//
// Rows come in metric order, then partition order (the order of
// report.json). Count, users, sum and mean metrics have one row per
// partition; quantiles metrics one row per partition and rank (rank set,
// share empty). Columns:
//
//   - period, metric, kind, dimension, partition: what the row is. kind is
//     the metric's kind (count, users, sum, mean, quantiles).
//   - value, lower, upper: the released value and its confidence interval at
//     confidence_level, in unit ("events" or "users" for counts; the
//     metric's unit, e.g. "s", for the others). The interval covers the noise
//     around the bounded statistic (after the per-user caps and clamping).
//     lower and upper are empty when the number has no interval, and
//     interval_note then says why; they are never the clamping bounds.
//   - share, share_lower, share_upper: count and users only, a fraction in
//     [0, 1] derived from the noisy counts.
//   - bucket_lower, bucket_upper: the numeric edges [lower, upper) of a
//     bucketed dimension, in bucket_unit; bucket_upper is empty for the
//     open last bucket; both are empty for other dimensions.
//   - clamped: post-processing raised a negative noisy value to 0 (value
//     keeps the released number); noise_dominated: the mostly-noise rule
//     (NoiseRule) marks the number.
//
// Numbers have 6 significant digits and always a decimal point or an
// exponent (so every tool reads them as floating point); booleans are true
// or false. Text
// cells that a spreadsheet would run as formulas get a leading quote, as in
// WriteCSV. Read it in pandas with
// pd.read_csv(path, keep_default_na=False, na_values=[""]) so that a
// partition named "NA" or "null" stays text.
func WriteTidyCSV(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("WriteTidyCSV: %w", err)
	}
	r = sanitized(r)
	cw := csv.NewWriter(w)
	if err := cw.Write(TidyColumns); err != nil {
		return fmt.Errorf("WriteTidyCSV: write: %w", err)
	}
	period := spreadsheetSafe(r.Period)
	for i := range r.Metrics {
		m := &r.Metrics[i]
		head := []string{period, spreadsheetSafe(m.Name), m.Kind, spreadsheetSafe(m.Dimension)}
		unit, bunit := spreadsheetSafe(valueUnit(m)), spreadsheetSafe(m.BucketUnit)
		level := csvNum(m.ConfidenceLevel)
		for _, p := range m.Partitions {
			name := spreadsheetSafe(p.Name)
			buckets := []string{optNum(p.BucketLower), optNum(p.BucketUpper)}
			if p.BucketLower == nil {
				bunit = ""
			} else {
				bunit = spreadsheetSafe(m.BucketUnit)
			}
			if m.Kind == KindQuantiles && len(p.Quantiles) > 0 {
				for _, q := range p.Quantiles {
					x := quantileInterval(p, q)
					note := ""
					if !x.ok {
						note = x.note
					}
					row := append(append([]string(nil), head...), name,
						csvNum(q.Value), ciNum(x, x.lo), ciNum(x, x.hi), "", "", "")
					row = append(row, buckets...)
					row = append(row, unit, csvNum(q.Rank), bunit, level,
						"false", strconv.FormatBool(quantileNoiseReason(m, p, q) != ""), spreadsheetSafe(note))
					if err := cw.Write(row); err != nil {
						return fmt.Errorf("WriteTidyCSV: write: %w", err)
					}
				}
				continue
			}
			x := partitionInterval(p)
			note := ""
			if !x.ok {
				note = x.note
			}
			row := append(append([]string(nil), head...), name,
				csvNum(p.Value), ciNum(x, x.lo), ciNum(x, x.hi),
				optNum(p.Share), optNum(p.ShareLower), optNum(p.ShareUpper))
			row = append(row, buckets...)
			row = append(row, unit, "", bunit, level,
				strconv.FormatBool(p.Clamped), strconv.FormatBool(noiseReason(m, p) != ""), spreadsheetSafe(note))
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("WriteTidyCSV: write: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("WriteTidyCSV: write: %w", err)
	}
	return nil
}
