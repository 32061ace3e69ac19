package reports

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// significantDigits is the precision of every float in report.json. Released
// values carry noise far larger than this, so more digits would only suggest
// a precision that is not there.
const significantDigits = 6

// num is a float64 that marshals rounded to significantDigits.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	return []byte(formatSig(float64(n), significantDigits)), nil
}

// formatSig formats f rounded to digits significant digits, as a JSON number
// without exponent unless the magnitude is extreme.
func formatSig(f float64, digits int) string {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return "0" // validation rejects non-finite values before this point
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', digits, 64), 64)
	if a := math.Abs(r); a >= 1e21 || a < 1e-7 {
		return strconv.FormatFloat(r, 'g', -1, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

func numPtr(f *float64) *num {
	if f == nil {
		return nil
	}
	n := num(*f)
	return &n
}

// The wire format. Field order here is the order in report.json; field names
// and meanings are documented in schema/report.schema.json.
type (
	jsonReport struct {
		Schema        string          `json:"$schema"`
		SchemaVersion string          `json:"schema_version"`
		Job           string          `json:"job"`
		Title         string          `json:"title"`
		Period        string          `json:"period"`
		RunID         string          `json:"run_id"`
		ToolVersion   string          `json:"tool_version"`
		PeriodStart   string          `json:"period_start"`
		PeriodEnd     string          `json:"period_end"`
		GeneratedAt   string          `json:"generated_at"`
		Epsilon       num             `json:"epsilon"`
		Delta         num             `json:"delta"`
		Noise         string          `json:"noise"`
		Ledger        jsonLedger      `json:"ledger"`
		Metrics       []jsonMetric    `json:"metrics"`
		Collected     []jsonStatistic `json:"collected"`
		Warnings      []string        `json:"warnings"`
		// Since 1.1.0; omitted when the report has no population counts.
		Population []jsonPopulation `json:"population,omitempty"`
		MinUsers   *int             `json:"min_users,omitempty"`
		// Since 1.2.0; omitted under pure accounting.
		ZCDP *jsonZCDP `json:"zcdp,omitempty"`
	}
	jsonLedger struct {
		WindowDays   int `json:"window_days"`
		EpsilonSpent num `json:"epsilon_spent"`
		EpsilonCap   num `json:"epsilon_cap"`
		DeltaSpent   num `json:"delta_spent"`
		DeltaCap     num `json:"delta_cap"`
		// Since schema 1.1.0.
		EpsilonAllTime num `json:"epsilon_all_time"`
		DeltaAllTime   num `json:"delta_all_time"`
		UnknownAllTime int `json:"all_time_unknown_records"`
		// Since 1.2.0; omitted while the window holds only pure releases.
		ZCDP *jsonLedgerZCDP `json:"zcdp,omitempty"`
	}
	jsonBounds struct {
		MaxPartitions   int `json:"max_partitions"`
		MaxPerPartition int `json:"max_per_partition"`
		Lower           num `json:"lower"`
		Upper           num `json:"upper"`
	}
	jsonMetric struct {
		Name            string          `json:"name"`
		Title           string          `json:"title"`
		Description     string          `json:"description"`
		Kind            string          `json:"kind"`
		Dimension       string          `json:"dimension"`
		ConsentCategory string          `json:"consent_category"`
		Generalization  string          `json:"generalization"`
		Unit            string          `json:"unit"`
		Display         string          `json:"display"`
		BucketUnit      string          `json:"bucket_unit,omitempty"`
		Bounds          jsonBounds      `json:"bounds"`
		Epsilon         num             `json:"epsilon"`
		Delta           num             `json:"delta"`
		ConfidenceLevel num             `json:"confidence_level"`
		Partitions      []jsonPartition `json:"partitions"`
		Warnings        []string        `json:"warnings"`
		CapsCut         *jsonCapsCut    `json:"caps_cut,omitempty"`
		// Since 1.2.0; omitted under pure accounting.
		ZCDP *jsonZCDP `json:"zcdp,omitempty"`
	}
	jsonCapsCut struct {
		Epsilon           num  `json:"epsilon"`
		Delta             num  `json:"delta"`
		Rho               *num `json:"rho,omitempty"` // since 1.2.0, under zcdp
		Users             num  `json:"users"`
		UsersLower        num  `json:"users_lower"`
		UsersUpper        num  `json:"users_upper"`
		Contributing      num  `json:"contributing"`
		ContributingLower num  `json:"contributing_lower"`
		ContributingUpper num  `json:"contributing_upper"`
		Share             num  `json:"share"`
		ShareLower        num  `json:"share_lower"`
		ShareUpper        num  `json:"share_upper"`
	}
	jsonPartition struct {
		Name           string         `json:"name"`
		Value          num            `json:"value"`
		Lower          *num           `json:"lower,omitempty"`
		Upper          *num           `json:"upper,omitempty"`
		IntervalNote   string         `json:"interval_note,omitempty"`
		Clamped        bool           `json:"clamped"`
		NoiseDominated bool           `json:"noise_dominated"`
		Share          *num           `json:"share,omitempty"`
		ShareLower     *num           `json:"share_lower,omitempty"`
		ShareUpper     *num           `json:"share_upper,omitempty"`
		BucketLower    *num           `json:"bucket_lower,omitempty"`
		BucketUpper    *num           `json:"bucket_upper,omitempty"`
		Quantiles      []jsonQuantile `json:"quantiles,omitempty"`
		ValueCount     *num           `json:"value_count,omitempty"`
		CountLower     *num           `json:"value_count_lower,omitempty"`
		CountUpper     *num           `json:"value_count_upper,omitempty"`
	}
	jsonQuantile struct {
		Rank           num    `json:"rank"`
		Value          num    `json:"value"`
		Lower          *num   `json:"lower,omitempty"`
		Upper          *num   `json:"upper,omitempty"`
		IntervalNote   string `json:"interval_note,omitempty"`
		NoiseDominated bool   `json:"noise_dominated"`
	}
	jsonStatistic struct {
		Name            string     `json:"name"`
		Description     string     `json:"description"`
		Kind            string     `json:"kind,omitempty"`
		Columns         []string   `json:"columns"`
		ConsentCategory string     `json:"consent_category"`
		Generalization  string     `json:"generalization"`
		Bounds          jsonBounds `json:"bounds"`
		EpsilonShare    num        `json:"epsilon_share"`
	}
)

// SchemaID is the $id of the embedded JSON Schema. report.json names the
// copy published beside it, SchemaFile, in its "$schema" field (reports of
// schema version 1.0 named SchemaID there).
const SchemaID = "https://dpstats.github.io/schema/report/v1/report.schema.json"

func emptyIfNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func utc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func toJSON(r *Report) jsonReport {
	out := jsonReport{
		Schema:        SchemaFile,
		SchemaVersion: SchemaVersion,
		Job:           r.Job,
		Title:         r.Title,
		Period:        r.Period,
		RunID:         r.RunID,
		ToolVersion:   r.ToolVersion,
		PeriodStart:   utc(r.PeriodStart),
		PeriodEnd:     utc(r.PeriodEnd),
		GeneratedAt:   utc(r.GeneratedAt),
		Epsilon:       num(r.Epsilon),
		Delta:         num(r.Delta),
		Noise:         r.Noise,
		Ledger: jsonLedger{
			WindowDays:     r.Ledger.WindowDays,
			EpsilonSpent:   num(r.Ledger.EpsilonSpent),
			EpsilonCap:     num(r.Ledger.EpsilonCap),
			DeltaSpent:     num(r.Ledger.DeltaSpent),
			DeltaCap:       num(r.Ledger.DeltaCap),
			EpsilonAllTime: num(r.Ledger.EpsilonAllTime),
			DeltaAllTime:   num(r.Ledger.DeltaAllTime),
			UnknownAllTime: r.Ledger.UnknownAllTime,
			ZCDP:           ledgerZCDPJSON(r.Ledger.ZCDP),
		},
		ZCDP:      zcdpJSON(r.ZCDP),
		Metrics:   make([]jsonMetric, 0, len(r.Metrics)),
		Collected: make([]jsonStatistic, 0, len(r.Collected)),
		Warnings:  emptyIfNil(r.Warnings),
	}
	if out.Title == "" {
		out.Title = r.Job
	}
	out.Population, out.MinUsers = populationJSON(r)
	for _, m := range r.Metrics {
		jm := jsonMetric{
			Name: m.Name, Title: m.Title, Description: m.Description, Kind: m.Kind,
			Dimension: m.Dimension, ConsentCategory: m.ConsentCategory, Generalization: m.Generalization,
			Unit: m.Unit, Display: displayOf(&m), BucketUnit: m.BucketUnit,
			Bounds:          jsonBounds{m.MaxPartitions, m.MaxPerPartition, num(m.Lower), num(m.Upper)},
			Epsilon:         num(m.Epsilon),
			Delta:           num(m.Delta),
			ConfidenceLevel: num(m.ConfidenceLevel),
			Partitions:      make([]jsonPartition, 0, len(m.Partitions)),
			Warnings:        emptyIfNil(m.Warnings),
			ZCDP:            zcdpJSON(m.ZCDP),
		}
		if c := m.CapsCut; c != nil {
			jm.CapsCut = &jsonCapsCut{num(c.Epsilon), num(c.Delta), nil, num(c.Users), num(c.UsersLower), num(c.UsersUpper),
				num(c.Contributing), num(c.ContributingLower), num(c.ContributingUpper), num(c.Share), num(c.ShareLower), num(c.ShareUpper)}
			if c.Rho > 0 {
				jm.CapsCut.Rho = numPtr(&c.Rho)
			}
		}
		for _, p := range m.Partitions {
			jp := jsonPartition{
				Name: p.Name, Value: num(p.Value), Clamped: p.Clamped, NoiseDominated: noiseReason(&m, p) != "",
				Share: numPtr(p.Share), ShareLower: numPtr(p.ShareLower), ShareUpper: numPtr(p.ShareUpper),
				BucketLower: numPtr(p.BucketLower), BucketUpper: numPtr(p.BucketUpper),
				ValueCount: numPtr(p.ValueCount), CountLower: numPtr(p.ValueCountLower), CountUpper: numPtr(p.ValueCountUpper),
			}
			if x := partitionInterval(p); x.ok {
				jp.Lower, jp.Upper = numPtr(&x.lo), numPtr(&x.hi)
			} else {
				jp.IntervalNote = x.note
			}
			for _, q := range p.Quantiles {
				jq := jsonQuantile{Rank: num(q.Rank), Value: num(q.Value), NoiseDominated: quantileNoiseReason(&m, p, q) != ""}
				if x := quantileInterval(p, q); x.ok {
					jq.Lower, jq.Upper = numPtr(&x.lo), numPtr(&x.hi)
				} else {
					jq.IntervalNote = x.note
				}
				jp.Quantiles = append(jp.Quantiles, jq)
			}
			jm.Partitions = append(jm.Partitions, jp)
		}
		out.Metrics = append(out.Metrics, jm)
	}
	for _, s := range r.Collected {
		out.Collected = append(out.Collected, jsonStatistic{
			Name: s.Name, Description: s.Description, Kind: s.Kind, Columns: emptyIfNil(s.Columns),
			ConsentCategory: s.ConsentCategory, Generalization: s.Generalization,
			Bounds:       jsonBounds{s.Bounds.MaxPartitions, s.Bounds.MaxPerPartition, num(s.Bounds.Lower), num(s.Bounds.Upper)},
			EpsilonShare: num(s.EpsilonShare),
		})
	}
	return out
}

// displayOf returns the metric's display, defaulting to "table".
func displayOf(m *Metric) string {
	if m.Display == "" {
		return DisplayTable
	}
	return m.Display
}

// WriteJSON writes r as report.json: the versioned format documented by
// Schema, floats rounded to 6 significant digits, strings as valid UTF-8,
// indented for people. It validates r first and writes nothing if r is invalid.
func WriteJSON(w io.Writer, r *Report) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(toJSON(sanitized(r))); err != nil {
		return fmt.Errorf("report.json: encode: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report.json: write: %w", err)
	}
	return nil
}
