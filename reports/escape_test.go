package reports

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile puts markup and invalid UTF-8 into every string that reaches the
// page from data or config.
func hostile() *Report {
	const evil = "<script>alert(1)</script>"
	r := fixture()
	r.RunID = evil
	r.ToolVersion = `"><img src=x onerror=alert(1)>`
	r.Noise = evil
	r.Warnings = []string{evil, "bad \xff\xfe utf8"}
	for i := range r.Metrics {
		m := &r.Metrics[i]
		m.Title, m.Description, m.Dimension, m.Unit = evil, evil, evil, "</title><script>x</script>"
		m.ConsentCategory, m.Generalization = evil, `javascript:alert(1)`
		m.Warnings = []string{evil}
		for j := range m.Partitions {
			m.Partitions[j].Name = evil
		}
		m.Partitions[0].Name = "caf\xe9 \xff"
	}
	for i := range r.Collected {
		r.Collected[i].Name, r.Collected[i].Description = evil, evil
		r.Collected[i].Columns = []string{evil}
	}
	return r
}

func TestHTMLEscapesEverything(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, hostile()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// The template itself has no script, no img and no event handlers, so
	// any of these in the output came from the data.
	for _, bad := range []string{"<script", "<img", "</title><", "\xff", "\xfe"} {
		if strings.Contains(out, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile name does not appear as escaped text")
	}
	if !utf8.ValidString(out) {
		t.Error("output is not valid UTF-8")
	}
	if !strings.Contains(out, "caf\uFFFD \uFFFD") {
		t.Error("invalid UTF-8 was not replaced by U+FFFD")
	}
	if got := strings.Count(out, "<svg"); got != 5 {
		t.Errorf("got %d charts, want 5", got)
	}
}

func TestJSONAndCSVSanitizeUTF8(t *testing.T) {
	r := hostile()
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(buf.Bytes()) || strings.Contains(buf.String(), "<script") {
		t.Error("report.json holds invalid UTF-8 or raw markup")
	}
	buf.Reset()
	if err := WriteCSV(&buf, &r.Metrics[0]); err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(buf.Bytes()) {
		t.Error("CSV holds invalid UTF-8")
	}
}

// The page needs nothing from the network: no external URL at all.
func TestHTMLSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fixture()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"http://", "https://", "//cdn", "<link rel=\"stylesheet\"", "@import", "url(", "<script"} {
		if bad == "http://" {
			// the SVG namespace is an identifier, not a fetch
			out2 := strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, "")
			if strings.Contains(out2, bad) {
				t.Errorf("page references %s", bad)
			}
			continue
		}
		if strings.Contains(out, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(out, "Content-Security-Policy") {
		t.Error("page lacks its Content-Security-Policy")
	}
}
