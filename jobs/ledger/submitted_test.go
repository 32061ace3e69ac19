package ledger

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSubmittedAndOutcomeRecords: the records of an engine that charges at
// submit. The spend record carries "engine" and "submitted"; an outcome
// record of the same run carries "withheld", "engine" and "outcome" and
// charges nothing. Both round-trip, old records read without the keys and
// never write them, a torn record keeps what was written of them, and
// summaries count the spend once and leave the outcome out of the
// releases.
func TestSubmittedAndOutcomeRecords(t *testing.T) {
	spend := Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Epsilon: 0.3, Delta: 1e-9,
		Metrics: []string{"codec_share"}, Time: t0, Engine: "beam", Submitted: true}
	outcome := Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Withheld: true, Outcome: true, Engine: "beam",
		Metrics: []string{"population:playback_stats"}, Time: t0}
	tests := []struct {
		e    Entry
		want string
	}{
		{spend, `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":0.3,"delta":1e-09,"run_id":"r1","rerun":false,"engine":"beam","submitted":true,"metrics":["codec_share"]}`},
		{outcome, `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":0,"delta":0,"run_id":"r1","rerun":false,"withheld":true,"engine":"beam","outcome":true,"metrics":["population:playback_stats"]}`},
	}
	for _, tt := range tests {
		if err := validate(tt.e); err != nil {
			t.Errorf("validate(%+v) = %v", tt.e, err)
		}
		line := string(appendRecord(nil, tt.e))
		if line != tt.want+"\n" {
			t.Errorf("appendRecord:\n got %s\nwant %s", line, tt.want)
		}
		back, err := decodeRecord([]byte(tt.want))
		if err != nil || !reflect.DeepEqual(back, tt.e) {
			t.Errorf("round trip = %+v, %v; want %+v", back, err, tt.e)
		}
	}
	// Records without the keys (every ledger written before them) read as
	// the local engine's, and a local record never writes them.
	old := `{"time":"2024-05-01T02:00:00Z","job":"j","period":"p","epsilon":1,"delta":0,"run_id":"r","rerun":false,"metrics":[]}`
	if e, err := decodeRecord([]byte(old)); err != nil || e.Engine != "" || e.Submitted || e.Outcome {
		t.Errorf("old record = %+v, %v; want the local engine's", e, err)
	}
	if plain := string(appendRecord(nil, Entry{Job: "j", Period: "p", Time: t0})); strings.Contains(plain, "engine") ||
		strings.Contains(plain, "submitted") || strings.Contains(plain, "outcome") {
		t.Errorf("a local record mentions the new keys: %s", plain)
	}
	for _, bad := range []string{`"submitted":"yes"`, `"engine":1`, `"outcome":1`} {
		line := strings.Replace(tests[0].want, `"submitted":true`, bad, 1)
		if _, err := decodeRecord([]byte(line)); err == nil {
			t.Errorf("decodeRecord accepted %s", bad)
		}
	}

	// An outcome record must charge nothing, and is not a spend.
	for _, bad := range []Entry{
		{Job: "j", Period: "p", Time: t0, Outcome: true, Epsilon: 0.1},
		{Job: "j", Period: "p", Time: t0, Outcome: true, Rho: 0.1},
		{Job: "j", Period: "p", Time: t0, Outcome: true, Delta: 1e-9},
		{Job: "j", Period: "p", Time: t0, Outcome: true, Submitted: true},
	} {
		if err := validate(bad); err == nil {
			t.Errorf("validate accepted %+v", bad)
		}
	}

	// Torn: a cut after "submitted":true keeps it with the spend; a cut
	// inside "engine" does not invent the engine; the spend stays charged.
	line := appendRecord(nil, spend)
	at := strings.Index(string(line), `"submitted":true`) + len(`"submitted":true`)
	got := salvage(line[:at+1])
	if !got.Torn || !got.Submitted || got.Engine != "beam" || got.Epsilon != 0.3 || got.RunID != "r1" {
		t.Errorf("cut after submitted: %+v", got)
	}
	at = strings.Index(string(line), `"engine":"be`) + len(`"engine":"be`)
	if got := salvage(line[:at]); got.Engine != "" || got.Submitted || got.Epsilon != 0.3 {
		t.Errorf("cut inside engine: %+v", got)
	}
	// A torn outcome record whose zero ε was not written is charged, like
	// any torn record of unknown size, and counted.
	line = appendRecord(nil, outcome)
	at = strings.Index(string(line), `"epsilon":`) + len(`"epsilon":`)
	tornOutcome := salvage(line[:at])
	if !math.IsInf(tornOutcome.Epsilon, 1) {
		t.Errorf("torn outcome before its ε: %+v, want ε +Inf", tornOutcome)
	}

	window := 30 * 24 * time.Hour
	s := Summarize([]Entry{spend, outcome}, t0, window, "playback-daily")
	if s.Epsilon != 0.3 || s.Delta != 1e-9 || len(s.Releases) != 1 || s.Releases[0].RunID != "r1" || s.Releases[0].Outcome ||
		len(s.Jobs) != 1 || s.Jobs[0].Releases != 1 || s.EpsilonAllTime != 0.3 {
		t.Errorf("Summarize(spend, outcome) = ε %v, δ %v, %d releases, jobs %+v, all time %v; want the spend once",
			s.Epsilon, s.Delta, len(s.Releases), s.Jobs, s.EpsilonAllTime)
	}
	if s := Summarize([]Entry{spend, tornOutcome}, t0, window, ""); s.Unknown != 1 {
		t.Errorf("a torn outcome record is not counted as unknown: %+v", s)
	}

	// Through the file: Append writes both, Released says withheld (the
	// latest record), Spent counts the spend once.
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	f, _, err := Init(path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := f.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Unlock()
	for _, e := range []Entry{spend, outcome} {
		if err := tx.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Append(Entry{Job: "j", Period: "p", Time: t0, Outcome: true, Epsilon: 1}); err == nil {
		t.Error("Append accepted an outcome record that charges")
	}
	if prev, ok := tx.Released("playback-daily", "2024-04-30"); !ok || !prev.Withheld || !prev.Outcome {
		t.Errorf("Released = %+v, %v; want the withheld outcome", prev, ok)
	}
	if eps, delta := tx.Spent(t0, window); eps != 0.3 || delta != 1e-9 {
		t.Errorf("Spent = %v, %v; want 0.3, 1e-9", eps, delta)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("ledger has %d lines, want 2:\n%s", n, data)
	}
}
