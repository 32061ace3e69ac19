package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test ./reports -run %s -update and review the diff.\ngot:\n%s", name, t.Name(), firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) && i < len(w); i++ {
		if g[i] != w[i] {
			return "line " + itoa(i+1) + ":\n  got:  " + g[i] + "\n  want: " + w[i]
		}
	}
	return "lengths differ: " + itoa(len(g)) + " vs " + itoa(len(w)) + " lines"
}

func itoa(i int) string { return formatSig(float64(i), 12) }

func TestGolden(t *testing.T) {
	r := fixture()
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"report.json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		{"codec_share.csv", func(b *bytes.Buffer) error { return WriteCSV(b, &r.Metrics[1]) }},
		{"median_duration.csv", func(b *bytes.Buffer) error { return WriteCSV(b, &r.Metrics[5]) }},
		{"mean_duration.csv", func(b *bytes.Buffer) error { return WriteCSV(b, &r.Metrics[6]) }},
		{"report.csv", func(b *bytes.Buffer) error { return WriteTidyCSV(b, r) }},
		{"index.html", func(b *bytes.Buffer) error { return WriteHTML(b, r) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.write(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		t.Fatalf("parse schema: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, b []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("report.json is not JSON: %v", err)
	}
	return s.Validate(inst)
}

func TestJSONMatchesSchema(t *testing.T) {
	s := compileSchema(t)
	evil := fixture()
	evil.Metrics[0].Partitions[0].Name = "<script>alert(1)</script>"
	evil.Metrics[1].Partitions[1].Name = "bad\xffutf8"
	minimal := fixture()
	minimal.Metrics = minimal.Metrics[5:6]
	minimal.Collected, minimal.Warnings, minimal.ToolVersion, minimal.Delta = nil, nil, "", 0
	// Schema 1.1 only adds optional fields: a report written as 1.0.0
	// (quantiles with the clamping bounds as lower and upper, no notes)
	// still validates.
	old, err := os.ReadFile(filepath.Join("testdata", "report-1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validateJSON(t, s, old); err != nil {
		t.Errorf("a 1.0.0 report.json does not match the 1.1 schema: %v", err)
	}
	for name, r := range map[string]*Report{"fixture": fixture(), "hostile names": evil, "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteJSON(&buf, r); err != nil {
				t.Fatal(err)
			}
			if err := validateJSON(t, s, buf.Bytes()); err != nil {
				t.Errorf("report.json does not match the schema: %v", err)
			}
			if !utf8.Valid(buf.Bytes()) {
				t.Error("report.json is not valid UTF-8")
			}
		})
	}
}

// The schema must reject what it promises to reject, or validating against it
// proves nothing.
func TestSchemaRejects(t *testing.T) {
	s := compileSchema(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(m map[string]any)
	}{
		{"exact row count", func(m map[string]any) { m["rows_read"] = 123456 }},
		{"exact users in metric", func(m map[string]any) { metric(m)["user_count"] = 99 }},
		{"unknown kind", func(m map[string]any) { metric(m)["kind"] = "max" }},
		{"path in job", func(m map[string]any) { m["job"] = "../etc" }},
		{"share above 1", func(m map[string]any) { metric(m)["partitions"].([]any)[0].(map[string]any)["share"] = 1.5 }},
		{"zero epsilon", func(m map[string]any) { m["epsilon"] = 0 }},
		{"major version 2", func(m map[string]any) { m["schema_version"] = "2.0.0" }},
		{"interval and note", func(m map[string]any) { part(m, 0, 0)["interval_note"] = "none" }},
		{"neither interval nor note", func(m map[string]any) { delete(part(m, 0, 0), "lower"); delete(part(m, 0, 0), "upper") }},
		{"half an interval", func(m map[string]any) { delete(part(m, 0, 0), "upper") }},
		{"quantile with half an interval", func(m map[string]any) {
			delete(part(m, 5, 0)["quantiles"].([]any)[0].(map[string]any), "upper")
		}},
		{"quantile with an interval and a note", func(m map[string]any) {
			part(m, 5, 0)["quantiles"].([]any)[0].(map[string]any)["interval_note"] = "none"
		}},
		{"bucket upper without lower", func(m map[string]any) { part(m, 0, 0)["bucket_upper"] = 10 }},
		{"absolute schema elsewhere", func(m map[string]any) { m["$schema"] = "https://example.com/report.schema.json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			tt.mutate(m)
			b, _ := json.Marshal(m)
			if err := validateJSON(t, s, b); err == nil {
				t.Error("schema accepted it")
			}
		})
	}
}

func metric(m map[string]any) map[string]any { return m["metrics"].([]any)[0].(map[string]any) }

// part returns partition j of metric i of a decoded report.json.
func part(m map[string]any, i, j int) map[string]any {
	return m["metrics"].([]any)[i].(map[string]any)["partitions"].([]any)[j].(map[string]any)
}

func TestJSONPrecision(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"value": 41237.6,`, `"value": 4120.12,`, `"delta": 0.000001,`, `"value": -37.4,`} {
		if !strings.Contains(out, want) {
			t.Errorf("report.json lacks %s", want)
		}
	}
	if strings.Contains(out, "41237.618") {
		t.Error("report.json has more than 6 significant digits")
	}
}

func TestFormatSig(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {41237.61803398875, "41237.6"}, {-37.4, "-37.4"}, {1e-6, "0.000001"},
		{1234567.89, "1234570"}, {0.1 + 0.2, "0.3"}, {2.5e-9, "2.5e-09"}, {3e22, "3e+22"},
	}
	for _, tt := range tests {
		if got := formatSig(tt.in, 6); got != tt.want {
			t.Errorf("formatSig(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDisplayFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"int", fmtInt(1234567.4), "1\u202f234\u202f567"},
		{"int small", fmtInt(999), "999"},
		{"int negative", fmtInt(-1234), "\u22121\u202f234"},
		{"int minus zero", fmtInt(-0.3), "0"},
		{"pct", fmtPct(0.2344), "23.4\u202f%"},
		{"pct tiny", fmtPct(0.0001), "<0.1\u202f%"},
		{"num", fmtNum(4.1349), "4.13"},
		{"num big", fmtNum(9877.5), "9\u202f878"},
		{"delta", fmtDelta(1e-6), "10⁻⁶"},
		{"delta mantissa", fmtDelta(2.5e-7), "2.5\u202f×\u202f10⁻⁷"},
		{"delta zero", fmtDelta(0), "0"},
		{"eps", fmtEps(0.3333333), "0.333"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	r := fixture()
	m := r.Metrics[1]
	m.Partitions[0].Name = "=HYPERLINK(\"http://x\")"
	m.Partitions[1].Name = "a,b \"quoted\"\nline"
	var buf bytes.Buffer
	if err := WriteCSV(&buf, &m); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), 1+len(m.Partitions); got != want {
		t.Fatalf("got %d rows, want %d", got, want)
	}
	if got, want := strings.Join(rows[0], ","), "partition,value,lower,upper,clamped,share,share_lower,share_upper,bucket_lower,bucket_upper,unit,noise_dominated,interval_note,clamp_lower,clamp_upper"; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
	if got, want := rows[1][0], "'=HYPERLINK(\"http://x\")"; got != want {
		t.Errorf("formula cell = %q, want %q", got, want)
	}
	if got, want := rows[2][0], "a,b \"quoted\"\nline"; got != want {
		t.Errorf("quoted cell = %q, want %q", got, want)
	}
	if got, want := rows[6][1], "-37.4"; got != want {
		t.Errorf("negative count = %q, want %q (CSV publishes the released value)", got, want)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
	}{
		{"job with slash", func(r *Report) { r.Job = "a/b" }},
		{"job dotdot", func(r *Report) { r.Job = ".." }},
		{"period with dotdot", func(r *Report) { r.Period = "2026..01" }},
		{"hidden period", func(r *Report) { r.Period = ".tmp" }},
		{"backslash metric", func(r *Report) { r.Metrics[0].Name = `a\b` }},
		{"duplicate metric", func(r *Report) { r.Metrics[1].Name = r.Metrics[0].Name }},
		{"no metrics", func(r *Report) { r.Metrics = nil }},
		{"zero epsilon", func(r *Report) { r.Epsilon = 0 }},
		{"delta one", func(r *Report) { r.Delta = 1 }},
		{"NaN value", func(r *Report) { r.Metrics[0].Partitions[0].Value = nan() }},
		{"unknown kind", func(r *Report) { r.Metrics[0].Kind = "max" }},
		{"unknown display", func(r *Report) { r.Metrics[0].Display = "pie" }},
		{"confidence 1", func(r *Report) { r.Metrics[0].ConfidenceLevel = 1 }},
		{"empty period", func(r *Report) { r.PeriodEnd = r.PeriodStart }},
		{"share above 1", func(r *Report) { r.Metrics[0].Partitions[0].Share = f64(1.2) }},
		{"zero ledger cap", func(r *Report) { r.Ledger.EpsilonCap = 0 }},
		{"infinite all-time ε", func(r *Report) { r.Ledger.EpsilonAllTime = math.Inf(1) }},
		{"negative all-time δ", func(r *Report) { r.Ledger.DeltaAllTime = -1e-9 }},
		{"metric named like report.csv", func(r *Report) { r.Metrics[0].Name = "report" }},
		{"bucket edges reversed", func(r *Report) { r.Metrics[3].Partitions[0].BucketUpper = f64(-1) }},
		{"bucket upper without lower", func(r *Report) { r.Metrics[0].Partitions[0].BucketUpper = f64(5) }},
		{"infinite bucket edge", func(r *Report) { r.Metrics[3].Partitions[0].BucketLower = f64(math.Inf(-1)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fixture()
			tt.mutate(r)
			err := r.Validate()
			if !errors.Is(err, ErrInvalidReport) {
				t.Fatalf("Validate() = %v, want ErrInvalidReport", err)
			}
			var buf bytes.Buffer
			if err := WriteHTML(&buf, r); err == nil || buf.Len() != 0 {
				t.Errorf("WriteHTML wrote %d bytes, err %v; want nothing and an error", buf.Len(), err)
			}
			if err := WriteJSON(&buf, r); err == nil || buf.Len() != 0 {
				t.Errorf("WriteJSON wrote %d bytes, err %v; want nothing and an error", buf.Len(), err)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestAllTimeSpend: report.json and index.html state the ledger's all-time
// spend next to the window's, and say when torn records of unknown size are
// left out of it.
func TestAllTimeSpend(t *testing.T) {
	r := fixture()
	r.Ledger.EpsilonAllTime, r.Ledger.DeltaAllTime, r.Ledger.UnknownAllTime = 41.5, 4e-5, 2
	var page, js bytes.Buffer
	if err := WriteHTML(&page, r); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"all releases in the last 30 days ε = 7 of 10; all time ε = 41.5 and 2 release(s) of unknown size.",
		"spent <strong>ε = 41.5</strong>",
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, want := range []string{`"epsilon_all_time": 41.5`, `"delta_all_time": 0.00004`, `"all_time_unknown_records": 2`} {
		if !strings.Contains(js.String(), want) {
			t.Errorf("report.json lacks %q", want)
		}
	}
}
