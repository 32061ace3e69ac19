package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/dpstats/dpstats/datasets"
)

// writeInput writes an in-memory input to dir/name and returns it as a file
// input.
func writeInput(t *testing.T, dir, name string, in datasets.Input) string {
	t.Helper()
	data := make([]byte, in.Size)
	if _, err := in.Data.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunReadsEachFileOnce names the same events and consent files in
// several spellings: the release equals the one over each file named once
// (at a huge ε, with the test-only bounding seed: within the noise, see
// exactSpec), and the log names every spelling dropped.
func TestRunReadsEachFileOnce(t *testing.T) {
	evs, gs := population(300)
	dir := t.TempDir()
	t.Chdir(dir)
	ev := writeInput(t, dir, "events.parquet", eventsFile(t, evs))
	co := writeInput(t, dir, "consent.parquet", consentFile(t, gs))
	if err := os.Symlink(ev, filepath.Join(dir, "events-link.parquet")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(co, filepath.Join(dir, "consent-hard.parquet")); err != nil {
		t.Fatal(err)
	}
	files := func(paths ...string) []datasets.Input {
		var in []datasets.Input
		for _, p := range paths {
			in = append(in, datasets.Input{Name: p})
		}
		return in
	}
	run := func(events, consent []datasets.Input) (map[string]map[string]float64, *harness) {
		h := newHarness(t)
		cfg := h.config(exactSpec(t), events, consent)
		seed := int64(5)
		cfg.Seed = &seed
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(h.entries()); n != 1 {
			t.Errorf("ledger has %d entries, want 1", n)
		}
		_, v := readReport(t, res.Dir)
		return v, h
	}
	once, _ := run(files(ev), files(co))
	twice, h := run(
		files("events.parquet", ev, "events-link.parquet", "../"+filepath.Base(dir)+"/events.parquet"),
		files(co, "consent-hard.parquet", "consent.parquet"))
	for m, parts := range once {
		tol := 0.02 // two counts' noise, see exactSpec
		if m == "mean_duration" {
			tol = 0.5
		}
		for p, w := range parts {
			if g := twice[m][p]; math.Abs(g-w) > tol {
				t.Errorf("%s[%s] = %v with the files named several times, %v named once", m, p, g, w)
			}
		}
	}
	if once["device_share"]["tv"] < 10 {
		t.Fatalf("device_share[tv] = %v: too few events for the comparison to mean anything", once["device_share"]["tv"])
	}
	var dropped []string
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] != "input named more than once: reading it once" {
			continue
		}
		for k := range rec {
			switch k {
			case "time", "level", "msg", "job", "period", "run_id", "inputs", "path", "same_file_as":
			default:
				t.Errorf("the duplicate warning has key %q: paths only", k)
			}
		}
		dropped = append(dropped, rec["inputs"].(string)+" "+rec["path"].(string)+" = "+rec["same_file_as"].(string))
	}
	want := []string{
		"events " + ev + " = events.parquet",
		"events events-link.parquet = events.parquet",
		"events ../" + filepath.Base(dir) + "/events.parquet = events.parquet",
		"consent consent-hard.parquet = " + co,
		"consent consent.parquet = " + co,
	}
	if strings.Join(dropped, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged duplicates:\n%s\nwant:\n%s", strings.Join(dropped, "\n"), strings.Join(want, "\n"))
	}
}

// intEventsFile is eventsFile with int64 user ids (the users' numbers).
func intEventsFile(t testing.TB, name string, ids []int64) datasets.Input {
	t.Helper()
	ts := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	data := writeParquet(t, []arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "event_time", Type: ts, Nullable: true},
		{Name: "device_type", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "video_codec", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bitrate_kbps", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "duration_s", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	}, func(bs []array.Builder) {
		for _, id := range ids {
			bs[0].(*array.Int64Builder).Append(id)
			bs[1].(*array.TimestampBuilder).Append(arrow.Timestamp(day.Add(time.Hour).UnixMicro()))
			appendStr(bs[2], "tv")
			appendStr(bs[3], "h264")
			appendInt(bs[4], 100)
			appendInt(bs[5], 60)
		}
	})
	return datasets.BytesInput(name, data)
}

// intConsentFile grants both categories to ids, with int64 user ids.
func intConsentFile(t testing.TB, name string, ids []int64) datasets.Input {
	t.Helper()
	data := writeParquet(t, []arrow.Field{
		{Name: "user_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "category", Type: arrow.BinaryTypes.String},
		{Name: "granted", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "updated_at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	}, func(bs []array.Builder) {
		for _, id := range ids {
			for _, c := range []string{"product_usage", "playback_stats"} {
				bs[0].(*array.Int64Builder).Append(id)
				bs[1].(*array.StringBuilder).Append(c)
				bs[2].(*array.BooleanBuilder).Append(true)
				bs[3].(*array.TimestampBuilder).Append(arrow.Timestamp(day.Add(-time.Hour).UnixMicro()))
			}
		}
	})
	return datasets.BytesInput(name, data)
}

// TestRunUserIDTypesMustAgree: events and consent whose user-id columns
// hold different kinds of value are refused from their schemas, before any
// row is read or anything spent; the same kind on both sides runs.
func TestRunUserIDTypesMustAgree(t *testing.T) {
	evs, gs := population(20)
	ids := []int64{1, 2, 3}
	strEvents := func(t *testing.T) datasets.Input { return eventsFile(t, evs) }
	strConsent := func(t *testing.T) datasets.Input { return consentFile(t, gs) }
	intEvents := func(t *testing.T) datasets.Input { return intEventsFile(t, "int-events.parquet", ids) }
	intConsent := func(t *testing.T) datasets.Input { return intConsentFile(t, "int-consent.parquet", ids) }
	tests := []struct {
		name            string
		events, consent func(t *testing.T) []datasets.Input
		refused         bool
		names           []string // the error must name these
	}{
		{"int events, string consent", func(t *testing.T) []datasets.Input { return []datasets.Input{intEvents(t)} },
			func(t *testing.T) []datasets.Input { return []datasets.Input{strConsent(t)} },
			true, []string{"int-events.parquet", "consent.parquet", "user_id", "integer (int64)", "string (utf8)"}},
		{"string events, int consent", func(t *testing.T) []datasets.Input { return []datasets.Input{strEvents(t)} },
			func(t *testing.T) []datasets.Input { return []datasets.Input{intConsent(t)} },
			true, []string{"events.parquet", "int-consent.parquet", "user_id", "integer (int64)", "string (utf8)"}},
		{"one int events file among string ones", func(t *testing.T) []datasets.Input {
			return []datasets.Input{strEvents(t), intEvents(t)}
		}, func(t *testing.T) []datasets.Input { return []datasets.Input{strConsent(t)} },
			true, []string{"int-events.parquet", "consent.parquet"}},
		{"int on both sides", func(t *testing.T) []datasets.Input { return []datasets.Input{intEvents(t)} },
			func(t *testing.T) []datasets.Input { return []datasets.Input{intConsent(t)} }, false, nil},
		{"string on both sides", func(t *testing.T) []datasets.Input { return []datasets.Input{strEvents(t)} },
			func(t *testing.T) []datasets.Input { return []datasets.Input{strConsent(t)} }, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := Run(context.Background(), h.config(specWith(t, 1, 10), tt.events(t), tt.consent(t)))
			if !tt.refused {
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != StatusReleased {
					t.Errorf("Status = %q", res.Status)
				}
				return
			}
			var ie *datasets.InputError
			if !errors.As(err, &ie) || !errors.Is(err, datasets.ErrColumnType) {
				t.Fatalf("Run = %+v, %v; want an *InputError wrapping ErrColumnType", res, err)
			}
			for _, s := range tt.names {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not name %q: %v", s, err)
				}
			}
			if n := len(h.entries()); n != 0 {
				t.Errorf("a refused run left %d ledger entries", n)
			}
			if entries, _ := os.ReadDir(filepath.Join(h.out, "run-test")); len(entries) > 0 {
				t.Errorf("a refused run left %d entries in the output", len(entries))
			}
			if strings.Contains(h.logs.String(), "run started") {
				t.Errorf("the run started before refusing: %s", h.logs.String())
			}
		})
	}
}
