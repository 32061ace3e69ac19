package ledger

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestWithheldRecord: a run the quality gate withheld is recorded with
// "withheld":true (the key is written only when true, so older ledgers
// read the same), reads back, survives a torn record, counts in the spend
// and is marked by WriteText.
func TestWithheldRecord(t *testing.T) {
	e := Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Epsilon: 0.01875,
		Metrics: []string{"population:playback_stats"}, Time: t0, Withheld: true}
	line := string(appendRecord(nil, e))
	want := `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":0.01875,"delta":0,"run_id":"r1","rerun":false,"withheld":true,"metrics":["population:playback_stats"]}` + "\n"
	if line != want {
		t.Errorf("appendRecord:\n got %s\nwant %s", line, want)
	}
	back, err := decodeRecord([]byte(strings.TrimSuffix(line, "\n")))
	if err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, e)
	}
	if plain := string(appendRecord(nil, Entry{Job: "j", Period: "p", Time: t0})); strings.Contains(plain, "withheld") {
		t.Errorf("a released entry mentions withheld: %s", plain)
	}
	if torn := salvage([]byte(strings.TrimSuffix(line, `"population:playback_stats"]}`+"\n"))); !torn.Withheld || torn.Epsilon != 0.01875 {
		t.Errorf("salvaged torn record = %+v, want withheld with its ε", torn)
	}
	bad := strings.Replace(line, `"withheld":true`, `"withheld":"yes"`, 1)
	if _, err := decodeRecord([]byte(strings.TrimSuffix(bad, "\n"))); err == nil {
		t.Errorf("decodeRecord accepted withheld = \"yes\"")
	}

	s := Summarize([]Entry{e}, t0, 30*24*time.Hour, "playback-daily")
	if s.Epsilon != 0.01875 {
		t.Errorf("withheld entry counts ε = %v in the window, want 0.01875", s.Epsilon)
	}
	var b strings.Builder
	if err := s.WriteText(&b, Cap{Epsilon: 10, Delta: 1e-5, Window: s.Window}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "2024-04-30 (ε = 0.01875, δ = 0, withheld by the quality gate)") {
		t.Errorf("budget text does not mark the withheld entry:\n%s", b.String())
	}
}
