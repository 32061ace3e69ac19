package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dpstats/dpstats/dp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/explain")

// TestExplainGolden compares Explain's output for the shipped spec and the
// test spec with testdata/explain/<spec>.<ext>. Run with -update to rewrite.
func TestExplainGolden(t *testing.T) {
	specs := map[string]string{
		"playback-daily": "playback-daily.yaml",
		"base":           filepath.Join("testdata", "spec", "base.yaml"),
	}
	formats := map[string]string{"text": "txt", "markdown": "md", "json": "json"}
	for name, path := range specs {
		s, err := LoadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		for format, ext := range formats {
			t.Run(name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Explain(&buf, s, format); err != nil {
					t.Fatalf("Explain: %v", err)
				}
				golden := filepath.Join("testdata", "explain", name+"."+ext)
				if *update {
					if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got := buf.String(); got != string(want) {
					t.Errorf("Explain(%s, %s) differs from %s (run go test -update after checking):\n%s", name, format, golden, firstDiff(got, string(want)))
				}
			})
		}
	}
}

// firstDiff shows the first differing line of got and want.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

func TestExplainJSONIsComplete(t *testing.T) {
	s, err := LoadSpec("playback-daily.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Explain(&buf, s, "json"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Schema           string      `json:"schema"`
		Job              string      `json:"job"`
		Epsilon          float64     `json:"epsilon"`
		ColumnsRead      []string    `json:"columns_read"`
		ForbiddenColumns []string    `json:"forbidden_columns"`
		Statistics       []Statistic `json:"statistics"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got, want := got.Schema, ExplainSchema; got != want {
		t.Errorf("schema = %q, want %q", got, want)
	}
	if got, want := len(got.Statistics), len(s.Metrics)+len(s.ConsentCategories()); got != want {
		t.Fatalf("%d statistics, want %d (every metric is listed, then the quality gate's count per consent category)", got, want)
	}
	if !slices.Equal(got.ColumnsRead, s.AllColumns()) {
		t.Errorf("columns_read = %q, want %q", got.ColumnsRead, s.AllColumns())
	}
	for _, c := range []string{"title", "file_name", "library_path", "client_ip", "server_name", "email"} {
		if !slices.Contains(got.ForbiddenColumns, c) {
			t.Errorf("forbidden_columns lacks %q", c)
		}
	}
	sum := 0.0
	for i, st := range got.Statistics {
		if i >= len(s.Metrics) {
			if want := PopulationPrefix + s.ConsentCategories()[i-len(s.Metrics)]; st.Name != want || st.Kind != KindUsers || len(st.Columns) != 2 || st.Epsilon <= 0 {
				t.Errorf("statistic %d = %+v, want the quality gate's count %s", i, st, want)
			}
			sum += st.Epsilon
			continue
		}
		if st.Name != s.Metrics[i].Name || st.Description == "" || st.Consent == "" || len(st.Columns) < 3 || st.Generalization == "" || st.Bounds == "" {
			t.Errorf("statistic %d incomplete: %+v", i, st)
		}
		sum += st.Epsilon
	}
	if sum > s.Privacy.Epsilon || sum < s.Privacy.Epsilon*(1-1e-9) {
		t.Errorf("statistics' ε add up to %v, want the run's %v", sum, s.Privacy.Epsilon)
	}
}

func TestStatistics(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), map[int]string{13: "  noise: gaussian"}))
	st := s.Statistics()
	tests := []struct {
		name      string
		got, want any
	}{
		{"count measures", st[0].Measures, "number of events per device_type"},
		{"count bounds", st[0].Bounds, "each user adds at most 5 events to each of at most 2 partitions"},
		{"count partitions", strings.Join(st[0].Partitions, ","), "tv,phone,web,other"},
		{"count generalization", st[0].Generalization, `device_type limited to the 3 listed values; any other value counts as "other"; events with no device_type are not counted`},
		{"count has no clamp", st[0].Lower == nil && st[0].Upper == nil, true},
		{"bucket measures", st[1].Measures, "number of events per bitrate_kbps range"},
		{"bucket generalization", st[1].Generalization, `bitrate_kbps grouped into 3 ranges (0–999 kbps, 1000–1999 kbps, ≥ 2000 kbps); exact values are not used; values below 0 kbps count in the first range; events with no bitrate_kbps are not counted`},
		{"bucket bounds", st[1].Bounds, "each user adds at most 1 event to each of at most 1 partition"},
		{"quantile measures", st[2].Measures, "median and 90th percentile of duration_s per media_type"},
		{"quantile generalization", st[2].Generalization, "media_type limited to the 2 listed values; any other value counts as \"other\"; duration_s rounded to the nearest 60 s; duration_s clamped to [0, 14400 s]; events with no media_type or no duration_s are not counted"},
		{"quantile caps-cut ε", math.Abs(st[2].CapsCutEpsilon-0.4*CapsCutFraction) < 1e-12, true},
		{"quantile value-count ε", math.Abs(st[2].ValueCountEpsilon-0.4*(1-CapsCutFraction)*dp.QuantileCountFraction) < 1e-12, true},
		{"quantile clamp", *st[2].Lower == 0 && *st[2].Upper == 14400, true},
		{"quantile columns", strings.Join(st[2].Columns, ","), "user_id,event_time,media_type,duration_s"},
		// Weights 1, 1, 2 and the quality gate's 1: the quantiles get 2/5.
		{"quantile share", st[2].EpsilonShare, 0.4},
		{"quantile delta", st[2].Delta, 0.4e-6},
		{"gate count", st[3].Name + " " + st[3].Measures + ", " + st[3].Bounds, "population:playback_stats number of distinct users in total, each user counted once"},
		{"gate share", st[3].EpsilonShare + st[4].EpsilonShare, 0.2},
		{"gate delta (gaussian)", st[3].Delta + st[4].Delta, 0.2e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestDescribeHelpers(t *testing.T) {
	ranks := map[float64]string{0.5: "median", 0.9: "90th percentile", 0.01: "1st percentile", 0.02: "2nd percentile", 0.03: "3rd percentile", 0.11: "11th percentile", 0.25: "25th percentile", 0.999: "0.999 quantile"}
	for r, want := range ranks {
		if got := rankName(r); got != want {
			t.Errorf("rankName(%g) = %q, want %q", r, got, want)
		}
	}
	users := &Metric{Kind: KindUsers, Dimension: "d", MaxPartitions: 3, MaxPerPartition: 1}
	if got, want := bounds(users), "each user counted in at most 3 partitions, once in each"; got != want {
		t.Errorf("bounds(users) = %q, want %q", got, want)
	}
	total := &Metric{Kind: KindSum, Value: "v", MaxPartitions: 1, MaxPerPartition: 4, Upper: 1}
	if got, want := bounds(total), "each user adds at most 4 values"; got != want {
		t.Errorf("bounds(total sum) = %q, want %q", got, want)
	}
	if got, want := measures(total), "sum of v in total"; got != want {
		t.Errorf("measures(total sum) = %q, want %q", got, want)
	}
	sel := &Metric{Kind: KindCount, Dimension: "country", SelectPartitions: true}
	if got, want := generalization(sel), "country values found in the data, each published only if it passes DP partition selection (enough users share it); events with no country are not counted"; got != want {
		t.Errorf("generalization(select) = %q, want %q", got, want)
	}
	if got, want := generalization(&Metric{Kind: KindCount}), "none: a single total"; got != want {
		t.Errorf("generalization(total) = %q, want %q", got, want)
	}
	if got, want := mdCell("a|b\\c\n d"), `a\|b\\c d`; got != want {
		t.Errorf("mdCell = %q, want %q", got, want)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestExplainErrors(t *testing.T) {
	s := mustParse(t, edit(baseSpec(t), nil))
	invalid := mustParse(t, edit(baseSpec(t), nil))
	invalid.Metrics[0].Weight = -1
	tests := []struct {
		name   string
		w      interface{ Write([]byte) (int, error) }
		s      *Spec
		format string
		want   string
	}{
		{"unknown format", &bytes.Buffer{}, s, "html", `unknown format "html"; want text, markdown or json`},
		{"nil spec", &bytes.Buffer{}, nil, "text", "explain: nil spec"},
		{"invalid spec", &bytes.Buffer{}, invalid, "text", "invalid job spec: job.yaml:28: metrics[0].weight: must be > 0, got -1"},
		{"write error", failingWriter{}, s, "text", "write: pipe closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Explain(tt.w, tt.s, tt.format)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Explain error = %v, want %q", err, tt.want)
			}
		})
	}
}

func ExampleExplain() {
	s, err := ParseSpec("job.yaml", strings.NewReader(`version: 1
name: example
privacy: {epsilon: 1, max_epsilon: 1}
ledger: {cap_epsilon: 10}
metrics:
  - name: resolution_share
    description: Share of playback events by resolution.
    kind: count
    consent: playback_stats
    dimension: resolution
    partitions: [sd, 720p, 1080p, 4k]
    max_partitions: 2
    max_per_partition: 10
`))
	if err != nil {
		panic(err)
	}
	var b bytes.Buffer
	if err := Explain(&b, s, "text"); err != nil {
		panic(err)
	}
	_, tab, _ := strings.Cut(b.String(), "released, nothing else:\n")
	fmt.Print(tab)
	// Output:
	//
	// 1. resolution_share — resolution_share
	//    What:            Share of playback events by resolution.
	//    Computed:        number of events per resolution
	//    Columns read:    user_id, event_time, resolution
	//    Consent:         playback_stats
	//    Partitions:      sd, 720p, 1080p, 4k, other
	//    Generalization:  resolution limited to the 4 listed values; any other
	//                     value counts as "other"; events with no resolution are
	//                     not counted
	//    Bounds:          each user adds at most 10 events to each of at most 2
	//                     partitions
	//    Budget:          ε = 0.5 (50.0% of the run's ε, weight 1), δ = 0; of
	//                     which ε = 0.05 estimates how many users the per-user
	//                     caps cut
	//
	// 2. population:playback_stats — Users counted for playback_stats
	//    What:            Number of distinct users with at least one event in the
	//                     period that counts for consent category playback_stats.
	//                     It is the quality gate: if it is below 2000, nothing is
	//                     published. Users metrics of this category show their
	//                     shares of it.
	//    Computed:        number of distinct users in total
	//    Columns read:    user_id, event_time
	//    Consent:         playback_stats
	//    Partitions:      total
	//    Generalization:  none: a single total
	//    Bounds:          each user counted once
	//    Budget:          ε = 0.5 (50.0% of the run's ε, weight 1), δ = 0
}
