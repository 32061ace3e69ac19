package jobs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// baseSpec returns the lines of testdata/spec/base.yaml (a valid spec);
// line n of the file is lines[n-1].
func baseSpec(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "spec", "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// edit returns base with the given 1-based lines replaced. An empty
// replacement blanks the line, so later line numbers do not move.
func edit(base []string, repl map[int]string) string {
	lines := slices.Clone(base)
	for n, text := range repl {
		lines[n-1] = text
	}
	return strings.Join(lines, "\n") + "\n"
}

func parse(t testing.TB, text string) (*Spec, error) {
	t.Helper()
	return ParseSpec("job.yaml", strings.NewReader(text))
}

func mustParse(t testing.TB, text string) *Spec {
	t.Helper()
	s, err := parse(t, text)
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	return s
}

func TestParseSpecBaseIsValid(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), nil))
	if got, want := s.Name, "test-job"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if got, want := len(s.Metrics), 3; got != want {
		t.Fatalf("len(Metrics) = %d, want %d", got, want)
	}
	m := s.Metrics[1]
	// Defaults.
	if got, want := s.Metrics[0].PartitionList(), []string{"tv", "phone", "web"}; !slices.Equal(got, want) {
		t.Errorf("PartitionList() = %q, want %q", got, want)
	}
	if got, want := m.Title, "bitrate"; got != want {
		t.Errorf("default Title = %q, want %q", got, want)
	}
	if got, want := m.MaxPartitions, 1; got != want {
		t.Errorf("default MaxPartitions = %d, want %d", got, want)
	}
	if got, want := m.MaxPerPartition, 1; got != want {
		t.Errorf("default MaxPerPartition = %d, want %d", got, want)
	}
	if got, want := m.Weight, 1.0; got != want {
		t.Errorf("default Weight = %g, want %g", got, want)
	}
	q := s.Metrics[2]
	if got, want := q.Generalize.Step, 60.0; got != want {
		t.Errorf("Generalize.Step = %g, want %g", got, want)
	}
	if got, want := q.Upper, 14400.0; got != want {
		t.Errorf("Upper = %g, want %g", got, want)
	}
	if got, want := s.Privacy.Delta, 1e-6; got != want {
		t.Errorf("Delta = %g, want %g", got, want)
	}
	if got, want := mustParse(t, edit(baseSpec(t), map[int]string{4: "title: Test job, daily"})).TitleOrName(), "Test job, daily"; got != want {
		t.Errorf("title: TitleOrName() = %q, want %q", got, want)
	}
	if got, want := (&Spec{Name: "built-in-code"}).TitleOrName(), "built-in-code"; got != want {
		t.Errorf("TitleOrName() without a title = %q, want %q", got, want)
	}
	if got, want := s.File(), "job.yaml"; got != want {
		t.Errorf("File() = %q, want %q", got, want)
	}
}

func TestParseSpecDefaults(t *testing.T) {
	s := mustParse(t, `version: 1
name: minimal
privacy: {epsilon: 1, max_epsilon: 1}
ledger: {cap_epsilon: 5}
metrics:
  - {name: total, description: All events., kind: count, consent: usage}
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"period", s.Period, PeriodDaily},
		{"input.user", s.Input.User, "user_id"},
		{"input.time", s.Input.Time, "event_time"},
		{"consent.updated_at", s.Consent.UpdatedAt, "updated_at"},
		{"privacy.noise", s.Privacy.Noise, NoiseLaplace},
		{"privacy.confidence", s.Privacy.Confidence, 0.95},
		{"privacy.delta", s.Privacy.Delta, 0.0},
		{"privacy.max_delta", s.Privacy.MaxDelta, 0.0},
		{"ledger.cap_delta", s.Ledger.CapDelta, 0.0},
		{"ledger.window_days", s.Ledger.WindowDays, 30},
		{"title", s.Title, "minimal"},
		{"TitleOrName", s.TitleOrName(), "minimal"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got, want := s.Metrics[0].PublishedPartitions(), []string{"total"}; !slices.Equal(got, want) {
		t.Errorf("PublishedPartitions() = %q, want %q", got, want)
	}
	if got := s.Metrics[0].PartitionList(); got != nil {
		t.Errorf("PartitionList() = %q, want nil", got)
	}
}

// TestParseSpecErrors checks every validation rule: each case edits lines
// of testdata/spec/base.yaml and expects an error that names file, line,
// field and the rule.
func TestParseSpecErrors(t *testing.T) {
	base := baseSpec(t)
	tests := []struct {
		name string
		repl map[int]string
		text string // instead of repl: the whole spec
		want string // a substring of the error
	}{
		// YAML structure.
		{name: "unknown top-level key", repl: map[int]string{4: "periodd: daily"}, want: `job.yaml:4: periodd: unknown key (did you mean "period"?)`},
		{name: "unknown key far from any", repl: map[int]string{4: "colour: blue"}, want: "job.yaml:4: colour: unknown key; known keys here: consent, description,"},
		{name: "unknown nested key", repl: map[int]string{14: "  confidense: 0.95"}, want: `job.yaml:14: privacy.confidense: unknown key (did you mean "confidence"?)`},
		{name: "unknown metric key", repl: map[int]string{28: "    epsilon_weight: 1"}, want: "job.yaml:28: metrics[0].epsilon_weight: unknown key"},
		{name: "duplicate key", repl: map[int]string{4: "name: other"}, want: "job.yaml:4: name: duplicate key"},
		{name: "syntax error", repl: map[int]string{5: "input: {user: [}"}, want: "job.yaml:5: YAML syntax: did not find expected node content"},
		{name: "syntax error in block", repl: map[int]string{10: "  delta: [1"}, want: "job.yaml:10: YAML syntax: did not find expected ',' or ']'"},
		{name: "scanner error", repl: map[int]string{12: "  max_delta: a: b"}, want: "job.yaml:12: YAML syntax: mapping values are not allowed in this context"},
		{name: "tab indentation", repl: map[int]string{12: "\tmax_delta: 1"}, want: "YAML syntax: found a tab character that violates indentation"},
		{name: "not a mapping", text: "- a\n- b\n", want: "job.yaml:1: must be a mapping of keys to values, got a list"},
		{name: "empty", text: "", want: "job.yaml:1: empty job spec"},
		{name: "two documents", text: edit(base, nil) + "---\nversion: 1\n", want: "job.yaml:47: more than one YAML document"},
		{name: "merge key", repl: map[int]string{14: "  <<: {confidence: 0.9}"}, want: "job.yaml:14: privacy: YAML merge keys (<<) are not supported"},
		{name: "string is a list", repl: map[int]string{2: "name: [a]"}, want: "job.yaml:2: name: must be a string, got a list"},
		{name: "string is null", repl: map[int]string{2: "name:"}, want: "job.yaml:2: name: must be a string, got nothing"},
		{name: "number is a word", repl: map[int]string{9: "  epsilon: lots"}, want: `job.yaml:9: privacy.epsilon: must be a number, got "lots"`},
		{name: "number is quoted", repl: map[int]string{9: `  epsilon: "1"`}, want: `job.yaml:9: privacy.epsilon: must be a number, got "1"`},
		{name: "number is infinite", repl: map[int]string{9: "  epsilon: .inf"}, want: `job.yaml:9: privacy.epsilon: must be a finite number, got ".inf"`},
		{name: "number is NaN", repl: map[int]string{10: "  delta: .nan"}, want: `job.yaml:10: privacy.delta: must be a finite number`},
		{name: "whole number is fractional", repl: map[int]string{26: "    max_partitions: 1.5"}, want: `job.yaml:26: metrics[0].max_partitions: must be a whole number, got "1.5"`},
		{name: "whole number too large", repl: map[int]string{26: "    max_partitions: 99999999999"}, want: `job.yaml:26: metrics[0].max_partitions: must be a whole number between`},
		{name: "bool is a word", repl: map[int]string{28: "    select_partitions: yes"}, want: `job.yaml:28: metrics[0].select_partitions: must be true or false, got "yes"`},
		{name: "list is a string", repl: map[int]string{25: "    partitions: tv"}, want: `job.yaml:25: metrics[0].partitions: must be a list, got "tv"`},
		{name: "mapping is a string", repl: map[int]string{5: "input: user_id"}, want: `job.yaml:5: input: must be a mapping of keys to values, got "user_id"`},
		{name: "missing required top-level key", text: "version: 1\nname: x\n", want: "job.yaml:1: privacy: required"},

		// Job.
		{name: "weight too small next to the others", repl: map[int]string{28: "    weight: 1e-300"}, want: "job.yaml:28: metrics[0].weight: 1e-300 is too small: next to the other weights"},
		{name: "epsilon too small", repl: map[int]string{9: "  epsilon: 1e-300"}, want: "job.yaml:9: privacy.epsilon: 1e-300 is too small"},
		{name: "version", repl: map[int]string{1: "version: 2"}, want: "job.yaml:1: version: unsupported version 2; this dpstats reads version 1"},
		{name: "name with capitals", repl: map[int]string{2: "name: Test_Job"}, want: `job.yaml:2: name: must be 1–63 of [a-z0-9-] starting with a letter (it is used in paths), got "Test_Job"`},
		{name: "name with slash", repl: map[int]string{2: "name: ../etc"}, want: `job.yaml:2: name: must be 1–63`},
		{name: "period", repl: map[int]string{4: "period: weekly"}, want: `job.yaml:4: period: must be "daily", got "weekly"`},
		{name: "input user forbidden", repl: map[int]string{5: "input: {user: email, time: event_time}"}, want: `job.yaml:5: input.user: column "email" is forbidden`},
		{name: "input time empty", repl: map[int]string{5: `input: {user: user_id, time: ""}`}, want: `job.yaml:5: input.time: must be a column name, got ""`},
		{name: "input user is time", repl: map[int]string{5: "input: {user: t, time: t}"}, want: `job.yaml:5: input.time: must differ from input.user`},
		{name: "consent column blank", repl: map[int]string{6: `consent: {user: user_id, category: " ", granted: granted, updated_at: updated_at}`}, want: `job.yaml:6: consent.category: must be a column name`},
		{name: "forbidden column name invalid", repl: map[int]string{7: `forbidden_columns: [""]`}, want: `job.yaml:7: forbidden_columns[0]: must be a column name`},

		// Privacy.
		{name: "epsilon zero", repl: map[int]string{9: "  epsilon: 0"}, want: "job.yaml:9: privacy.epsilon: must be > 0 and finite, got 0"},
		{name: "epsilon negative", repl: map[int]string{9: "  epsilon: -1"}, want: "job.yaml:9: privacy.epsilon: must be > 0 and finite, got -1"},
		{name: "epsilon missing", repl: map[int]string{9: ""}, want: "job.yaml:10: privacy.epsilon: required"},
		{name: "epsilon above ceiling", repl: map[int]string{9: "  epsilon: 3"}, want: "job.yaml:9: privacy.epsilon: must be ≤ privacy.max_epsilon = 2, got 3"},
		{name: "max epsilon missing", repl: map[int]string{11: ""}, want: "job.yaml:9: privacy.max_epsilon: required"},
		{name: "max epsilon zero", repl: map[int]string{9: "  epsilon: 0", 11: "  max_epsilon: 0"}, want: "job.yaml:11: privacy.max_epsilon: must be > 0 and finite, got 0"},
		{name: "delta one", repl: map[int]string{10: "  delta: 1"}, want: "job.yaml:10: privacy.delta: must be in [0, 1), got 1"},
		{name: "delta negative", repl: map[int]string{10: "  delta: -1e-9"}, want: "job.yaml:10: privacy.delta: must be in [0, 1), got -1e-09"},
		{name: "delta above ceiling", repl: map[int]string{10: "  delta: 1e-4"}, want: "job.yaml:10: privacy.delta: must be ≤ privacy.max_delta = 1e-05, got 0.0001"},
		{name: "max delta one", repl: map[int]string{12: "  max_delta: 1", 17: "  cap_delta: 0.5"}, want: "job.yaml:12: privacy.max_delta: must be in [0, 1), got 1"},
		{name: "noise unknown", repl: map[int]string{13: "  noise: uniform"}, want: `job.yaml:13: privacy.noise: must be "laplace" or "gaussian", got "uniform"`},
		{name: "gaussian without delta", repl: map[int]string{10: "  delta: 0", 13: "  noise: gaussian"}, want: "job.yaml:10: privacy.delta: gaussian noise needs delta > 0. Try: set privacy.delta"},
		{name: "confidence one", repl: map[int]string{14: "  confidence: 1"}, want: "job.yaml:14: privacy.confidence: must be in (0, 1), got 1"},
		{name: "confidence zero", repl: map[int]string{14: "  confidence: 0"}, want: "job.yaml:14: privacy.confidence: must be in (0, 1), got 0"},

		// Ledger.
		{name: "cap below ceiling", repl: map[int]string{16: "  cap_epsilon: 1.5"}, want: "job.yaml:16: ledger.cap_epsilon: must be ≥ privacy.max_epsilon = 2 (otherwise a run at the ceiling could never be released), got 1.5. Try: lower privacy.max_epsilon or raise ledger.cap_epsilon"},
		{name: "cap zero", repl: map[int]string{16: "  cap_epsilon: 0"}, want: "job.yaml:16: ledger.cap_epsilon: must be > 0 and finite, got 0"},
		{name: "cap missing", repl: map[int]string{16: ""}, want: "job.yaml:17: ledger.cap_epsilon: required"},
		{name: "cap delta below ceiling", repl: map[int]string{17: "  cap_delta: 1e-6"}, want: "job.yaml:17: ledger.cap_delta: must be ≥ privacy.max_delta = 1e-05, got 1e-06"},
		{name: "cap delta one", repl: map[int]string{17: "  cap_delta: 1"}, want: "job.yaml:17: ledger.cap_delta: must be in [0, 1), got 1"},
		{name: "window zero", repl: map[int]string{18: "  window_days: 0"}, want: "job.yaml:18: ledger.window_days: must be between 1 and 3660, got 0"},

		// Metrics: common rules.
		{name: "no metrics", repl: blank(19, 46, map[int]string{19: "metrics: []"}), want: "job.yaml:19: metrics: must list at least one metric"},
		{name: "metrics not a list", repl: blank(19, 46, map[int]string{19: "metrics: {a: 1}"}), want: "job.yaml:19: metrics: must be a list, got a mapping"},
		{name: "metric name capitals", repl: map[int]string{20: "  - name: Device"}, want: `job.yaml:20: metrics[0].name: must be 1–64 of [a-z0-9_] starting with a letter (it names the CSV file), got "Device"`},
		{name: "metric name with dash", repl: map[int]string{20: "  - name: device-share"}, want: `job.yaml:20: metrics[0].name: must be 1–64 of [a-z0-9_]`},
		{name: "metric name missing", repl: map[int]string{20: "  -", 21: "    description: Events by device."}, want: `job.yaml:21: metrics[0].name: must be 1–64 of [a-z0-9_] starting with a letter (it names the CSV file), got ""`},
		{name: "metric name reserved", repl: map[int]string{20: "  - name: report"}, want: `job.yaml:20: metrics[0].name: "report" is reserved: report.csv is the report's long-format CSV`},
		{name: "duplicate metric name", repl: map[int]string{29: "  - name: device_share"}, want: `job.yaml:29: metrics[1].name: duplicate metric name "device_share" (also metrics[0])`},
		{name: "description missing", repl: map[int]string{21: ""}, want: "job.yaml:20: metrics[0].description: required: say in plain words what is measured"},
		{name: "description blank", repl: map[int]string{21: `    description: "  "`}, want: "job.yaml:21: metrics[0].description: required"},
		{name: "kind unknown", repl: map[int]string{22: "    kind: histogram"}, want: `job.yaml:22: metrics[0].kind: must be one of count, users, sum, mean, quantiles, got "histogram"`},
		{name: "consent category invalid", repl: map[int]string{23: "    consent: Product Usage"}, want: `job.yaml:23: metrics[0].consent: must name a consent category, 1–64 of [a-z0-9_] starting with a letter, got "Product Usage"`},
		{name: "consent missing", repl: map[int]string{23: ""}, want: `job.yaml:20: metrics[0].consent: must name a consent category`},
		{name: "max partitions zero", repl: map[int]string{26: "    max_partitions: 0"}, want: "job.yaml:26: metrics[0].max_partitions: must be ≥ 1, got 0"},
		{name: "max per partition zero", repl: map[int]string{27: "    max_per_partition: 0"}, want: "job.yaml:27: metrics[0].max_per_partition: must be ≥ 1, got 0"},
		{name: "max per partition negative", repl: map[int]string{27: "    max_per_partition: -3"}, want: "job.yaml:27: metrics[0].max_per_partition: must be ≥ 1, got -3"},
		{name: "users with max per partition", repl: map[int]string{22: "    kind: users"}, want: "job.yaml:27: metrics[0].max_per_partition: must be 1 for kind users (a user is counted once per partition), got 5"},
		{name: "weight negative", repl: map[int]string{28: "    weight: -1"}, want: "job.yaml:28: metrics[0].weight: must be > 0, got -1"},
		{name: "weight zero", repl: map[int]string{28: "    weight: 0"}, want: "job.yaml:28: metrics[0].weight: must be > 0, got 0"},

		// Columns.
		{name: "dimension forbidden built-in", repl: map[int]string{24: "    dimension: file_name"}, want: `job.yaml:24: metrics[0].dimension: column "file_name" is forbidden: it is never read (built-in list or forbidden_columns). Try: remove this statistic`},
		{name: "dimension forbidden any case", repl: map[int]string{24: "    dimension: Client-IP"}, want: `job.yaml:24: metrics[0].dimension: column "Client-IP" is forbidden`},
		{name: "dimension forbidden nested", repl: map[int]string{24: "    dimension: media.title"}, want: `job.yaml:24: metrics[0].dimension: column "media.title" is forbidden`},
		{name: "dimension forbidden flattened", repl: map[int]string{24: "    dimension: library.path"}, want: `job.yaml:24: metrics[0].dimension: column "library.path" is forbidden`},
		{name: "dimension forbidden by spec", repl: map[int]string{24: "    dimension: secret_notes"}, want: `job.yaml:24: metrics[0].dimension: column "secret_notes" is forbidden`},
		{name: "dimension is the user", repl: map[int]string{24: "    dimension: user_id"}, want: `job.yaml:24: metrics[0].dimension: must not be the privacy unit column "user_id"`},
		{name: "dimension is the time", repl: map[int]string{24: "    dimension: event_time"}, want: `job.yaml:24: metrics[0].dimension: must not be the raw event time column "event_time" (a timestamp is a fingerprint)`},
		{name: "value forbidden", repl: map[int]string{41: "    value: path"}, want: `job.yaml:41: metrics[2].value: column "path" is forbidden`},
		{name: "value is the user", repl: map[int]string{41: "    value: user_id"}, want: `job.yaml:41: metrics[2].value: must not be the privacy unit column "user_id"`},
		{name: "value is the dimension", repl: map[int]string{41: "    value: media_type"}, want: `job.yaml:41: metrics[2].value: must differ from the dimension "media_type"`},

		// Partitions.
		{name: "partitions and select", repl: map[int]string{28: "    select_partitions: true"}, want: "job.yaml:20: metrics[0]: partitions, select_partitions and buckets exclude each other; use one"},
		{name: "partitions and buckets", repl: map[int]string{34: "    buckets: {edges: [0, 1000]}", 30: "    partitions: [a]"}, want: "job.yaml:29: metrics[1]: partitions, select_partitions and buckets exclude each other"},
		{name: "no partitions", repl: map[int]string{25: ""}, want: "job.yaml:24: metrics[0].dimension: needs its partitions: a public list (partitions), buckets for a numeric dimension, or select_partitions: true"},
		{name: "select without delta", repl: map[int]string{10: "  delta: 0", 25: "    select_partitions: true"}, want: "job.yaml:25: metrics[0].select_partitions: needs privacy.delta > 0 (partition selection spends δ). Try: set privacy.delta"},
		{name: "empty partition list", repl: map[int]string{25: "    partitions: []"}, want: "job.yaml:25: metrics[0].partitions: must list at least one partition"},
		{name: "duplicate partition", repl: map[int]string{25: "    partitions: [tv, phone, tv]"}, want: `job.yaml:25: metrics[0].partitions[2]: duplicate partition "tv" (also partitions[0])`},
		{name: "other listed", repl: map[int]string{25: "    partitions: [tv, other]"}, want: `job.yaml:25: metrics[0].partitions[1]: "other" is implicit (values not listed go there); remove it`},
		{name: "empty partition", repl: map[int]string{25: `    partitions: [tv, ""]`}, want: `job.yaml:25: metrics[0].partitions[1]: must be a non-empty value without surrounding spaces, got ""`},
		{name: "partition with spaces", repl: map[int]string{25: `    partitions: [" tv"]`}, want: `job.yaml:25: metrics[0].partitions[0]: must be a non-empty value without surrounding spaces`},
		{name: "partition with control char", repl: map[int]string{25: `    partitions: ["t\tv"]`}, want: `job.yaml:25: metrics[0].partitions[0]: must not contain control characters`},
		{name: "partitions without dimension", repl: map[int]string{24: "", 26: ""}, want: "job.yaml:25: metrics[0].partitions: needs a dimension (without one the metric is a single total)"},
		{name: "max partitions without dimension", repl: map[int]string{24: "", 25: ""}, want: "job.yaml:26: metrics[0].max_partitions: must be 1 for a metric without a dimension, got 2"},
		{name: "buckets without dimension", repl: map[int]string{33: ""}, want: "job.yaml:34: metrics[1].buckets: needs a dimension"},

		// Buckets and generalization.
		{name: "edges not increasing", repl: map[int]string{34: "    buckets: {edges: [0, 2000, 1000], unit: kbps}"}, want: "job.yaml:34: metrics[1].buckets.edges[2]: edges must be strictly increasing, got 1000 after 2000"},
		{name: "edges repeated", repl: map[int]string{34: "    buckets: {edges: [0, 0]}"}, want: "job.yaml:34: metrics[1].buckets.edges[1]: edges must be strictly increasing, got 0 after 0"},
		{name: "edges empty", repl: map[int]string{34: "    buckets: {edges: []}"}, want: "job.yaml:34: metrics[1].buckets.edges: must list at least one edge"},
		{name: "edges missing", repl: map[int]string{34: "    buckets: {unit: kbps}"}, want: "job.yaml:34: metrics[1].buckets.edges: required"},
		{name: "generalize step zero", repl: map[int]string{42: "    generalize: {step: 0}"}, want: "job.yaml:42: metrics[2].generalize.step: must be a whole number ≥ 1, got 0"},
		{name: "generalize step fractional", repl: map[int]string{42: "    generalize: {step: 0.5}"}, want: "job.yaml:42: metrics[2].generalize.step: must be a whole number ≥ 1, got 0.5"},
		{name: "generalized lower fractional", repl: map[int]string{43: "    lower: 0.5"}, want: "job.yaml:43: metrics[2].lower: must be a whole number when the value is generalized, got 0.5"},
		{name: "edge fractional", repl: map[int]string{34: "    buckets: {edges: [0, 999.5]}"}, want: "job.yaml:34: metrics[1].buckets.edges[1]: must be a whole number between -2^53 and 2^53, got 999.5"},
		{name: "edge huge", repl: map[int]string{34: "    buckets: {edges: [0, 1e300]}"}, want: "job.yaml:34: metrics[1].buckets.edges[1]: must be a whole number between -2^53 and 2^53, got 1e+300"},
		{name: "generalize step missing", repl: map[int]string{42: "    generalize: {unit: s}"}, want: "job.yaml:42: metrics[2].generalize.step: required"},
		{name: "generalize on a count", repl: map[int]string{34: "    buckets: {edges: [0, 1000, 2000], unit: kbps}\n    generalize: {step: 60}"}, want: "job.yaml:35: metrics[1].generalize: rounds the value, and kind count has none; a numeric dimension uses buckets"},

		// Values, bounds and ranks.
		{name: "value missing", repl: map[int]string{41: ""}, want: "job.yaml:35: metrics[2].value: required for kind quantiles: the numeric column to aggregate"},
		{name: "lower missing", repl: map[int]string{43: ""}, want: "job.yaml:35: metrics[2].lower: required for kind quantiles: values are clamped to [lower, upper]"},
		{name: "upper missing", repl: map[int]string{44: ""}, want: "job.yaml:35: metrics[2].upper: required for kind quantiles"},
		{name: "upper equals lower", repl: map[int]string{44: "    upper: 0"}, want: "job.yaml:44: metrics[2].upper: must be > lower = 0, got 0"},
		{name: "upper below lower", repl: map[int]string{43: "    lower: 10", 44: "    upper: -10"}, want: "job.yaml:44: metrics[2].upper: must be > lower = 10, got -10"},
		{name: "rank one", repl: map[int]string{45: "    ranks: [0.5, 1]"}, want: "job.yaml:45: metrics[2].ranks[1]: must be in (0, 1), got 1"},
		{name: "rank zero", repl: map[int]string{45: "    ranks: [0]"}, want: "job.yaml:45: metrics[2].ranks[0]: must be in (0, 1), got 0"},
		{name: "ranks decreasing", repl: map[int]string{45: "    ranks: [0.9, 0.5]"}, want: "job.yaml:45: metrics[2].ranks[1]: ranks must be strictly increasing, got 0.5 after 0.9"},
		{name: "ranks missing", repl: map[int]string{45: ""}, want: "job.yaml:35: metrics[2].ranks: required for kind quantiles: e.g. [0.5] for the median"},
		{name: "ranks on a count", repl: map[int]string{28: "    ranks: [0.5]"}, want: "job.yaml:28: metrics[0].ranks: only kind quantiles has ranks"},
		{name: "value on a count", repl: map[int]string{28: "    value: duration_s"}, want: "job.yaml:28: metrics[0].value: kind count has no value; only sum, mean and quantiles do"},
		{name: "bounds on a count", repl: map[int]string{28: "    upper: 10"}, want: "job.yaml:20: metrics[0].lower: kind count has no value to clamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if tt.repl != nil {
				text = edit(base, tt.repl)
			}
			s, err := parse(t, text)
			if err == nil {
				t.Fatalf("ParseSpec succeeded (%+v), want error containing %q", s, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSpec error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("error %T does not hold a *SpecError", err)
			}
			if got, want := se.File, "job.yaml"; got != want {
				t.Errorf("SpecError.File = %q, want %q", got, want)
			}
			if se.Line <= 0 {
				t.Errorf("SpecError.Line = %d, want > 0", se.Line)
			}
		})
	}
}

// blank returns repl with lines from..to blanked, except those repl sets.
func blank(from, to int, repl map[int]string) map[int]string {
	out := map[int]string{}
	for n := from; n <= to; n++ {
		out[n] = ""
	}
	for n, text := range repl {
		out[n] = text
	}
	return out
}

func TestParseSpecValidVariants(t *testing.T) {
	base := baseSpec(t)
	tests := []struct {
		name  string
		repl  map[int]string
		check func(t *testing.T, s *Spec)
	}{
		{"select partitions with delta", map[int]string{25: "    select_partitions: true"}, func(t *testing.T, s *Spec) {
			if got := s.Metrics[0].PublishedPartitions(); got != nil {
				t.Errorf("PublishedPartitions() = %q, want nil", got)
			}
			if got := s.Metrics[0].PartitionList(); got != nil {
				t.Errorf("PartitionList() = %q, want nil", got)
			}
		}},
		{"gaussian with delta", map[int]string{13: "  noise: gaussian"}, nil},
		{"users with one per partition", map[int]string{22: "    kind: users", 27: ""}, nil},
		{"single total", map[int]string{24: "", 25: "", 26: ""}, nil},
		{"alias", map[int]string{25: "    partitions: &devices [tv, phone, web]", 40: "    partitions: *devices"}, func(t *testing.T, s *Spec) {
			if got, want := s.Metrics[2].Partitions, []string{"tv", "phone", "web"}; !slices.Equal(got, want) {
				t.Errorf("aliased Partitions = %q, want %q", got, want)
			}
		}},
		{"numeric partitions", map[int]string{25: "    partitions: [1, 2, 10]"}, func(t *testing.T, s *Spec) {
			if got, want := s.Metrics[0].Partitions, []string{"1", "2", "10"}; !slices.Equal(got, want) {
				t.Errorf("Partitions = %q, want %q", got, want)
			}
		}},
		{"nested column", map[int]string{24: "    dimension: client.device_type"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, edit(base, tt.repl))
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestParseSpecReportsAllErrorsInLineOrder(t *testing.T) {
	_, err := parse(t, edit(baseSpec(t), map[int]string{28: "    weight: -1", 9: "  epsilon: 0", 45: "    ranks: [2]"}))
	var errs SpecErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T (%v) is not SpecErrors", err, err)
	}
	var lines []int
	for _, e := range errs {
		lines = append(lines, e.Line)
	}
	if got, want := lines, []int{9, 28, 45}; !slices.Equal(got, want) {
		t.Errorf("error lines = %v, want %v\n%v", got, want, err)
	}
}

func TestParseSpecTooLarge(t *testing.T) {
	_, err := parse(t, "# "+strings.Repeat("x", maxSpecBytes)+"\n")
	if err == nil || !strings.Contains(err.Error(), "job.yaml: larger than") {
		t.Fatalf("ParseSpec(huge) error = %v, want a size error", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseSpecReadError(t *testing.T) {
	_, err := ParseSpec("job.yaml", failingReader{})
	if err == nil || !strings.Contains(err.Error(), "read job spec job.yaml: disk on fire") {
		t.Fatalf("ParseSpec error = %v", err)
	}
}

func TestLoadSpec(t *testing.T) {
	path := filepath.Join("testdata", "spec", "base.yaml")
	s, err := LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.File(), path; got != want {
		t.Errorf("File() = %q, want %q", got, want)
	}
	_, err = LoadSpec(filepath.Join("testdata", "spec", "missing.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read job spec: ") {
		t.Errorf("LoadSpec(missing) error = %v, want a wrapped ErrNotExist", err)
	}
}

func TestValidateSpecBuiltInCode(t *testing.T) {
	s := &Spec{
		Version: 1, Name: "coded", Period: PeriodDaily,
		Input:   Input{User: "uid", Time: "ts"},
		Consent: ConsentColumns{User: "uid", Category: "c", Granted: "g", UpdatedAt: "u"},
		Privacy: Privacy{Epsilon: 1, MaxEpsilon: 1, Noise: NoiseLaplace, Confidence: 0.9},
		Ledger:  LedgerCap{CapEpsilon: 3, WindowDays: 7},
		Metrics: []Metric{{Name: "n", Description: "d", Kind: KindCount, Consent: "usage", MaxPartitions: 1, MaxPerPartition: 1, Weight: 0}},
		Gate:    DefaultQualityGate(),
	}
	err := s.Validate()
	if err == nil {
		t.Fatal("Validate succeeded with weight 0")
	}
	// No file and no line: the error starts with the field.
	if got, want := err.Error(), "metrics[0].weight: must be > 0, got 0"; got != want {
		t.Errorf("Validate() = %q, want %q", got, want)
	}
	s.Metrics[0].Weight = 1
	if err := s.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestShippedSpecValidates(t *testing.T) {
	names := BuiltinSpecs()
	if got, want := names, []string{"playback-daily"}; !slices.Equal(got, want) {
		t.Fatalf("BuiltinSpecs() = %q, want %q", got, want)
	}
	data, ok := BuiltinSpec("playback-daily")
	if !ok {
		t.Fatal(`BuiltinSpec("playback-daily") not found`)
	}
	onDisk, err := os.ReadFile("playback-daily.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(onDisk) {
		t.Error("embedded spec differs from playback-daily.yaml")
	}
	if _, ok := BuiltinSpec("playback-daily.yaml"); !ok {
		t.Error(`BuiltinSpec("playback-daily.yaml") not found`)
	}
	for _, bad := range []string{"", "nope", "../jobs/playback-daily", "/playback-daily"} {
		if _, ok := BuiltinSpec(bad); ok {
			t.Errorf("BuiltinSpec(%q) found", bad)
		}
	}
	s, err := LoadSpec("playback-daily.yaml")
	if err != nil {
		t.Fatalf("shipped spec: %v", err)
	}
	// What users were told is collected.
	want := []string{
		"device_type_share", "platform_share", "users_by_device_type",
		"video_codec_share", "audio_codec_share", "container_share",
		"resolution_share", "media_type_share", "transcode_decision_share",
		"bitrate_distribution", "playback_duration_distribution",
		"median_duration_by_media_type", "mean_duration_by_media_type",
	}
	var got []string
	for _, m := range s.Metrics {
		got = append(got, m.Name)
		if m.Consent != "playback_stats" && m.Consent != "product_usage" {
			t.Errorf("metric %s: consent %q", m.Name, m.Consent)
		}
		if m.SelectPartitions {
			t.Errorf("metric %s selects partitions; the shipped spec keeps every partition public", m.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("metrics = %q\nwant %q", got, want)
	}
	if got, want := s.Metric("users_by_device_type").Kind, KindUsers; got != want {
		t.Errorf("users_by_device_type kind = %q, want %q", got, want)
	}
	if got, want := s.Metric("median_duration_by_media_type").Ranks, []float64{0.5, 0.9}; !slices.Equal(got, want) {
		t.Errorf("median ranks = %v, want %v", got, want)
	}
	// 30 daily runs at the default ε fit under the ledger cap.
	if got := 30 * s.Privacy.Epsilon; got > s.Ledger.CapEpsilon {
		t.Errorf("30 runs spend ε = %g > cap %g", got, s.Ledger.CapEpsilon)
	}
	if got, want := s.AllColumns(), []string{"user_id", "event_time", "device_type", "platform", "video_codec", "audio_codec", "container", "resolution", "media_type", "decision", "bitrate_kbps", "duration_s"}; !slices.Equal(got, want) {
		t.Errorf("AllColumns() = %q\nwant %q", got, want)
	}
	for _, c := range s.AllColumns() {
		if slices.Contains(s.ForbiddenColumnList(), c) {
			t.Errorf("column %q is read and forbidden", c)
		}
	}
	// Gaussian needs a δ: the shipped spec has none, so the override must
	// come with one.
	if _, err := s.WithOverrides(nil, nil, ptr(NoiseGaussian)); err == nil {
		t.Error("gaussian override without delta accepted")
	}
	if _, err := s.WithOverrides(nil, ptr(1e-7), ptr(NoiseGaussian)); err != nil {
		t.Errorf("gaussian override with delta: %v", err)
	}
}

func TestWithOverrides(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), nil))
	// The smallest run ε the spec accepts: the one that gives its smallest
	// aggregation (a metric, or one of the gate's per-category counts)
	// exactly the smallest share the noise can be calibrated for.
	floor := 0.0
	for _, sh := range s.Shares() {
		floor = math.Max(floor, minShareEpsilon*s.Privacy.Epsilon/sh.Epsilon)
	}
	gate := s.GateShare().Epsilon / float64(len(s.ConsentCategories()))
	floor = math.Max(floor, minShareEpsilon*s.Privacy.Epsilon/gate)
	tests := []struct {
		name           string
		eps, delta     *float64
		noise          *string
		wantEps        float64
		wantDelta      float64
		wantNoise      string
		wantErr        string
		wantErrCeiling bool
	}{
		{name: "none", wantEps: 1, wantDelta: 1e-6, wantNoise: NoiseLaplace},
		{name: "lower epsilon", eps: ptr(0.25), wantEps: 0.25, wantDelta: 1e-6, wantNoise: NoiseLaplace},
		{name: "epsilon at ceiling", eps: ptr(2.0), wantEps: 2, wantDelta: 1e-6, wantNoise: NoiseLaplace},
		{name: "delta at ceiling", delta: ptr(1e-5), wantEps: 1, wantDelta: 1e-5, wantNoise: NoiseLaplace},
		{name: "delta zero", delta: ptr(0.0), wantEps: 1, wantDelta: 0, wantNoise: NoiseLaplace},
		{name: "gaussian", noise: ptr(NoiseGaussian), wantEps: 1, wantDelta: 1e-6, wantNoise: NoiseGaussian},
		{name: "epsilon over ceiling", eps: ptr(100.0), wantErrCeiling: true,
			wantErr: "privacy override above the job's per-run ceiling: epsilon 100 is above privacy.max_epsilon = 2 (job.yaml:11). Try: pass an epsilon ≤ 2, or raise privacy.max_epsilon in the job spec (ledger.cap_epsilon = 10 must stay ≥ it)"},
		{name: "epsilon just over ceiling", eps: ptr(math.Nextafter(2, 3)), wantErrCeiling: true, wantErr: "is above privacy.max_epsilon = 2"},
		{name: "delta over ceiling", delta: ptr(1e-3), wantErrCeiling: true,
			wantErr: "privacy override above the job's per-run ceiling: delta 0.001 is above privacy.max_delta = 1e-05 (job.yaml:12). Try: pass a delta ≤ 1e-05, or raise privacy.max_delta in the job spec (ledger.cap_delta = 0.0001 must stay ≥ it)"},
		{name: "epsilon zero", eps: ptr(0.0), wantErr: "epsilon must be > 0 and finite, got 0"},
		{name: "epsilon NaN", eps: ptr(math.NaN()), wantErr: "epsilon must be > 0 and finite, got NaN"},
		{name: "epsilon infinite", eps: ptr(math.Inf(1)), wantErr: "epsilon must be > 0 and finite, got +Inf"},
		{name: "delta negative", delta: ptr(-1.0), wantErr: "delta must be in [0, 1), got -1"},
		{name: "noise unknown", noise: ptr("uniform"), wantErr: `job.yaml: privacy.noise (set by noise override): must be "laplace" or "gaussian", got "uniform"`},
		{name: "gaussian with delta zero", noise: ptr(NoiseGaussian), delta: ptr(0.0), wantErr: "job.yaml: privacy.delta (set by delta override): gaussian noise needs delta > 0"},
		// Below the smallest share the noise can be calibrated for: refused
		// in our words, before the DP library sees it.
		{name: "epsilon 1e-300", eps: ptr(1e-300), wantErr: "job.yaml: privacy.epsilon (set by epsilon override): 1e-300 is too small: split across the job's 3 metrics and its quality gate by weight"},
		{name: "epsilon smallest float", eps: ptr(5e-324), wantErr: "privacy.epsilon (set by epsilon override): 5e-324 is too small"},
		{name: "epsilon just under the floor", eps: ptr(math.Nextafter(floor, 0)), wantErr: "is too small"},
		{name: "gaussian with a subnormal delta", noise: ptr(NoiseGaussian), delta: ptr(5e-324), wantErr: "privacy.delta (set by delta override): 5e-324 is too small"},
		{name: "epsilon at the floor", eps: ptr(floor), wantEps: floor, wantDelta: 1e-6, wantNoise: NoiseLaplace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.WithOverrides(tt.eps, tt.delta, tt.noise)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("WithOverrides succeeded, want error %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("WithOverrides error:\n%v\nwant it to contain:\n%s", err, tt.wantErr)
				}
				if got, want := errors.Is(err, ErrCeiling), tt.wantErrCeiling; got != want {
					t.Errorf("errors.Is(err, ErrCeiling) = %v, want %v", got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("WithOverrides: %v", err)
			}
			if got, want := got.Privacy.Epsilon, tt.wantEps; got != want {
				t.Errorf("Epsilon = %g, want %g", got, want)
			}
			if got, want := got.Privacy.Delta, tt.wantDelta; got != want {
				t.Errorf("Delta = %g, want %g", got, want)
			}
			if got, want := got.Privacy.Noise, tt.wantNoise; got != want {
				t.Errorf("Noise = %q, want %q", got, want)
			}
			// The ceilings never move.
			if got, want := got.Privacy.MaxEpsilon, s.Privacy.MaxEpsilon; got != want {
				t.Errorf("MaxEpsilon = %g, want %g", got, want)
			}
		})
	}
	// The original is untouched, deeply.
	c, err := s.WithOverrides(ptr(0.5), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Metrics[0].Partitions[0] = "changed"
	c.Metrics[1].Buckets.Edges[0] = -1
	if got, want := s.Privacy.Epsilon, 1.0; got != want {
		t.Errorf("original Epsilon = %g, want %g", got, want)
	}
	if got, want := s.Metrics[0].Partitions[0], "tv"; got != want {
		t.Errorf("original partition = %q, want %q", got, want)
	}
	if got, want := s.Metrics[1].Buckets.Edges[0], 0.0; got != want {
		t.Errorf("original edge = %g, want %g", got, want)
	}
}

func TestShares(t *testing.T) {
	base := baseSpec(t)
	tests := []struct {
		name  string
		repl  map[int]string
		want  []Share
		gate  Share
		spend Share
	}{
		// Weights 1, 1, 2 and the quality gate's default 1 of ε = 1;
		// laplace and public partitions: no δ.
		{"laplace", nil, []Share{{0.2, 0}, {0.2, 0}, {0.4, 0}}, Share{0.2, 0}, Share{1, 1e-6}},
		// Gaussian: every metric and the gate need δ, split like ε.
		{"gaussian", map[int]string{13: "  noise: gaussian"}, []Share{{0.2, 0.2e-6}, {0.2, 0.2e-6}, {0.4, 0.4e-6}}, Share{0.2, 0.2e-6}, Share{1, 1e-6}},
		// Laplace with one selecting metric: it gets all of δ.
		{"selection", map[int]string{25: "    select_partitions: true"}, []Share{{0.2, 1e-6}, {0.2, 0}, {0.4, 0}}, Share{0.2, 0}, Share{1, 1e-6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustParse(t, edit(base, tt.repl))
			got := s.Shares()
			if len(got) != len(tt.want) {
				t.Fatalf("len(Shares()) = %d, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if math.Abs(got[i].Epsilon-tt.want[i].Epsilon) > 1e-12 || math.Abs(got[i].Delta-tt.want[i].Delta) > 1e-18 {
					t.Errorf("Shares()[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			if g := s.GateShare(); math.Abs(g.Epsilon-tt.gate.Epsilon) > 1e-12 || math.Abs(g.Delta-tt.gate.Delta) > 1e-18 {
				t.Errorf("GateShare() = %+v, want %+v", g, tt.gate)
			}
			eps, delta := s.Spend()
			if got, want := (Share{eps, delta}), tt.spend; got != want {
				t.Errorf("Spend() = %+v, want %+v", got, want)
			}
		})
	}
	if got, want := mustParse(t, edit(base, nil)).Weights(), []float64{1, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("Weights() = %v, want %v", got, want)
	}
}

// TestSharesNeverExceedBudget checks, for random weights and budgets, that
// the shares add up to no more than the run's ε and δ (composition must stay
// within budget) and lose almost nothing.
func TestSharesNeverExceedBudget(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 5000 {
		n := 1 + r.IntN(40)
		s := &Spec{Privacy: Privacy{Epsilon: r.Float64()*5 + 1e-3, Delta: r.Float64() * 1e-5, Noise: NoiseGaussian}}
		for range n {
			s.Metrics = append(s.Metrics, Metric{Weight: r.Float64()*10 + 1e-3})
		}
		var eps, delta float64
		for _, sh := range s.Shares() {
			if sh.Epsilon <= 0 {
				t.Fatalf("trial %d: non-positive share %+v", trial, sh)
			}
			eps += sh.Epsilon
			delta += sh.Delta
		}
		if eps > s.Privacy.Epsilon || delta > s.Privacy.Delta {
			t.Fatalf("trial %d: shares sum to ε=%v δ=%v, budget ε=%v δ=%v", trial, eps, delta, s.Privacy.Epsilon, s.Privacy.Delta)
		}
		if eps < s.Privacy.Epsilon*(1-1e-9) {
			t.Fatalf("trial %d: shares waste budget: %v of %v", trial, eps, s.Privacy.Epsilon)
		}
	}
}

func TestBuckets(t *testing.T) {
	tests := []struct {
		name   string
		b      Buckets
		labels []string
		values map[float64]string
	}{
		{"kbps", Buckets{Edges: []float64{0, 1000, 2000, 16000}, Unit: "kbps"},
			[]string{"0–999 kbps", "1000–1999 kbps", "2000–15999 kbps", "≥ 16000 kbps"},
			map[float64]string{-1: "0–999 kbps", 0: "0–999 kbps", 999: "0–999 kbps", 999.5: "0–999 kbps", 1000: "1000–1999 kbps", 15999: "2000–15999 kbps", 16000: "≥ 16000 kbps", 1e12: "≥ 16000 kbps", math.NaN(): "other", math.Inf(1): "≥ 16000 kbps", math.Inf(-1): "0–999 kbps"}},
		{"single-value bucket, no unit", Buckets{Edges: []float64{1, 2, 5}},
			[]string{"1–1", "2–4", "≥ 5"},
			map[float64]string{0: "1–1", 1: "1–1", 1.9: "1–1", 2: "2–4", 7: "≥ 5"}},
		{"negative", Buckets{Edges: []float64{-10, 0}},
			[]string{"-10–-1", "≥ 0"},
			map[float64]string{-11: "-10–-1", -10: "-10–-1", -0.5: "-10–-1", 0: "≥ 0"}},
		{"large", Buckets{Edges: []float64{0, 1e15}, Unit: "B"},
			[]string{"0–999999999999999 B", "≥ 1000000000000000 B"},
			map[float64]string{1e15: "≥ 1000000000000000 B"}},
		{"no edges", Buckets{}, []string{}, map[float64]string{5: "other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Labels(); !slices.Equal(got, tt.labels) {
				t.Errorf("Labels() = %q, want %q", got, tt.labels)
			}
			for v, want := range tt.values {
				if got := tt.b.Label(v); got != want {
					t.Errorf("Label(%g) = %q, want %q", v, got, want)
				}
			}
		})
	}
	m := Metric{Dimension: "bitrate_kbps", Buckets: &Buckets{Edges: []float64{0, 1000}, Unit: "kbps"}}
	if got, want := m.PublishedPartitions(), []string{"0–999 kbps", "≥ 1000 kbps"}; !slices.Equal(got, want) {
		t.Errorf("PublishedPartitions() = %q, want %q", got, want)
	}
	if got, want := m.PartitionList(), []string{"0–999 kbps", "≥ 1000 kbps"}; !slices.Equal(got, want) {
		t.Errorf("PartitionList() = %q, want %q", got, want)
	}
}

func TestGeneralizeApply(t *testing.T) {
	g := Generalize{Step: 60}
	// Nearest multiple, halves up: like datasets.Generalizer.
	for v, want := range map[float64]float64{0: 0, 29: 0, 29.9: 0, 30: 60, 59: 60, 60: 60, 89: 60, 90: 120, 3599.9: 3600, -1: 0, -30: 0, -31: -60} {
		if got := g.Apply(v); got != want {
			t.Errorf("Apply(%g) = %g, want %g", v, got, want)
		}
	}
}

func TestColumns(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), nil))
	tests := []struct {
		metric string
		want   []string
	}{
		{"device_share", []string{"user_id", "event_time", "device_type"}},
		{"bitrate", []string{"user_id", "event_time", "bitrate_kbps"}},
		{"duration_quantiles", []string{"user_id", "event_time", "media_type", "duration_s"}},
		{"missing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			if got := s.Columns(tt.metric); !slices.Equal(got, tt.want) {
				t.Errorf("Columns(%q) = %q, want %q", tt.metric, got, tt.want)
			}
		})
	}
	if got, want := s.AllColumns(), []string{"user_id", "event_time", "device_type", "bitrate_kbps", "media_type", "duration_s"}; !slices.Equal(got, want) {
		t.Errorf("AllColumns() = %q, want %q", got, want)
	}
	if got, want := s.ConsentCategories(), []string{"playback_stats", "product_usage"}; !slices.Equal(got, want) {
		t.Errorf("ConsentCategories() = %q, want %q", got, want)
	}
	fl := s.ForbiddenColumnList()
	for _, c := range []string{"secret_notes", "title", "client_ip"} {
		if !slices.Contains(fl, c) {
			t.Errorf("ForbiddenColumnList() lacks %q", c)
		}
	}
}

func TestPeriodOf(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), nil))
	start, end, err := s.PeriodOf("2024-02-28")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := start, time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("start = %v, want %v", got, want)
	}
	if got, want := end, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("end = %v, want %v", got, want)
	}
	if _, _, err := s.PeriodOf("1970-01-01"); err != nil {
		t.Errorf("PeriodOf(1970-01-01), the first period: %v", err)
	}
	for _, bad := range []string{"", "2024-02-30", "28.02.2024", "2024-02-28T00:00:00Z", "0001-01-01", "1969-12-31"} {
		if _, _, err := s.PeriodOf(bad); err == nil {
			t.Errorf("PeriodOf(%q) succeeded", bad)
		}
	}
}

// FuzzParseSpec checks that no input makes ParseSpec panic, and that a spec
// it accepts validates and has every error located.
func FuzzParseSpec(f *testing.F) {
	base := baseSpec(f)
	f.Add(edit(base, nil))
	f.Add(edit(base, map[int]string{9: "  epsilon: -1", 25: "    partitions: &a [x, *a]"}))
	if data, ok := BuiltinSpec("playback-daily"); ok {
		f.Add(string(data))
	}
	f.Add("a: &a [*a]\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseSpec("fuzz.yaml", strings.NewReader(text))
		if err != nil {
			var errs SpecErrors
			if errors.As(err, &errs) && len(errs) == 0 {
				t.Fatal("empty SpecErrors")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("accepted spec fails Validate: %v", err)
		}
		s.Shares()
		s.AllColumns()
		for _, m := range s.Metrics {
			m.PublishedPartitions()
		}
	})
}

func ExampleParseSpec() {
	_, err := ParseSpec("job.yaml", strings.NewReader(`version: 1
name: example
privacy: {epsilon: 1, max_epsilon: 2}
ledger: {cap_epsilon: 10}
metrics:
  - name: codec_share
    description: Events by video codec.
    kind: count
    consent: playback_stats
    dimension: file_name
    partitions: [h264, hevc]
    weight: -1
`))
	fmt.Println(err)
	// Output:
	// job.yaml:10: metrics[0].dimension: column "file_name" is forbidden: it is never read (built-in list or forbidden_columns). Try: remove this statistic, or export a generalized column instead
	// job.yaml:12: metrics[0].weight: must be > 0, got -1
}

func ExampleSpec_WithOverrides() {
	s, err := ParseSpec("job.yaml", strings.NewReader(`version: 1
name: example
privacy:
  epsilon: 0.5
  max_epsilon: 1
ledger: {cap_epsilon: 10}
metrics:
  - {name: total, description: All events., kind: count, consent: usage}
`))
	if err != nil {
		panic(err)
	}
	eps := 0.8
	lower, err := s.WithOverrides(&eps, nil, nil)
	fmt.Println(lower.Privacy.Epsilon, err)

	eps = 100 // a typo for 1.00
	_, err = s.WithOverrides(&eps, nil, nil)
	fmt.Println(errors.Is(err, ErrCeiling))
	fmt.Println(err)
	// Output:
	// 0.8 <nil>
	// true
	// privacy override above the job's per-run ceiling: epsilon 100 is above privacy.max_epsilon = 1 (job.yaml:5). Try: pass an epsilon ≤ 1, or raise privacy.max_epsilon in the job spec (ledger.cap_epsilon = 10 must stay ≥ it)
}
