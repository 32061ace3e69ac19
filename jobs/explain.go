package jobs

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ExplainSchema versions the JSON form of Explain.
const ExplainSchema = "dpstats.explain/v1"

// Statistic describes one released statistic for people: what it measures,
// what it reads, and what protects it. It is the row of the privacy tab; the
// report reuses it for its "what is collected" list.
type Statistic struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"` // from the spec, plain words
	Kind        Kind   `json:"kind"`
	// Measures says how it is computed, e.g. "number of events per
	// device_type".
	Measures string `json:"measures"`
	// Columns are the event columns read for it.
	Columns []string `json:"columns"`
	// Consent is the category a user must have granted.
	Consent   string `json:"consent"`
	Dimension string `json:"dimension,omitempty"`
	// Partitions are always published (including "other"); nil when
	// PartitionSelection is set.
	Partitions         []string `json:"partitions,omitempty"`
	PartitionSelection bool     `json:"partition_selection"`
	// Generalization says how values are coarsened before use.
	Generalization  string `json:"generalization"`
	MaxPartitions   int    `json:"max_partitions"`
	MaxPerPartition int    `json:"max_per_partition"`
	// Value, Lower and Upper describe the clamped value of sum, mean and
	// quantiles.
	Value string    `json:"value,omitempty"`
	Lower *float64  `json:"lower,omitempty"`
	Upper *float64  `json:"upper,omitempty"`
	Ranks []float64 `json:"ranks,omitempty"`
	// Bounds says the contribution bounds in words.
	Bounds string  `json:"bounds"`
	Weight float64 `json:"weight"`
	// Epsilon and Delta are this statistic's share of the run's budget;
	// EpsilonShare is Epsilon as a fraction of the run's ε.
	Epsilon      float64 `json:"epsilon"`
	Delta        float64 `json:"delta"`
	EpsilonShare float64 `json:"epsilon_share"`
	// CapsCutEpsilon and CapsCutDelta are the part of Epsilon and Delta
	// spent on estimating how many users the per-user caps cut.
	CapsCutEpsilon float64 `json:"caps_cut_epsilon"`
	CapsCutDelta   float64 `json:"caps_cut_delta"`
	// ValueCountEpsilon and ValueCountDelta are, for quantiles, the part
	// spent on the noisy count of values per partition that the quantiles'
	// intervals are derived from.
	ValueCountEpsilon float64 `json:"value_count_epsilon,omitempty"`
	ValueCountDelta   float64 `json:"value_count_delta,omitempty"`
	// Rho is this statistic's ρ under zcdp accounting (then Epsilon is 0
	// and EpsilonShare is its share of the run's ρ), and CapsCutRho and
	// ValueCountRho the parts of it for the caps-cut estimate and the
	// count of values (the ε fields of those parts are then 0).
	Rho           float64 `json:"rho,omitempty"`
	CapsCutRho    float64 `json:"caps_cut_rho,omitempty"`
	ValueCountRho float64 `json:"value_count_rho,omitempty"`
}

// Statistics describes every metric of s, in report order, then the
// quality gate's counts of users (one per consent category).
func (s *Spec) Statistics() []Statistic {
	shares := s.Shares()
	opts := s.MetricOptions(nil)
	out := make([]Statistic, len(s.Metrics))
	for i := range s.Metrics {
		m := &s.Metrics[i]
		st := Statistic{
			Name:               m.Name,
			Title:              m.Title,
			Description:        m.Description,
			Kind:               m.Kind,
			Measures:           measures(m),
			Columns:            s.Columns(m.Name),
			Consent:            m.Consent,
			Dimension:          m.Dimension,
			Partitions:         m.PublishedPartitions(),
			PartitionSelection: m.SelectPartitions,
			Generalization:     generalization(m),
			MaxPartitions:      m.MaxPartitions,
			MaxPerPartition:    m.MaxPerPartition,
			Value:              m.Value,
			Ranks:              m.Ranks,
			Bounds:             bounds(m),
			Weight:             m.Weight,
			Epsilon:            shares[i].Epsilon,
			Delta:              shares[i].Delta,
		}
		if s.Privacy.Epsilon > 0 {
			st.EpsilonShare = shares[i].Epsilon / s.Privacy.Epsilon
		}
		split := opts[i].Split()
		st.CapsCutEpsilon, st.CapsCutDelta = split.CapsCut.Epsilon, split.CapsCut.Delta
		st.ValueCountEpsilon, st.ValueCountDelta = split.ValueCount.Epsilon, split.ValueCount.Delta
		if m.Kind.HasValue() {
			lo, hi := m.Lower, m.Upper
			st.Lower, st.Upper = &lo, &hi
		}
		out[i] = st
	}
	out = append(out, s.gateStatistics()...)
	s.zcdpStatistics(out)
	return out
}

func measures(m *Metric) string {
	per := "in total"
	if m.Dimension != "" {
		per = "per " + m.Dimension
		if m.Buckets != nil {
			per = "per " + m.Dimension + " range"
		}
	}
	switch m.Kind {
	case KindCount:
		return "number of events " + per
	case KindUsers:
		return "number of distinct users " + per
	case KindSum:
		return "sum of " + m.Value + " " + per
	case KindMean:
		return "mean of " + m.Value + " " + per
	case KindQuantiles:
		ranks := make([]string, len(m.Ranks))
		for i, r := range m.Ranks {
			ranks[i] = rankName(r)
		}
		return joinWords(ranks) + " of " + m.Value + " " + per
	}
	return string(m.Kind) + " " + per
}

// rankName names a quantile: 0.5 → "median", 0.9 → "90th percentile".
func rankName(r float64) string {
	if r == 0.5 {
		return "median"
	}
	p := r * 100
	if p != math.Trunc(p) {
		return formatNumber(r) + " quantile"
	}
	n := int(p)
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix + " percentile"
}

func joinWords(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

func withUnit(v float64, unit string) string {
	if unit == "" {
		return formatNumber(v)
	}
	return formatNumber(v) + " " + unit
}

func generalization(m *Metric) string {
	var parts, nulls []string
	switch {
	case m.Dimension == "":
	case m.Buckets != nil:
		b := m.Buckets
		parts = append(parts, fmt.Sprintf("%s grouped into %d ranges (%s); exact values are not used; values below %s count in the first range",
			m.Dimension, len(b.Edges), strings.Join(b.Labels(), ", "), withUnit(b.Edges[0], b.Unit)))
		nulls = append(nulls, m.Dimension)
	case m.SelectPartitions:
		parts = append(parts, fmt.Sprintf("%s values found in the data, each published only if it passes DP partition selection (enough users share it)", m.Dimension))
		nulls = append(nulls, m.Dimension)
	default:
		parts = append(parts, fmt.Sprintf("%s limited to the %d listed values; any other value counts as %q", m.Dimension, len(m.Partitions), OtherPartition))
		nulls = append(nulls, m.Dimension)
	}
	if m.Kind.HasValue() {
		unit := ""
		if m.Generalize != nil {
			unit = m.Generalize.Unit
			parts = append(parts, fmt.Sprintf("%s rounded to the nearest %s", m.Value, withUnit(m.Generalize.Step, unit)))
		}
		parts = append(parts, fmt.Sprintf("%s clamped to [%s, %s]", m.Value, formatNumber(m.Lower), withUnit(m.Upper, unit)))
		nulls = append(nulls, m.Value)
	}
	if len(parts) == 0 {
		return "none: a single total"
	}
	if len(nulls) > 0 {
		// "other" holds unlisted values only, never missing ones.
		parts = append(parts, "events with no "+strings.Join(nulls, " or no ")+" are not counted")
	}
	return strings.Join(parts, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func bounds(m *Metric) string {
	var per string
	switch m.Kind {
	case KindCount:
		per = plural(m.MaxPerPartition, "event", "events")
	case KindUsers:
		per = "once"
	default:
		per = plural(m.MaxPerPartition, "value", "values")
	}
	if m.Dimension == "" {
		if m.Kind == KindUsers {
			return "each user counted once"
		}
		return "each user adds at most " + per
	}
	if m.Kind == KindUsers {
		return fmt.Sprintf("each user counted in at most %s, once in each", plural(m.MaxPartitions, "partition", "partitions"))
	}
	return fmt.Sprintf("each user adds at most %s to each of at most %s", per, plural(m.MaxPartitions, "partition", "partitions"))
}

// explanation is the whole privacy tab; its JSON form is ExplainSchema.
type explanation struct {
	Schema            string      `json:"schema"`
	Job               string      `json:"job"`
	Description       string      `json:"description,omitempty"`
	Period            string      `json:"period"`
	PrivacyUnit       string      `json:"privacy_unit"`
	Epsilon           float64     `json:"epsilon"`
	Delta             float64     `json:"delta"`
	Noise             string      `json:"noise"`
	Confidence        float64     `json:"confidence"`
	MaxEpsilon        float64     `json:"max_epsilon"`
	MaxDelta          float64     `json:"max_delta"`
	ChargedEpsilon    float64     `json:"charged_epsilon"`
	ChargedDelta      float64     `json:"charged_delta"`
	Ledger            ledgerJSON  `json:"ledger"`
	ConsentCategories []string    `json:"consent_categories"`
	ColumnsRead       []string    `json:"columns_read"`
	ForbiddenColumns  []string    `json:"forbidden_columns"`
	Statistics        []Statistic `json:"statistics"`
	// Zero-concentrated accounting, present only under it (zcdp.go).
	ZCDP *explainZCDP `json:"zcdp,omitempty"`
}

type ledgerJSON struct {
	CapEpsilon float64 `json:"cap_epsilon"`
	CapDelta   float64 `json:"cap_delta"`
	WindowDays int     `json:"window_days"`
}

func (s *Spec) explanation() explanation {
	eps, delta := s.Spend()
	e := explanation{
		Schema:            ExplainSchema,
		Job:               s.Name,
		Description:       strings.TrimSpace(s.Description),
		Period:            s.Period,
		PrivacyUnit:       s.Input.User,
		Epsilon:           s.Privacy.Epsilon,
		Delta:             s.Privacy.Delta,
		Noise:             s.Privacy.Noise,
		Confidence:        s.Privacy.Confidence,
		MaxEpsilon:        s.Privacy.MaxEpsilon,
		MaxDelta:          s.Privacy.MaxDelta,
		ChargedEpsilon:    eps,
		ChargedDelta:      delta,
		Ledger:            ledgerJSON{s.Ledger.CapEpsilon, s.Ledger.CapDelta, s.Ledger.WindowDays},
		ConsentCategories: s.ConsentCategories(),
		ColumnsRead:       s.AllColumns(),
		ForbiddenColumns:  s.ForbiddenColumnList(),
		Statistics:        s.Statistics(),
	}
	e.ZCDP = s.explainZCDP()
	return e
}

// Explain writes the privacy tab of s to w: every statistic the job
// releases — what it measures in plain words, the columns it reads, its
// consent category, its generalization, its contribution bounds and its
// share of ε and δ — under a header with the run's ε, δ, noise, per-run
// ceiling, ledger cap, and the columns that are never read. It reads no
// data. format is "text", "markdown" or "json" (schema ExplainSchema).
func Explain(w io.Writer, s *Spec, format string) error {
	if s == nil {
		return fmt.Errorf("explain: nil spec")
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("invalid job spec: %w", err)
	}
	e := s.explanation()
	var b strings.Builder
	switch format {
	case "text":
		e.text(&b)
	case "markdown", "md":
		e.markdown(&b)
	case "json":
		data, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		b.Write(data)
		b.WriteByte('\n')
	default:
		return fmt.Errorf("unknown format %q; want text, markdown or json", format)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// short formats a budget share for people: 4 significant digits.
func short(f float64) string {
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func percent(f float64) string {
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

func (e *explanation) summary() [][2]string {
	if e.ZCDP != nil {
		return e.zcdpSummary()
	}
	charged := fmt.Sprintf("ε = %s, δ = %s per run", formatNumber(e.ChargedEpsilon), formatNumber(e.ChargedDelta))
	return [][2]string{
		{"Privacy unit", fmt.Sprintf("one user (%s): all of a user's events in one %s run are protected together", e.PrivacyUnit, e.Period)},
		{"Budget per run", fmt.Sprintf("ε = %s, δ = %s, %s noise, %s confidence intervals", formatNumber(e.Epsilon), formatNumber(e.Delta), e.Noise, formatNumber(100*e.Confidence)+"%")},
		{"Charged to the ledger", charged},
		{"Per-run ceiling", fmt.Sprintf("ε ≤ %s, δ ≤ %s (overrides cannot exceed it)", formatNumber(e.MaxEpsilon), formatNumber(e.MaxDelta))},
		{"Ledger cap", fmt.Sprintf("ε ≤ %s, δ ≤ %s over all releases in any %s", formatNumber(e.Ledger.CapEpsilon), formatNumber(e.Ledger.CapDelta), plural(e.Ledger.WindowDays, "day", "days"))},
		{"Consent categories", strings.Join(e.ConsentCategories, ", ") + " (opt-in, looking forward: an event counts for a statistic only if its category was granted when the event was recorded and still is at the run; a withdrawal counts whatever its date)"},
		{"Columns read", strings.Join(e.ColumnsRead, ", ")},
		{"Never read", strings.Join(e.ForbiddenColumns, ", ")},
	}
}

func (st *Statistic) details() [][2]string {
	partitions := "found in the data (DP partition selection)"
	if st.Partitions != nil {
		partitions = strings.Join(st.Partitions, ", ")
	}
	return [][2]string{
		{"What", st.Description},
		{"Computed", st.Measures},
		{"Columns read", strings.Join(st.Columns, ", ")},
		{"Consent", st.Consent},
		{"Partitions", partitions},
		{"Generalization", st.Generalization},
		{"Bounds", st.Bounds},
		{"Budget", st.budget()},
	}
}

// budget says the statistic's share of the budget and how it is divided.
func (st *Statistic) budget() string {
	if st.Rho > 0 {
		return st.rhoBudget()
	}
	b := fmt.Sprintf("ε = %s (%s of the run's ε, weight %s), δ = %s", short(st.Epsilon), percent(st.EpsilonShare), formatNumber(st.Weight), short(st.Delta))
	var of []string
	if st.CapsCutEpsilon > 0 {
		of = append(of, fmt.Sprintf("ε = %s estimates how many users the per-user caps cut", short(st.CapsCutEpsilon)))
	}
	if st.ValueCountEpsilon > 0 {
		of = append(of, fmt.Sprintf("ε = %s counts the values in each partition, from which the quantiles' intervals are derived", short(st.ValueCountEpsilon)))
	}
	if len(of) > 0 {
		b += "; of which " + joinWords(of)
	}
	return b
}

func (e *explanation) text(b *strings.Builder) {
	fmt.Fprintf(b, "Privacy tab: %s\n", e.Job)
	if e.Description != "" {
		b.WriteString("\n")
		wrap(b, e.Description, "", 76)
	}
	b.WriteString("\n")
	rows := e.summary()
	for _, r := range rows {
		wrap(b, r[1], fmt.Sprintf("%-22s ", r[0]+":"), 76)
	}
	fmt.Fprintf(b, "\n%s are released, nothing else:\n", plural(len(e.Statistics), "statistic", "statistics"))
	for i, st := range e.Statistics {
		fmt.Fprintf(b, "\n%d. %s — %s\n", i+1, st.Name, st.Title)
		for _, r := range st.details() {
			label := fmt.Sprintf("   %-16s ", r[0]+":")
			wrap(b, r[1], label, 76)
		}
	}
}

// wrap writes text word-wrapped at width, the first line after prefix and
// the others indented to match.
func wrap(b *strings.Builder, text, prefix string, width int) {
	indent := strings.Repeat(" ", len([]rune(prefix)))
	line := prefix
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && len([]rune(line))+1+len([]rune(word)) > width {
			b.WriteString(line)
			b.WriteString("\n")
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line)
	b.WriteString("\n")
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

func (e *explanation) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "# Privacy tab: %s\n\n", mdCell(e.Job))
	if e.Description != "" {
		b.WriteString(mdCell(e.Description))
		b.WriteString("\n\n")
	}
	for _, r := range e.summary() {
		fmt.Fprintf(b, "- **%s:** %s\n", r[0], mdCell(r[1]))
	}
	fmt.Fprintf(b, "\n## What is collected\n\n%s are released, nothing else.\n\n", plural(len(e.Statistics), "statistic", "statistics"))
	share := "ε share"
	if e.ZCDP != nil {
		share = "ρ share"
	}
	b.WriteString("| # | Statistic | What it measures | Columns read | Consent | " + share + " | δ |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for i, st := range e.Statistics {
		fmt.Fprintf(b, "| %d | `%s` | %s | %s | %s | %s (%s) | %s |\n", i+1, st.Name, mdCell(st.Description),
			mdCell(strings.Join(st.Columns, ", ")), mdCell(st.Consent), short(st.Epsilon+st.Rho), percent(st.EpsilonShare), short(st.Delta))
	}
	for i, st := range e.Statistics {
		fmt.Fprintf(b, "\n### %d. `%s` — %s\n\n", i+1, st.Name, mdCell(st.Title))
		for _, r := range st.details() {
			fmt.Fprintf(b, "- **%s:** %s\n", r[0], mdCell(r[1]))
		}
	}
}
