package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dpstats/dpstats/dp"
)

// SpecVersion is the only job spec version this package reads.
const SpecVersion = 1

// maxSpecBytes bounds how much of a job spec is read: a spec is a short,
// hand-written file, so anything larger is a mistake (a data file passed as
// --job), not a spec.
const maxSpecBytes = 1 << 20

// Limits that keep a spec reviewable and a run bounded.
const (
	maxMetrics    = 256
	maxPartitions = 10000
	maxBuckets    = 1000
	maxRanks      = 100
)

// OtherPartition is the implicit partition of every metric with a public
// partition list: non-null values outside the list are counted there, and
// it is always published. An event whose dimension is null is not part of
// the metric at all. Bucketed dimensions have no "other": every value falls
// in a bucket.
const OtherPartition = "other"

// TotalPartition is the single partition of a metric without a dimension.
const TotalPartition = "total"

// Kind is what a metric aggregates.
type Kind string

// The metric kinds.
const (
	// KindCount counts events per partition (a bounded sum of per-user
	// event counts when max_per_partition > 1).
	KindCount Kind = "count"
	// KindUsers counts distinct users per partition.
	KindUsers Kind = "users"
	// KindSum sums a clamped numeric value per partition.
	KindSum Kind = "sum"
	// KindMean averages a clamped numeric value per partition.
	KindMean Kind = "mean"
	// KindQuantiles estimates quantiles of a clamped numeric value per
	// partition.
	KindQuantiles Kind = "quantiles"
)

var kinds = []Kind{KindCount, KindUsers, KindSum, KindMean, KindQuantiles}

// HasValue reports whether metrics of kind k aggregate a numeric value (and
// so need value, lower and upper).
func (k Kind) HasValue() bool {
	return k == KindSum || k == KindMean || k == KindQuantiles
}

// The noise kinds.
const (
	NoiseLaplace  = "laplace"
	NoiseGaussian = "gaussian"
)

// PeriodDaily is the only period so far: events with event_time in
// [day 00:00 UTC, next day 00:00 UTC).
const PeriodDaily = "daily"

// ErrCeiling is wrapped by the error WithOverrides returns when an override
// exceeds the spec's per-run ceiling (privacy.max_epsilon, privacy.max_delta).
var ErrCeiling = errors.New("privacy override above the job's per-run ceiling")

// BuiltinForbiddenColumns are never read by any job, whatever its spec says:
// they identify people, their media or their machines. A spec's
// forbidden_columns adds to this list. Matching ignores case, treats '-',
// '.' and ' ' like '_', and also checks the last element of a dotted
// (nested) column name.
var BuiltinForbiddenColumns = []string{
	"title", "name", "display_name", "user_name", "username", "email",
	"file_name", "filename", "path", "file_path", "library_path", "folder",
	"ip", "ip_address", "client_ip", "remote_addr", "mac_address",
	"hostname", "device_name", "server_name", "user_agent",
	"latitude", "longitude", "location",
}

// Spec is a parsed, validated job spec. See the package documentation for
// every key. Build one with ParseSpec or LoadSpec; a Spec built in code must
// pass Validate before use.
type Spec struct {
	// Version is the spec format version; must be 1.
	Version int
	// Name names the job in paths, the ledger and reports: [a-z0-9-],
	// starting with a letter, at most 63 characters. Required.
	Name string
	// Title is the job's human title, the heading of its reports. Default:
	// Name.
	Title string
	// Description says in plain words what the job is for.
	Description string
	// Period is the time window one run covers; only "daily" (default).
	Period string
	// Input names the event columns every metric reads.
	Input Input
	// Consent names the columns of the consent export.
	Consent ConsentColumns
	// ForbiddenColumns are added to BuiltinForbiddenColumns.
	ForbiddenColumns []string
	// Privacy is the run's budget and its ceiling.
	Privacy Privacy
	// Ledger is the cap on all releases in a rolling window.
	Ledger LedgerCap
	// Metrics are the statistics the job releases, in report order.
	Metrics []Metric
	// Gate is the quality gate (quality_gate): noisy user counts that a run
	// must reach to publish. See QualityGate.
	Gate QualityGate

	rhoFromEpsilon float64 // zcdp: the ε override Privacy.Rho came from (ρ = ε²/2), 0 if none

	file      string            // name given to ParseSpec, for error messages
	lines     map[string]int    // field path → line in file
	overrides map[string]string // field path → flag that set it
}

// Input names the columns of the event export.
type Input struct {
	// User is the privacy unit: a pseudonymous account id. Default user_id.
	User string
	// Time is the UTC event timestamp that selects the period. Default
	// event_time.
	Time string
}

// ConsentColumns names the columns of the consent export.
type ConsentColumns struct {
	User      string // default user_id
	Category  string // default category
	Granted   string // default granted
	UpdatedAt string // default updated_at
}

// Privacy is the per-run budget.
type Privacy struct {
	// Epsilon is the run's ε, > 0. Required.
	Epsilon float64
	// Delta is the run's δ, in [0, 1). Default 0.
	Delta float64
	// MaxEpsilon is the hard per-run ceiling an override cannot exceed,
	// ≥ Epsilon. Required.
	MaxEpsilon float64
	// MaxDelta is the ceiling for δ, ≥ Delta. Default: Delta.
	MaxDelta float64
	// Noise is "laplace" (default) or "gaussian".
	Noise string
	// Confidence is the level of the published confidence intervals, in
	// (0, 1). Default 0.95.
	Confidence float64

	// Accounting is how runs are accounted (zcdp.go, docs/accounting.md):
	// "pure" (default; ε's add up, the run's budget is Epsilon) or "zcdp"
	// (zero-concentrated DP; ρ's add up, the run's budget is RunRho, and
	// Epsilon is not used).
	Accounting string
	// Rho is the run's ρ under zcdp accounting, > 0. 0 (the default)
	// derives it from the ledger cap and RunsPerWindow.
	Rho float64
	// MaxRho is the per-run ceiling of ρ that an override cannot exceed.
	// Default: MaxEpsilon²/2, the ρ a pure run at the ceiling counts as.
	MaxRho float64
	// RunsPerWindow is how many runs are planned in the ledger's window;
	// under zcdp without Rho, the cap's ρ is split over them. Default:
	// ledger.window_days (one run a day).
	RunsPerWindow int

	noiseSet bool // whether Noise was given (spec or override), not defaulted
}

// LedgerCap bounds the total spend of all jobs sharing a ledger.
type LedgerCap struct {
	// CapEpsilon is the most ε all releases in the window may add up to,
	// ≥ privacy.max_epsilon. Required.
	CapEpsilon float64
	// CapDelta is the same for δ, ≥ privacy.max_delta. Default:
	// privacy.max_delta.
	CapDelta float64
	// WindowDays is the rolling window, 1–3660 days. Default 30.
	WindowDays int
}

// Metric is one released statistic.
type Metric struct {
	// Name is [a-z0-9_], starting with a letter, unique in the job; it
	// names the metric's CSV file. Required.
	Name string
	// Title is a short human title. Default: Name.
	Title string
	// Description says in plain words what is measured; it is shown in the
	// privacy tab. Required.
	Description string
	// Kind is count, users, sum, mean or quantiles. Required.
	Kind Kind
	// Consent is the consent category a user must have granted to be
	// counted. Required.
	Consent string
	// Dimension is the column that splits the metric into partitions;
	// empty for a single total (partition "total").
	Dimension string
	// Partitions is the public list of the dimension's values. Non-null
	// values not listed go to "other"; events whose dimension (or value) is
	// null are not part of the metric.
	Partitions []string
	// SelectPartitions, instead of a public list, keeps the values found in
	// the data that pass DP partition selection. Needs δ.
	SelectPartitions bool
	// Buckets generalizes a numeric dimension into ranges whose labels are
	// the public partitions.
	Buckets *Buckets
	// Value is the numeric column of sum, mean and quantiles.
	Value string
	// Generalize rounds Value before use.
	Generalize *Generalize
	// Lower and Upper clamp Value; Lower < Upper.
	Lower, Upper float64
	// Ranks are the quantiles to estimate, each in (0, 1), increasing.
	Ranks []float64
	// MaxPartitions is the most partitions one user contributes to, ≥ 1.
	// Default 1.
	MaxPartitions int
	// MaxPerPartition is the most one user contributes to one partition
	// (events for count, values for sum/mean/quantiles; 1 for users), ≥ 1.
	// Default 1.
	MaxPerPartition int
	// Weight is the metric's relative share of the run's ε, > 0. Default 1.
	Weight float64
}

// Buckets turns a numeric dimension into ranges [edges[i], edges[i+1]) and
// a last open range [edges[n-1], ∞). Values below edges[0] are counted in
// the first bucket, so every value falls in a bucket. It matches
// datasets.Generalizer{Edges, Min: edges[0]} (whole numbers, labels alike).
type Buckets struct {
	// Edges are the lower bounds of the buckets: whole numbers, strictly
	// increasing.
	Edges []float64
	// Unit is appended to the labels ("kbps", "s").
	Unit string
}

// Generalize rounds a value to the nearest multiple of Step (halves up)
// before it is clamped to [lower, upper], like datasets.Generalizer{Step,
// Min: lower, Max: upper}.
type Generalize struct {
	Step float64 // a whole number ≥ 1; lower and upper must then be whole too
	Unit string
}

// TitleOrName returns the job's human title, or its name when it has none.
func (s *Spec) TitleOrName() string {
	if t := strings.TrimSpace(s.Title); t != "" {
		return t
	}
	return s.Name
}

// NeedsDelta reports whether metric m consumes some of the run's δ under
// noise: every metric does with Gaussian noise, and a metric that selects
// its partitions from the data does with any noise.
func (m *Metric) NeedsDelta(noise string) bool {
	return noise == NoiseGaussian || m.SelectPartitions
}

// PartitionList returns m's public partitions without the implicit
// "other": the listed partitions or the bucket labels. It is nil for a
// metric without a dimension and for one that selects its partitions.
func (m *Metric) PartitionList() []string {
	switch {
	case m.Dimension == "" || m.SelectPartitions:
		return nil
	case m.Buckets != nil:
		return m.Buckets.Labels()
	default:
		return slices.Clone(m.Partitions)
	}
}

// PublishedPartitions returns the partitions that are always published for
// m: the public list and "other", the bucket labels (which cover every
// value, so there is no "other"), or "total" for a metric without a
// dimension. It returns nil when the partitions are selected from the data.
func (m *Metric) PublishedPartitions() []string {
	switch {
	case m.Dimension == "":
		return []string{TotalPartition}
	case m.Buckets != nil:
		return m.Buckets.Labels()
	case m.SelectPartitions:
		return nil
	default:
		return append(slices.Clone(m.Partitions), OtherPartition)
	}
}

// Labels returns the bucket labels in order, e.g. "0–999 kbps",
// "1000–1999 kbps", "≥ 2000 kbps": whole-number ranges, upper end
// inclusive, with the unit if any.
func (b *Buckets) Labels() []string {
	unit := ""
	if b.Unit != "" {
		unit = " " + b.Unit
	}
	labels := make([]string, len(b.Edges))
	for i, lo := range b.Edges {
		if i == len(b.Edges)-1 {
			labels[i] = "≥ " + formatWhole(lo) + unit
		} else {
			labels[i] = formatWhole(lo) + "–" + formatWhole(b.Edges[i+1]-1) + unit
		}
	}
	return labels
}

// Index returns the bucket that holds v: the last edge ≤ v, or 0 when v is
// below the first edge. It returns -1 for NaN or when there are no edges
// (the value then goes to "other").
func (b *Buckets) Index(v float64) int {
	if math.IsNaN(v) || len(b.Edges) == 0 {
		return -1
	}
	return max(0, sort.Search(len(b.Edges), func(i int) bool { return b.Edges[i] > v })-1)
}

// Label returns the label of the bucket that holds v, or "other".
func (b *Buckets) Label(v float64) string {
	i := b.Index(v)
	if i < 0 {
		return OtherPartition
	}
	return b.Labels()[i]
}

// Apply rounds v to the nearest multiple of g.Step, halves up.
func (g *Generalize) Apply(v float64) float64 {
	return math.Floor(v/g.Step+0.5) * g.Step
}

// SpecError is one problem in a job spec, located by file, line and field
// path (e.g. "metrics[3].weight"; metrics count from 0).
type SpecError struct {
	File  string // as given to ParseSpec; empty for a Spec built in code
	Line  int    // 0 when unknown
	Field string
	Msg   string
	Hint  string // what to do about it, if not obvious from Msg
}

func (e *SpecError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "%s: ", e.File)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(". Try: ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// SpecErrors are all the problems found in a spec, in line order.
type SpecErrors []*SpecError

func (es SpecErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each *SpecError.
func (es SpecErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// LoadSpec reads and validates the job spec at path.
func LoadSpec(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read job spec: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, SpecErrors{{File: path, Msg: "is a directory, not a job spec file"}}
	}
	return ParseSpec(path, f)
}

// ParseSpec reads a YAML job spec from r and validates it. name is used in
// error messages ("name:12: metrics[3].weight: must be > 0, got -1"). Unknown
// keys, wrong types and invalid values are all errors; the returned error is
// a SpecErrors listing every problem found, or an error wrapping the reader's
// error.
func ParseSpec(name string, r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read job spec %s: %w", name, err)
	}
	if len(data) > maxSpecBytes {
		return nil, SpecErrors{{File: name, Msg: fmt.Sprintf("larger than %d bytes: not a job spec", maxSpecBytes)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, SpecErrors{{File: name, Line: 1, Msg: "empty job spec"}}
		}
		return nil, SpecErrors{yamlError(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, SpecErrors{{File: name, Line: extra.Line, Msg: "more than one YAML document; a job spec is one document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, SpecErrors{yamlError(name, err)}
	}
	p := &parser{file: name, lines: map[string]int{}}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	s := p.spec(root)
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, p.errs
	}
	s.file, s.lines = name, p.lines
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of the YAML parser's (as opposed to
// its scanner's) errors. go.yaml.in/yaml/v3 v3.0.5, like gopkg.in/yaml.v3
// before it, still reports their line 0-based (the scanner's are 1-based),
// so yamlError adds one; TestParseSpecErrors fails if a release fixes it.
var yamlParserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found undefined tag handle":             true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
}

// yamlError turns a YAML syntax error into a SpecError with its line.
func yamlError(file string, err error) *SpecError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if yamlParserProblems[m[2]] {
			line++
		}
		return &SpecError{File: file, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &SpecError{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

func sortErrors(es []*SpecError) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// parser walks the YAML node tree, so that every value keeps its line.
type parser struct {
	file  string
	lines map[string]int
	errs  SpecErrors
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	p.errs = append(p.errs, &SpecError{File: p.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func joinField(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields walks the mapping n and calls set[key] for each key; unknown and
// duplicate keys are errors. It returns the keys present.
func (p *parser) fields(n *yaml.Node, path string, set map[string]func(v *yaml.Node, field string)) map[string]bool {
	seen := map[string]bool{}
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			p.fail(n, path, "must be a mapping of keys to values, got %s", describe(n))
		}
		return seen
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		field := joinField(path, k.Value)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.fail(k, path, "keys must be plain words, got %s", describe(k))
			continue
		case k.Value == "<<":
			p.fail(k, path, "YAML merge keys (<<) are not supported in job specs")
			continue
		case seen[k.Value]:
			p.fail(k, field, "duplicate key")
			continue
		}
		seen[k.Value] = true
		fn, ok := set[k.Value]
		if !ok {
			known := make([]string, 0, len(set))
			for key := range set {
				known = append(known, key)
			}
			sort.Strings(known)
			if near := nearest(k.Value, known); near != "" {
				p.fail(k, field, "unknown key (did you mean %q?)", near)
			} else {
				p.fail(k, field, "unknown key; known keys here: %s", strings.Join(known, ", "))
			}
			continue
		}
		p.lines[field] = k.Line
		if v == nil {
			p.fail(k, field, "invalid alias")
			continue
		}
		fn(v, field)
	}
	return seen
}

func (p *parser) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!bool" {
		p.fail(n, field, "must be a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) float(n *yaml.Node, field string) float64 {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		p.fail(n, field, "must be a number, got %s", describe(n))
		return 0
	}
	var f float64
	if err := n.Decode(&f); err != nil {
		p.fail(n, field, "must be a number, got %s", describe(n))
		return 0
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail(n, field, "must be a finite number, got %s", describe(n))
		return 0
	}
	return f
}

func (p *parser) int(n *yaml.Node, field string) int {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.fail(n, field, "must be a whole number, got %s", describe(n))
		return 0
	}
	var i int64
	if err := n.Decode(&i); err != nil || i > math.MaxInt32 || i < math.MinInt32 {
		p.fail(n, field, "must be a whole number between %d and %d, got %s", math.MinInt32, math.MaxInt32, describe(n))
		return 0
	}
	return int(i)
}

func (p *parser) bool(n *yaml.Node, field string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.fail(n, field, "must be true or false, got %s", describe(n))
		return false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.fail(n, field, "must be true or false, got %s", describe(n))
	}
	return b
}

func (p *parser) list(n *yaml.Node, field string, item func(v *yaml.Node, field string)) {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "must be a list, got %s", describe(n))
		return
	}
	for i, v := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		p.lines[f] = v.Line
		if v = resolve(v); v == nil {
			p.fail(n, f, "invalid alias")
			continue
		}
		item(v, f)
	}
}

func (p *parser) strings(n *yaml.Node, field string) []string {
	out := []string{}
	p.list(n, field, func(v *yaml.Node, f string) { out = append(out, p.str(v, f)) })
	return out
}

func (p *parser) floats(n *yaml.Node, field string) []float64 {
	out := []float64{}
	p.list(n, field, func(v *yaml.Node, f string) { out = append(out, p.float(v, f)) })
	return out
}

func (p *parser) spec(root *yaml.Node) *Spec {
	s := &Spec{Gate: DefaultQualityGate()}
	capDeltaSet := false
	seen := p.fields(root, "", map[string]func(*yaml.Node, string){
		"version":     func(v *yaml.Node, f string) { s.Version = p.int(v, f) },
		"name":        func(v *yaml.Node, f string) { s.Name = p.str(v, f) },
		"title":       func(v *yaml.Node, f string) { s.Title = p.str(v, f) },
		"description": func(v *yaml.Node, f string) { s.Description = p.str(v, f) },
		"period":      func(v *yaml.Node, f string) { s.Period = p.str(v, f) },
		"input": func(v *yaml.Node, f string) {
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"user": func(v *yaml.Node, f string) { s.Input.User = p.str(v, f) },
				"time": func(v *yaml.Node, f string) { s.Input.Time = p.str(v, f) },
			})
		},
		"consent": func(v *yaml.Node, f string) {
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"user":       func(v *yaml.Node, f string) { s.Consent.User = p.str(v, f) },
				"category":   func(v *yaml.Node, f string) { s.Consent.Category = p.str(v, f) },
				"granted":    func(v *yaml.Node, f string) { s.Consent.Granted = p.str(v, f) },
				"updated_at": func(v *yaml.Node, f string) { s.Consent.UpdatedAt = p.str(v, f) },
			})
		},
		"forbidden_columns": func(v *yaml.Node, f string) { s.ForbiddenColumns = p.strings(v, f) },
		"privacy":           func(v *yaml.Node, f string) { p.privacy(v, f, s) },
		"ledger": func(v *yaml.Node, f string) {
			seen := p.fields(v, f, map[string]func(*yaml.Node, string){
				"cap_epsilon": func(v *yaml.Node, f string) { s.Ledger.CapEpsilon = p.float(v, f) },
				"cap_delta":   func(v *yaml.Node, f string) { s.Ledger.CapDelta = p.float(v, f) },
				"window_days": func(v *yaml.Node, f string) { s.Ledger.WindowDays = p.int(v, f) },
			})
			if !seen["cap_epsilon"] {
				p.fail(v, f+".cap_epsilon", "required: the most ε all releases in the window may spend")
			}
			capDeltaSet = seen["cap_delta"]
			if !seen["window_days"] {
				s.Ledger.WindowDays = 30
			}
		},
		"metrics": func(v *yaml.Node, f string) {
			p.list(v, f, func(v *yaml.Node, f string) { s.Metrics = append(s.Metrics, p.metric(v, f)) })
		},
		"quality_gate": func(v *yaml.Node, f string) {
			p.fields(v, f, map[string]func(*yaml.Node, string){
				"weight":    func(v *yaml.Node, f string) { s.Gate.Weight = p.float(v, f) },
				"min_users": func(v *yaml.Node, f string) { s.Gate.MinUsers = p.int(v, f) },
			})
		},
	})
	for _, key := range []string{"version", "name", "privacy", "ledger", "metrics"} {
		if !seen[key] {
			p.fail(root, key, "required")
		}
	}
	if !seen["title"] {
		s.Title = s.Name
	}
	if s.Period == "" && !seen["period"] {
		s.Period = PeriodDaily
	}
	if !seen["input"] {
		s.Input = Input{User: "user_id", Time: "event_time"}
	}
	if !seen["consent"] {
		s.Consent = ConsentColumns{User: "user_id", Category: "category", Granted: "granted", UpdatedAt: "updated_at"}
	}
	if !capDeltaSet {
		s.Ledger.CapDelta = s.Privacy.MaxDelta
	}
	return s
}

func (p *parser) privacy(n *yaml.Node, field string, s *Spec) {
	pr := &s.Privacy
	seen := p.fields(n, field, map[string]func(*yaml.Node, string){
		"epsilon":     func(v *yaml.Node, f string) { pr.Epsilon = p.float(v, f) },
		"delta":       func(v *yaml.Node, f string) { pr.Delta = p.float(v, f) },
		"max_epsilon": func(v *yaml.Node, f string) { pr.MaxEpsilon = p.float(v, f) },
		"max_delta":   func(v *yaml.Node, f string) { pr.MaxDelta = p.float(v, f) },
		"noise":       func(v *yaml.Node, f string) { pr.Noise = p.str(v, f) },
		"confidence":  func(v *yaml.Node, f string) { pr.Confidence = p.float(v, f) },
		"accounting":  func(v *yaml.Node, f string) { pr.Accounting = p.str(v, f) },
		"rho":         func(v *yaml.Node, f string) { pr.Rho = p.float(v, f) },
		"max_rho":     func(v *yaml.Node, f string) { pr.MaxRho = p.float(v, f) },
		"runs_per_window": func(v *yaml.Node, f string) {
			pr.RunsPerWindow = p.int(v, f)
		},
	})
	if !seen["accounting"] {
		pr.Accounting = AccountingPure
	}
	zcdp := pr.Accounting == AccountingZCDP
	if !seen["epsilon"] && !zcdp {
		p.fail(n, field+".epsilon", "required: the run's ε")
	}
	if !seen["max_epsilon"] && !(zcdp && seen["max_rho"]) {
		p.fail(n, field+".max_epsilon", "required: the per-run ceiling that --epsilon cannot exceed")
	}
	if !seen["max_delta"] {
		pr.MaxDelta = pr.Delta
	}
	pr.noiseSet = seen["noise"]
	if !seen["noise"] {
		pr.Noise = defaultNoise(pr.Accounting)
	}
	if !seen["max_rho"] {
		pr.MaxRho = dp.PureRho(pr.MaxEpsilon)
	}
	if !seen["confidence"] {
		pr.Confidence = 0.95
	}
}

func (p *parser) metric(n *yaml.Node, field string) Metric {
	m := Metric{}
	seen := p.fields(n, field, map[string]func(*yaml.Node, string){
		"name":              func(v *yaml.Node, f string) { m.Name = p.str(v, f) },
		"title":             func(v *yaml.Node, f string) { m.Title = p.str(v, f) },
		"description":       func(v *yaml.Node, f string) { m.Description = p.str(v, f) },
		"kind":              func(v *yaml.Node, f string) { m.Kind = Kind(p.str(v, f)) },
		"consent":           func(v *yaml.Node, f string) { m.Consent = p.str(v, f) },
		"dimension":         func(v *yaml.Node, f string) { m.Dimension = p.str(v, f) },
		"partitions":        func(v *yaml.Node, f string) { m.Partitions = p.strings(v, f) },
		"select_partitions": func(v *yaml.Node, f string) { m.SelectPartitions = p.bool(v, f) },
		"buckets": func(v *yaml.Node, f string) {
			b := &Buckets{}
			seen := p.fields(v, f, map[string]func(*yaml.Node, string){
				"edges": func(v *yaml.Node, f string) { b.Edges = p.floats(v, f) },
				"unit":  func(v *yaml.Node, f string) { b.Unit = p.str(v, f) },
			})
			if !seen["edges"] {
				p.fail(v, f+".edges", "required: the lower bound of every bucket")
			}
			m.Buckets = b
		},
		"value": func(v *yaml.Node, f string) { m.Value = p.str(v, f) },
		"generalize": func(v *yaml.Node, f string) {
			g := &Generalize{}
			seen := p.fields(v, f, map[string]func(*yaml.Node, string){
				"step": func(v *yaml.Node, f string) { g.Step = p.float(v, f) },
				"unit": func(v *yaml.Node, f string) { g.Unit = p.str(v, f) },
			})
			if !seen["step"] {
				p.fail(v, f+".step", "required: values are rounded to the nearest multiple of step")
			}
			m.Generalize = g
		},
		"lower":             func(v *yaml.Node, f string) { m.Lower = p.float(v, f) },
		"upper":             func(v *yaml.Node, f string) { m.Upper = p.float(v, f) },
		"ranks":             func(v *yaml.Node, f string) { m.Ranks = p.floats(v, f) },
		"max_partitions":    func(v *yaml.Node, f string) { m.MaxPartitions = p.int(v, f) },
		"max_per_partition": func(v *yaml.Node, f string) { m.MaxPerPartition = p.int(v, f) },
		"weight":            func(v *yaml.Node, f string) { m.Weight = p.float(v, f) },
	})
	if !seen["title"] {
		m.Title = m.Name
	}
	if !seen["max_partitions"] {
		m.MaxPartitions = 1
	}
	if !seen["max_per_partition"] {
		m.MaxPerPartition = 1
	}
	if !seen["weight"] {
		m.Weight = 1
	}
	if m.Kind.HasValue() {
		for _, key := range []string{"lower", "upper"} {
			if !seen[key] {
				p.fail(n, field+"."+key, "required for kind %s: values are clamped to [lower, upper]", m.Kind)
			}
		}
	}
	return m
}

// nearest returns the known key closest to key in edit distance, if close.
func nearest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	jobNamePattern    = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	metricNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	categoryPattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// validator collects errors located through the spec's line table.
type validator struct {
	s    *Spec
	errs SpecErrors
}

func (v *validator) fail(field, format string, args ...any) *SpecError {
	e := &SpecError{File: v.s.file, Line: v.s.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
	if flag, ok := v.s.overrides[field]; ok {
		e.Line = 0
		e.Field = field + " (set by " + flag + ")"
	}
	v.errs = append(v.errs, e)
	return e
}

// line returns the line of field, or of its nearest enclosing field.
func (s *Spec) line(field string) int {
	for field != "" {
		if l, ok := s.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// Validate checks every rule of the spec and returns a SpecErrors listing
// all problems, or nil.
func (s *Spec) Validate() error {
	v := &validator{s: s}
	if s.Version != SpecVersion {
		v.fail("version", "unsupported version %d; this dpstats reads version %d", s.Version, SpecVersion)
	}
	if !jobNamePattern.MatchString(s.Name) {
		v.fail("name", "must be 1–63 of [a-z0-9-] starting with a letter (it is used in paths), got %q", s.Name)
	}
	if s.Period != PeriodDaily {
		v.fail("period", "must be %q, got %q", PeriodDaily, s.Period)
	}
	forbidden := s.forbidden()
	for i, c := range s.ForbiddenColumns {
		if !validColumn(c) {
			v.fail(fmt.Sprintf("forbidden_columns[%d]", i), "must be a column name, got %q", c)
		}
	}
	v.column("input.user", s.Input.User, forbidden)
	v.column("input.time", s.Input.Time, forbidden)
	if s.Input.User != "" && s.Input.User == s.Input.Time {
		v.fail("input.time", "must differ from input.user, both are %q", s.Input.User)
	}
	v.column("consent.user", s.Consent.User, nil)
	v.column("consent.category", s.Consent.Category, nil)
	v.column("consent.granted", s.Consent.Granted, nil)
	v.column("consent.updated_at", s.Consent.UpdatedAt, nil)
	v.privacy()
	v.gate()
	if len(s.Metrics) == 0 {
		v.fail("metrics", "must list at least one metric")
	}
	if len(s.Metrics) > maxMetrics {
		v.fail("metrics", "at most %d metrics, got %d", maxMetrics, len(s.Metrics))
	}
	names := map[string]string{}
	for i := range s.Metrics {
		f := fmt.Sprintf("metrics[%d]", i)
		m := &s.Metrics[i]
		if prev, dup := names[m.Name]; dup && m.Name != "" {
			v.fail(f+".name", "duplicate metric name %q (also %s)", m.Name, prev)
		}
		names[m.Name] = f
		v.metric(f, m, forbidden)
	}
	if len(v.errs) == 0 {
		v.shares()
	}
	if len(v.errs) == 0 {
		v.libraryLimits()
	}
	if len(v.errs) == 0 {
		return nil
	}
	sortErrors(v.errs)
	return v.errs
}

// The smallest budget share a metric can be given. The DP library
// calibrates no noise for ε below 2^-50 and δ of 0; a metric's share is
// halved once more when it selects partitions and again inside a mean, so
// every share must be at least four times that. Below these the noise is
// unbounded in practice anyway: nothing useful could be released.
const (
	minShareEpsilon = 0x1p-48
	minShareDelta   = 0x1p-1020 // four times the smallest normal float64
)

// shares checks that the run's ε and δ, split by weight, give every metric
// a share the noise can be calibrated for. It runs once every field is
// valid. When even privacy.max_epsilon would be too small, the weights are
// at fault (one is tiny next to the others); otherwise the run's ε is.
func (v *validator) shares() {
	s := v.s
	if s.ZCDP() {
		v.rhoShares()
		v.deltaShares()
		return
	}
	// Every aggregation the run draws noise for: the metrics, then each of
	// the quality gate's per-category counts (the gate's share split evenly).
	type part struct {
		field, name string
		weight, eps float64
	}
	var parts []part
	var wSum float64
	for i, sh := range s.Shares() {
		m := &s.Metrics[i]
		parts = append(parts, part{fmt.Sprintf("metrics[%d].weight", i), "metric " + m.Name, m.Weight, sh.Epsilon})
		wSum += m.Weight
	}
	if cats := s.ConsentCategories(); len(cats) > 0 {
		n := float64(len(cats))
		parts = append(parts, part{"quality_gate.weight", "the quality gate's count of users per consent category", s.Gate.Weight / n, s.GateShare().Epsilon / n})
		wSum += s.Gate.Weight
	}
	worst := 0
	for i := range parts {
		if parts[i].eps < parts[worst].eps {
			worst = i
		}
	}
	if len(parts) > 0 && parts[worst].eps < minShareEpsilon {
		w := parts[worst]
		need := minShareEpsilon * wSum / w.weight
		if need > s.Privacy.MaxEpsilon || math.IsInf(need, 0) {
			e := v.fail(w.field,
				"%s is too small: next to the other weights it gives %s a share of ε below %.3g even at privacy.max_epsilon = %s, "+
					"and the noise cannot be calibrated for less",
				formatNumber(w.weight), w.name, minShareEpsilon, formatNumber(s.Privacy.MaxEpsilon))
			e.Hint = "give the metrics and the quality gate weights of comparable size"
			return
		}
		e := v.fail("privacy.epsilon",
			"%s is too small: split across the job's %d metrics and its quality gate by weight, %s would get ε = %.3g, and the noise cannot be calibrated below ε = %.3g per aggregation",
			formatNumber(s.Privacy.Epsilon), len(s.Metrics), w.name, w.eps, minShareEpsilon)
		e.Hint = fmt.Sprintf("this job needs ε ≥ %.3g; an ε anywhere near that releases nothing but noise (dpstats plan shows the expected error)", need)
	}
	v.deltaShares()
}

// deltaShares checks that every metric that needs δ gets a usable share.
func (v *validator) deltaShares() {
	s := v.s
	for i, sh := range s.Shares() {
		if m := &s.Metrics[i]; s.needsDelta(i) && sh.Delta < minShareDelta {
			v.fail("privacy.delta",
				"%s is too small: metric %s's share of it would underflow (the smallest usable δ is about %.3g per metric)",
				formatNumber(s.Privacy.Delta), m.Name, minShareDelta)
			return
		}
	}
}

func (v *validator) privacy() {
	s := v.s
	p := &s.Privacy
	zcdp := p.Accounting == AccountingZCDP
	switch {
	case zcdp && p.Epsilon == 0: // not used under zcdp
	case !(p.Epsilon > 0) || math.IsInf(p.Epsilon, 0):
		v.fail("privacy.epsilon", "must be > 0 and finite, got %s", formatNumber(p.Epsilon))
	case p.Epsilon > p.MaxEpsilon:
		v.fail("privacy.epsilon", "must be ≤ privacy.max_epsilon = %s, got %s", formatNumber(p.MaxEpsilon), formatNumber(p.Epsilon))
	}
	switch {
	case zcdp && p.MaxEpsilon == 0: // not used under zcdp when max_rho is given
	case !(p.MaxEpsilon > 0) || math.IsInf(p.MaxEpsilon, 0):
		v.fail("privacy.max_epsilon", "must be > 0 and finite, got %s", formatNumber(p.MaxEpsilon))
	}
	switch {
	case !(p.Delta >= 0 && p.Delta < 1):
		v.fail("privacy.delta", "must be in [0, 1), got %s", formatNumber(p.Delta))
	case p.Delta > p.MaxDelta:
		v.fail("privacy.delta", "must be ≤ privacy.max_delta = %s, got %s", formatNumber(p.MaxDelta), formatNumber(p.Delta))
	}
	if !(p.MaxDelta >= 0 && p.MaxDelta < 1) {
		v.fail("privacy.max_delta", "must be in [0, 1), got %s", formatNumber(p.MaxDelta))
	}
	switch p.Noise {
	case NoiseLaplace:
	case NoiseGaussian:
		if p.Delta == 0 && !zcdp {
			e := v.fail("privacy.delta", "gaussian noise needs delta > 0")
			e.Hint = fmt.Sprintf("set privacy.delta or pass a delta override (e.g. 1e-6; at most privacy.max_delta = %s), or use laplace noise", formatNumber(p.MaxDelta))
		}
	default:
		v.fail("privacy.noise", "must be %q or %q, got %q", NoiseLaplace, NoiseGaussian, p.Noise)
	}
	if !(p.Confidence > 0 && p.Confidence < 1) {
		v.fail("privacy.confidence", "must be in (0, 1), got %s", formatNumber(p.Confidence))
	}
	l := &s.Ledger
	switch {
	case !(l.CapEpsilon > 0) || math.IsInf(l.CapEpsilon, 0):
		v.fail("ledger.cap_epsilon", "must be > 0 and finite, got %s", formatNumber(l.CapEpsilon))
	case zcdp: // checked against max_rho by zcdpPrivacy
	case l.CapEpsilon < p.MaxEpsilon:
		e := v.fail("ledger.cap_epsilon", "must be ≥ privacy.max_epsilon = %s (otherwise a run at the ceiling could never be released), got %s",
			formatNumber(p.MaxEpsilon), formatNumber(l.CapEpsilon))
		e.Hint = "lower privacy.max_epsilon or raise ledger.cap_epsilon"
	}
	switch {
	case !(l.CapDelta >= 0 && l.CapDelta < 1):
		v.fail("ledger.cap_delta", "must be in [0, 1), got %s", formatNumber(l.CapDelta))
	case l.CapDelta < p.MaxDelta:
		v.fail("ledger.cap_delta", "must be ≥ privacy.max_delta = %s, got %s", formatNumber(p.MaxDelta), formatNumber(l.CapDelta))
	}
	if l.WindowDays < 1 || l.WindowDays > 3660 {
		v.fail("ledger.window_days", "must be between 1 and 3660, got %d", l.WindowDays)
	}
	v.zcdpPrivacy()
}

func (v *validator) metric(f string, m *Metric, forbidden map[string]bool) {
	s := v.s
	if !metricNamePattern.MatchString(m.Name) {
		v.fail(f+".name", "must be 1–64 of [a-z0-9_] starting with a letter (it names the CSV file), got %q", m.Name)
	}
	if m.Name == "report" {
		v.fail(f+".name", "%q is reserved: report.csv is the report's long-format CSV of every metric", m.Name)
	}
	if strings.TrimSpace(m.Description) == "" {
		v.fail(f+".description", "required: say in plain words what is measured (it is shown in the privacy tab)")
	}
	if !slices.Contains(kinds, m.Kind) {
		v.fail(f+".kind", "must be one of count, users, sum, mean, quantiles, got %q", m.Kind)
	}
	if !categoryPattern.MatchString(m.Consent) {
		v.fail(f+".consent", "must name a consent category, 1–64 of [a-z0-9_] starting with a letter, got %q", m.Consent)
	}
	if m.MaxPartitions < 1 {
		v.fail(f+".max_partitions", "must be ≥ 1, got %d", m.MaxPartitions)
	}
	if m.MaxPerPartition < 1 {
		v.fail(f+".max_per_partition", "must be ≥ 1, got %d", m.MaxPerPartition)
	}
	if m.Kind == KindUsers && m.MaxPerPartition != 1 {
		v.fail(f+".max_per_partition", "must be 1 for kind users (a user is counted once per partition), got %d", m.MaxPerPartition)
	}
	if !(m.Weight > 0) || math.IsInf(m.Weight, 0) {
		v.fail(f+".weight", "must be > 0, got %s", formatNumber(m.Weight))
	}

	// Dimension and partitions.
	if m.Dimension == "" {
		for _, bad := range []struct {
			key string
			set bool
		}{{"partitions", m.Partitions != nil}, {"select_partitions", m.SelectPartitions}, {"buckets", m.Buckets != nil}} {
			if bad.set {
				v.fail(f+"."+bad.key, "needs a dimension (without one the metric is a single total)")
			}
		}
		if m.MaxPartitions > 1 {
			v.fail(f+".max_partitions", "must be 1 for a metric without a dimension, got %d", m.MaxPartitions)
		}
	} else {
		v.column(f+".dimension", m.Dimension, forbidden)
		v.private(f+".dimension", m.Dimension)
		set := 0
		for _, b := range []bool{m.Partitions != nil, m.SelectPartitions, m.Buckets != nil} {
			if b {
				set++
			}
		}
		switch {
		case set == 0:
			v.fail(f+".dimension", "needs its partitions: a public list (partitions), buckets for a numeric dimension, or select_partitions: true")
		case set > 1:
			v.fail(f, "partitions, select_partitions and buckets exclude each other; use one")
		}
		if m.Partitions != nil {
			v.partitions(f, m.Partitions)
		}
		if m.SelectPartitions && s.Privacy.Delta == 0 {
			e := v.fail(f+".select_partitions", "needs privacy.delta > 0 (partition selection spends δ)")
			e.Hint = "set privacy.delta (e.g. 1e-6), or list the partitions publicly"
		}
		if m.Buckets != nil {
			v.buckets(f+".buckets", m.Buckets)
		}
	}

	// Value, clamp and ranks.
	if m.Kind.HasValue() {
		if m.Value == "" {
			v.fail(f+".value", "required for kind %s: the numeric column to aggregate", m.Kind)
		} else {
			v.column(f+".value", m.Value, forbidden)
			v.private(f+".value", m.Value)
			if m.Value == m.Dimension {
				v.fail(f+".value", "must differ from the dimension %q", m.Dimension)
			}
		}
		if !(m.Lower < m.Upper) {
			v.fail(f+".upper", "must be > lower = %s, got %s", formatNumber(m.Lower), formatNumber(m.Upper))
		}
		if g := m.Generalize; g != nil {
			if !isWhole(g.Step) || g.Step < 1 {
				v.fail(f+".generalize.step", "must be a whole number ≥ 1, got %s", formatNumber(g.Step))
			}
			for _, b := range []struct {
				key string
				v   float64
			}{{"lower", m.Lower}, {"upper", m.Upper}} {
				if !isWhole(b.v) {
					v.fail(f+"."+b.key, "must be a whole number when the value is generalized, got %s", formatNumber(b.v))
				}
			}
		}
	} else {
		if m.Value != "" {
			v.fail(f+".value", "kind %s has no value; only sum, mean and quantiles do", m.Kind)
		}
		if m.Generalize != nil {
			v.fail(f+".generalize", "rounds the value, and kind %s has none; a numeric dimension uses buckets", m.Kind)
		}
		if m.Lower != 0 || m.Upper != 0 {
			v.fail(f+".lower", "kind %s has no value to clamp; only sum, mean and quantiles do", m.Kind)
		}
	}
	if m.Kind == KindQuantiles {
		switch {
		case len(m.Ranks) == 0:
			v.fail(f+".ranks", "required for kind quantiles: e.g. [0.5] for the median")
		case len(m.Ranks) > maxRanks:
			v.fail(f+".ranks", "at most %d ranks, got %d", maxRanks, len(m.Ranks))
		}
		for i, r := range m.Ranks {
			rf := fmt.Sprintf("%s.ranks[%d]", f, i)
			switch {
			case !(r > 0 && r < 1):
				v.fail(rf, "must be in (0, 1), got %s", formatNumber(r))
			case i > 0 && !(r > m.Ranks[i-1]):
				v.fail(rf, "ranks must be strictly increasing, got %s after %s", formatNumber(r), formatNumber(m.Ranks[i-1]))
			}
		}
	} else if m.Ranks != nil {
		v.fail(f+".ranks", "only kind quantiles has ranks")
	}
}

func (v *validator) partitions(f string, parts []string) {
	if len(parts) == 0 {
		v.fail(f+".partitions", "must list at least one partition")
	}
	if len(parts) > maxPartitions {
		v.fail(f+".partitions", "at most %d partitions, got %d", maxPartitions, len(parts))
	}
	seen := map[string]int{}
	for i, p := range parts {
		pf := fmt.Sprintf("%s.partitions[%d]", f, i)
		switch j, dup := seen[p]; {
		case p == "" || strings.TrimSpace(p) != p:
			v.fail(pf, "must be a non-empty value without surrounding spaces, got %q", p)
		case p == OtherPartition:
			v.fail(pf, "%q is implicit (values not listed go there); remove it", OtherPartition)
		case dup:
			v.fail(pf, "duplicate partition %q (also partitions[%d])", p, j)
		case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			v.fail(pf, "must not contain control characters, got %q", p)
		}
		seen[p] = i
	}
}

func (v *validator) buckets(f string, b *Buckets) {
	switch {
	case len(b.Edges) == 0:
		v.fail(f+".edges", "must list at least one edge")
	case len(b.Edges) > maxBuckets:
		v.fail(f+".edges", "at most %d edges, got %d", maxBuckets, len(b.Edges))
	}
	for i, e := range b.Edges {
		if !isWhole(e) {
			v.fail(fmt.Sprintf("%s.edges[%d]", f, i), "must be a whole number between -2^53 and 2^53, got %s", formatNumber(e))
		}
	}
	for i := 1; i < len(b.Edges); i++ {
		if !(b.Edges[i] > b.Edges[i-1]) {
			v.fail(fmt.Sprintf("%s.edges[%d]", f, i), "edges must be strictly increasing, got %s after %s", formatNumber(b.Edges[i]), formatNumber(b.Edges[i-1]))
		}
	}
}

// column checks that c is a usable column name that is not forbidden.
func (v *validator) column(field, c string, forbidden map[string]bool) {
	switch {
	case !validColumn(c):
		v.fail(field, "must be a column name, got %q", c)
	case isForbidden(c, forbidden):
		e := v.fail(field, "column %q is forbidden: it is never read (built-in list or forbidden_columns)", c)
		e.Hint = "remove this statistic, or export a generalized column instead"
	}
}

// private rejects grouping or aggregating by the privacy unit or the raw
// event time: either would publish per-user or per-moment figures.
func (v *validator) private(field, c string) {
	switch c {
	case v.s.Input.User:
		v.fail(field, "must not be the privacy unit column %q", c)
	case v.s.Input.Time:
		v.fail(field, "must not be the raw event time column %q (a timestamp is a fingerprint)", c)
	}
}

func validColumn(c string) bool {
	return c != "" && strings.TrimSpace(c) == c && len(c) <= 256 &&
		!strings.ContainsFunc(c, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func normalizeColumn(c string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return '_'
		}
		return r
	}, strings.ToLower(c))
}

func (s *Spec) forbidden() map[string]bool {
	f := map[string]bool{}
	for _, c := range BuiltinForbiddenColumns {
		f[normalizeColumn(c)] = true
	}
	for _, c := range s.ForbiddenColumns {
		f[normalizeColumn(c)] = true
	}
	return f
}

func isForbidden(c string, forbidden map[string]bool) bool {
	n := normalizeColumn(c)
	if forbidden[n] {
		return true
	}
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		return forbidden[n[i+1:]] || forbidden[strings.ReplaceAll(n, ".", "_")]
	}
	return false
}

// ForbiddenColumnList returns the built-in and the spec's forbidden columns,
// sorted and without duplicates.
func (s *Spec) ForbiddenColumnList() []string {
	var out []string
	for c := range s.forbidden() {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Metric returns the metric called name, or nil.
func (s *Spec) Metric(name string) *Metric {
	for i := range s.Metrics {
		if s.Metrics[i].Name == name {
			return &s.Metrics[i]
		}
	}
	return nil
}

// Columns returns the event columns the metric called name reads: the
// privacy unit, the event time, then its dimension and value if any. It
// returns nil for an unknown metric.
func (s *Spec) Columns(metric string) []string {
	m := s.Metric(metric)
	if m == nil {
		return nil
	}
	cols := []string{s.Input.User, s.Input.Time}
	for _, c := range []string{m.Dimension, m.Value} {
		if c != "" && !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	return cols
}

// AllColumns returns the projection of the whole job: every event column
// any metric reads, in first-use order. No other column is read.
func (s *Spec) AllColumns() []string {
	cols := []string{s.Input.User, s.Input.Time}
	for _, m := range s.Metrics {
		for _, c := range []string{m.Dimension, m.Value} {
			if c != "" && !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// ConsentCategories returns the consent categories the metrics use, sorted.
func (s *Spec) ConsentCategories() []string {
	var out []string
	for _, m := range s.Metrics {
		if !slices.Contains(out, m.Consent) {
			out = append(out, m.Consent)
		}
	}
	sort.Strings(out)
	return out
}

// Weights returns every metric's weight, in metric order.
func (s *Spec) Weights() []float64 {
	w := make([]float64, len(s.Metrics))
	for i, m := range s.Metrics {
		w[i] = m.Weight
	}
	return w
}

// Share is one metric's part of the run's budget. Under zcdp accounting
// Epsilon is 0 (the part's ρ is in RhoShares) and Delta is only for
// partition selection.
type Share struct {
	Epsilon float64
	Delta   float64
}

// Shares splits the run's budget across the metrics, in metric order.
//
// ε is split by weight over the metrics and the quality gate
// (quality_gate.weight): ε_i = ε·w_i/(Σw + w_gate). δ is split by weight too,
// but only among the metrics that need δ (Metric.NeedsDelta: all of them
// with Gaussian noise, those that select partitions otherwise) and, with
// Gaussian noise, the gate; the others get δ_i = 0. The shares and
// GateShare never add up to more than the run's ε and δ (they are rounded
// down where floating point would overshoot), so composing them is within
// the run's budget.
func (s *Spec) Shares() []Share {
	return s.budgetShares()[:len(s.Metrics)]
}

// fitSum shrinks the fields until their left-to-right sum is ≤ total.
func fitSum(shares []Share, total float64, field func(*Share) *float64) {
	for range 64 {
		sum := 0.0
		for i := range shares {
			sum += *field(&shares[i])
		}
		if sum <= total {
			return
		}
		for i := range shares {
			f := field(&shares[i])
			*f = math.Nextafter(*f*(1-0x1p-50), 0)
		}
	}
}

// Spend returns the ε and δ a run of this spec charges to the ledger: the
// run's whole ε and δ, even δ that no metric's mechanism needs (charging
// more than is spent is safe; the report states the same figures). Under
// zcdp accounting a run charges ρ instead (Charge) and ε is 0.
func (s *Spec) Spend() (epsilon, delta float64) {
	if s.Privacy.Accounting == AccountingZCDP {
		return 0, s.Privacy.Delta
	}
	return s.Privacy.Epsilon, s.Privacy.Delta
}

// FirstPeriod is the earliest period a run may release: 1970-01-01, the
// Unix epoch. An earlier date is a typo (0001-01-01 is also Go's zero
// time, which readers take for "unset").
var FirstPeriod = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// PeriodOf returns the period a run for date covers, [start, end) in UTC.
// date is "YYYY-MM-DD".
func (s *Spec) PeriodOf(date string) (start, end time.Time, err error) {
	if s.Period != PeriodDaily {
		return time.Time{}, time.Time{}, fmt.Errorf("unsupported period %q", s.Period)
	}
	start, err = time.ParseInLocation(time.DateOnly, date, time.UTC)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("period must be a date YYYY-MM-DD, got %q", date)
	}
	if start.Before(FirstPeriod) {
		return time.Time{}, time.Time{}, fmt.Errorf("period %s is before %s: telemetry exports hold no events that old (a typo?)",
			date, FirstPeriod.Format(time.DateOnly))
	}
	return start, start.AddDate(0, 0, 1), nil
}

// File returns the name the spec was parsed from, or "".
func (s *Spec) File() string { return s.file }

// WithOverrides returns a copy of s with the run's ε, δ and noise replaced by
// the non-nil arguments (from flags or the environment). An override may
// lower ε and δ freely but never raise them above privacy.max_epsilon and
// privacy.max_delta: that is refused with an error wrapping ErrCeiling that
// says what the ceiling is and how to change it. The copy is validated.
func (s *Spec) WithOverrides(epsilon, delta *float64, noise *string) (*Spec, error) {
	c := s.clone()
	c.overrides = map[string]string{}
	for k, v := range s.overrides {
		c.overrides[k] = v
	}
	where := func(field string) string {
		if l := s.line(field); l > 0 && s.file != "" {
			return fmt.Sprintf(" (%s:%d)", s.file, l)
		}
		return ""
	}
	if epsilon != nil && s.ZCDP() {
		if err := c.epsilonAsRho(*epsilon, where); err != nil {
			return nil, err
		}
		epsilon = nil
	}
	if epsilon != nil {
		e := *epsilon
		switch {
		case !(e > 0) || math.IsInf(e, 0):
			return nil, fmt.Errorf("epsilon must be > 0 and finite, got %s", formatNumber(e))
		case e > s.Privacy.MaxEpsilon:
			return nil, fmt.Errorf("%w: epsilon %s is above privacy.max_epsilon = %s%s. "+
				"Try: pass an epsilon ≤ %s, or raise privacy.max_epsilon in the job spec (ledger.cap_epsilon = %s must stay ≥ it)",
				ErrCeiling, formatNumber(e), formatNumber(s.Privacy.MaxEpsilon), where("privacy.max_epsilon"),
				formatNumber(s.Privacy.MaxEpsilon), formatNumber(s.Ledger.CapEpsilon))
		}
		c.Privacy.Epsilon = e
		c.overrides["privacy.epsilon"] = "epsilon override"
	}
	if delta != nil {
		d := *delta
		switch {
		case !(d >= 0 && d < 1):
			return nil, fmt.Errorf("delta must be in [0, 1), got %s", formatNumber(d))
		case d > s.Privacy.MaxDelta:
			return nil, fmt.Errorf("%w: delta %s is above privacy.max_delta = %s%s. "+
				"Try: pass a delta ≤ %s, or raise privacy.max_delta in the job spec (ledger.cap_delta = %s must stay ≥ it)",
				ErrCeiling, formatNumber(d), formatNumber(s.Privacy.MaxDelta), where("privacy.max_delta"),
				formatNumber(s.Privacy.MaxDelta), formatNumber(s.Ledger.CapDelta))
		}
		c.Privacy.Delta = d
		c.overrides["privacy.delta"] = "delta override"
	}
	if noise != nil {
		c.Privacy.Noise = *noise
		c.Privacy.noiseSet = true
		c.overrides["privacy.noise"] = "noise override"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// clone returns a deep copy of s.
func (s *Spec) clone() *Spec {
	c := *s
	c.ForbiddenColumns = slices.Clone(s.ForbiddenColumns)
	c.Metrics = make([]Metric, len(s.Metrics))
	for i, m := range s.Metrics {
		m.Partitions = slices.Clone(m.Partitions)
		m.Ranks = slices.Clone(m.Ranks)
		if m.Buckets != nil {
			b := *m.Buckets
			b.Edges = slices.Clone(b.Edges)
			m.Buckets = &b
		}
		if m.Generalize != nil {
			g := *m.Generalize
			m.Generalize = &g
		}
		c.Metrics[i] = m
	}
	return &c
}

// maxWhole bounds whole numbers in a spec so that they are exact in a
// float64 and fit an int64.
const maxWhole = 1 << 53

func isWhole(f float64) bool {
	return f == math.Trunc(f) && math.Abs(f) <= maxWhole
}

// formatWhole prints a whole number without an exponent.
func formatWhole(f float64) string {
	if isWhole(f) {
		return strconv.FormatInt(int64(f), 10)
	}
	return formatNumber(f)
}

// formatNumber prints a float the shortest way that reads back exactly.
func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
