package ledger

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

func TestAppendRecordFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Entry
		want string
	}{
		{
			name: "typical",
			e: Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Epsilon: 1, Delta: 1e-9,
				Metrics: []string{"codec_share", "device_share"}, Time: t0},
			want: `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":1,"delta":1e-09,"run_id":"r1","rerun":false,"metrics":["codec_share","device_share"]}` + "\n",
		},
		{
			name: "exact floats, UTC, rerun, no metrics",
			e: Entry{Job: "j", Period: "p", Epsilon: 0.1, Delta: 1.0 / 3, Rerun: true,
				Time: time.Date(2024, 5, 1, 4, 0, 0, 123, time.FixedZone("x", 2*3600))},
			want: `{"time":"2024-05-01T02:00:00.000000123Z","job":"j","period":"p","epsilon":0.1,"delta":0.3333333333333333,"run_id":"","rerun":true,"metrics":[]}` + "\n",
		},
		{
			name: "withheld by the quality gate",
			e:    Entry{Job: "j", Period: "p", RunID: "r9", Epsilon: 0.05, Withheld: true, Metrics: []string{"gate"}, Time: t0},
			want: `{"time":"2024-05-01T02:00:00Z","job":"j","period":"p","epsilon":0.05,"delta":0,"run_id":"r9","rerun":false,"withheld":true,"metrics":["gate"]}` + "\n",
		},
		{
			name: "names are escaped but readable",
			e:    Entry{Job: "a<b>&\"c\"\n", Period: "é", Epsilon: 2.5e-7, Time: t0},
			want: `{"time":"2024-05-01T02:00:00Z","job":"a<b>&\"c\"\n","period":"é","epsilon":2.5e-07,"delta":0,"run_id":"","rerun":false,"metrics":[]}` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendRecord(nil, tc.e))
			if got != tc.want {
				t.Errorf("appendRecord:\n got %s\nwant %s", got, tc.want)
			}
			if strings.Count(got, "\n") != 1 {
				t.Errorf("record is not one line: %q", got)
			}
			back, err := decodeRecord([]byte(strings.TrimSuffix(got, "\n")))
			if err != nil {
				t.Fatalf("decodeRecord: %v", err)
			}
			want := tc.e
			want.Time = want.Time.UTC()
			if want.Metrics == nil {
				want.Metrics = []string{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	rec := func(job string, eps float64) string {
		return strings.TrimSuffix(string(appendRecord(nil, Entry{Job: job, Period: "p", Epsilon: eps, Delta: 1e-9, Time: t0})), "\n")
	}
	full := rec("a", 1.25)
	mtime := t0.Add(time.Hour)
	type want struct {
		job     string
		eps     float64
		delta   float64
		time    time.Time
		torn    bool
		unknown bool
	}
	for _, tc := range []struct {
		name        string
		data        string
		want        []want
		corruptLine int // 0: no error
	}{
		{name: "empty", data: ""},
		{name: "two records", data: full + "\n" + rec("b", 2) + "\n",
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"b", 2, 1e-9, t0, false, false}}},
		{name: "whole last record without newline", data: full + "\n" + rec("b", 2),
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"b", 2, 1e-9, t0, true, false}}},
		{name: "torn after delta: salvaged", data: full + "\n" + rec("b", 2)[:len(full)-30],
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"b", 2, 1e-9, t0, true, false}}},
		{name: "torn inside epsilon: unknown, time salvaged", data: full + "\n" + full[:strings.Index(full, "1.25")+3],
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"a", math.Inf(1), math.Inf(1), t0, true, true}}},
		{name: "torn inside time: unknown at mtime", data: full + "\n" + full[:15],
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"", math.Inf(1), math.Inf(1), mtime, true, true}}},
		{name: "torn record is just a brace", data: "{",
			want: []want{{"", math.Inf(1), math.Inf(1), mtime, true, true}}},
		{name: "NUL padding after power loss", data: full + "\n" + full[:40] + "\x00\x00\x00\x00", // job "a" lacks its comma
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"", math.Inf(1), math.Inf(1), t0, true, true}}},
		{name: "only NULs", data: full + "\n\x00\x00\x00",
			want: []want{{"a", 1.25, 1e-9, t0, false, false}, {"", math.Inf(1), math.Inf(1), mtime, true, true}}},
		{name: "torn record ended by a later append: time of the later record",
			data: full[:15] + "\n" + rec("b", 2) + "\n",
			want: []want{{"", math.Inf(1), math.Inf(1), t0, true, true}, {"b", 2, 1e-9, t0, false, false}}},
		{name: "corrupt middle line", data: full + "\n" + "garbage\n" + full + "\n", corruptLine: 2},
		{name: "corrupt last line without newline", data: full + "\n" + "}{", corruptLine: 2},
		{name: "bit flip in a number", data: strings.Replace(full, "1.25", "1.2x", 1) + "\n", corruptLine: 1},
		{name: "blank line", data: full + "\n\n" + full + "\n", corruptLine: 2},
		{name: "unknown key", data: strings.Replace(full, `"job"`, `"jobs"`, 1) + "\n", corruptLine: 1},
		{name: "missing epsilon", data: strings.Replace(full, `"epsilon":1.25,`, "", 1) + "\n", corruptLine: 1},
		{name: "negative epsilon", data: strings.Replace(full, `1.25`, `-1`, 1) + "\n", corruptLine: 1},
		{name: "delta above one", data: strings.Replace(full, `1e-09`, `2`, 1) + "\n", corruptLine: 1},
		{name: "bad time", data: strings.Replace(full, `2024-05-01T02:00:00Z`, `yesterday`, 1) + "\n", corruptLine: 1},
		{name: "two objects on a line", data: full + full + "\n", corruptLine: 1},
		{name: "null job", data: strings.Replace(full, `"a"`, `null`, 1) + "\n", corruptLine: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse([]byte(tc.data), mtime, "ledger.jsonl")
			if tc.corruptLine != 0 {
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("parse error = %v, want a *CorruptError", err)
				}
				if got, want := ce.Line, tc.corruptLine; got != want {
					t.Errorf("corrupt line = %d, want %d (%v)", got, want, err)
				}
				if !strings.Contains(err.Error(), "ledger.jsonl:") {
					t.Errorf("error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got, want := len(got), len(tc.want); got != want {
				t.Fatalf("got %d entries, want %d: %+v", got, want, got)
			}
			for i, w := range tc.want {
				e := got[i]
				if e.Job != w.job || e.Epsilon != w.eps || e.Delta != w.delta || !e.Time.Equal(w.time) ||
					e.Torn != w.torn || e.Unknown() != w.unknown || e.Line != i+1 {
					t.Errorf("entry %d = %+v (unknown %v), want %+v", i, e, e.Unknown(), w)
				}
			}
		})
	}
}

// TestSalvageNeverReadsCutNumbers cuts a record at every byte and checks that
// whatever is salvaged is exactly what was written, never a cut value.
func TestSalvageNeverReadsCutNumbers(t *testing.T) {
	e := Entry{Job: "job", Period: "2024-04-30", RunID: "r", Epsilon: 1.2345, Delta: 1.5e-9, Time: t0, Metrics: []string{"m"}}
	line := appendRecord(nil, e)
	for n := 1; n < len(line)-1; n++ {
		got, err := parse(line[:n], t0.Add(time.Hour), "")
		if err != nil {
			t.Fatalf("cut at %d: %v", n, err)
		}
		if len(got) != 1 || !got[0].Torn {
			t.Fatalf("cut at %d: got %+v, want one torn entry", n, got)
		}
		g := got[0]
		if !isInf(g.Epsilon) && g.Epsilon != e.Epsilon {
			t.Errorf("cut at %d: epsilon %v, want %v or unknown", n, g.Epsilon, e.Epsilon)
		}
		if !isInf(g.Delta) && g.Delta != e.Delta {
			t.Errorf("cut at %d: delta %v, want %v or unknown", n, g.Delta, e.Delta)
		}
		if g.Job != "" && g.Job != e.Job || g.Period != "" && g.Period != e.Period {
			t.Errorf("cut at %d: job/period %q/%q", n, g.Job, g.Period)
		}
		if g.Time.Before(e.Time) {
			t.Errorf("cut at %d: time %v before the record's %v", n, g.Time, e.Time)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(string(appendRecord(nil, Entry{Job: "j", Period: "p", Epsilon: 1, Delta: 1e-9, Time: t0})))
	f.Add("{\"time\":\"2024")
	f.Add("\x00\x00")
	f.Add(string(appendRecord(nil, Entry{Job: "j", Period: "p", Rho: 0.05, Time: t0})))
	f.Fuzz(func(t *testing.T, data string) {
		entries, err := parse([]byte(data), t0, "")
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		for _, e := range entries {
			if e.Time.IsZero() {
				t.Fatalf("entry without time: %+v", e)
			}
			if !e.Torn && (isInf(e.Epsilon) || isInf(e.Delta) || isInf(e.Rho) || e.Epsilon < 0 || e.Delta < 0 || e.Rho < 0 || (e.Rho > 0 && e.Epsilon != 0)) {
				t.Fatalf("bad spend in a whole record: %+v", e)
			}
		}
	})
}

// FuzzRoundTrip checks that every entry Append accepts is written as one
// line that reads back as the same entry.
func FuzzRoundTrip(f *testing.F) {
	f.Add("playback-daily", "2024-04-30", "r1", "codec_share", 1.0, 1e-9, int64(0), true)
	f.Add("a\nb", "\u2028", "\"", "<&>", 0.1, 0.0, int64(-1), false)
	f.Fuzz(func(t *testing.T, job, period, runID, metric string, eps, delta float64, nanos int64, rerun bool) {
		e := Entry{Job: job, Period: period, RunID: runID, Metrics: []string{metric}, Epsilon: eps, Delta: delta,
			Time: t0.Add(time.Duration(nanos)), Rerun: rerun}
		if validate(e) != nil {
			return
		}
		line := appendRecord(nil, e)
		if n := strings.Count(string(line), "\n"); n != 1 {
			t.Fatalf("record has %d newlines: %q", n, line)
		}
		got, err := decodeRecord(line[:len(line)-1])
		if err != nil {
			t.Fatalf("decodeRecord(%q): %v", line, err)
		}
		e.Epsilon += 0
		e.Delta += 0
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
	})
}

// TestSalvageWithheld: a torn record cut after "withheld":true, keeps it, so
// that a retry of a period the quality gate withheld is not taken for a
// missing report; cut inside it, it is not invented.
func TestSalvageWithheld(t *testing.T) {
	line := appendRecord(nil, Entry{Job: "j", Period: "p", RunID: "r", Epsilon: 0.05, Withheld: true, Metrics: []string{"m"}, Time: t0})
	at := strings.Index(string(line), `"withheld":true`) + len(`"withheld":true`)
	for n, want := range map[int]bool{at + 1: true, at - 1: false} {
		got, err := parse(line[:n], t0, "")
		if err != nil || len(got) != 1 || !got[0].Torn {
			t.Fatalf("cut at %d: %+v, %v", n, got, err)
		}
		if got[0].Withheld != want || got[0].RunID != "r" {
			t.Errorf("cut at %d: withheld %v, run %q; want %v, r", n, got[0].Withheld, got[0].RunID, want)
		}
	}
}
