package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDurationChannelOnNeighbouringDatasets runs the same release on two
// neighbouring datasets, the shared export and the same plus one heavy user
// (3M events of one account, in the released day), and checks that what
// the run publishes about time cannot tell them apart: the run duration and
// the timestamps in --metrics-textfile, and the time of every log line, are
// whole minutes, and the durations are equal. The heavy user makes the run
// take seconds longer (checked, or the test would prove nothing): with
// durations in seconds, as before, the two runs published 0 and 5.
func TestDurationChannelOnNeighbouringDatasets(t *testing.T) {
	events, consent := genData(t)
	bin := dpstatsBin(t)
	dir := t.TempDir()

	heavy := filepath.Join(dir, "heavy")
	if r := runIn(t, "", nil, bin, "gen", "--users", "1", "--rows", "3000000", "--days", "1",
		"--start", day(0), "--seed", "7", "--out", heavy); r.code != 0 {
		t.Fatalf("gen the heavy user: %s", r)
	}

	type run struct {
		wall     time.Duration
		metrics  map[string]float64
		logTimes []string
	}
	release := func(name string, inputs ...string) run {
		t.Helper()
		led := filepath.Join(dir, name+"-ledger.jsonl")
		if err := os.WriteFile(led, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		prom := filepath.Join(dir, name+".prom")
		p := startBin(t, "run", "--input", strings.Join(inputs, ","), "--consent", consent, "--period", day(0),
			"--out", filepath.Join(dir, name+"-out"), "--ledger", led, "--log-format", "json", "--metrics-textfile", prom)
		<-p.done
		r := p.result(t)
		if !released(r) {
			t.Fatalf("%s: %s", name, r)
		}
		f, err := os.Open(prom)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out := run{wall: p.ended.Sub(p.started), metrics: map[string]float64{}}
		for name, mf := range parseText(t, f) {
			if ms := mf.GetMetric(); len(ms) == 1 && ms[0].GetGauge() != nil {
				out.metrics[name] = ms[0].GetGauge().GetValue()
			}
		}
		for _, rec := range logLines(r.stderr) {
			ts, _ := rec["time"].(string)
			out.logTimes = append(out.logTimes, ts)
		}
		return out
	}

	small := release("dataset", events)
	big := release("dataset-plus-heavy-user", events, filepath.Join(heavy, "events.parquet"))
	t.Logf("wall time: %v without the heavy user, %v with", small.wall, big.wall)
	// The heavy user must make the run measurably longer for the equal
	// durations below to mean anything. How much longer depends on the
	// machine's load and speed, so the test asserts only that it is longer,
	// and separately that every published duration is whole minutes (the
	// rounding that hides the difference, whatever its size).
	if big.wall <= small.wall {
		t.Fatalf("the heavy user did not make the run longer (%v vs %v): this test would show nothing", big.wall, small.wall)
	}
	for _, r := range []run{small, big} {
		if d := r.metrics[metricLastRunDuration]; math.Mod(d, 60) != 0 {
			t.Errorf("published run duration %v s is not whole minutes", d)
		}
	}

	for _, r := range []run{small, big} {
		for _, name := range []string{metricLastRunDuration, metricLastRunTimestamp, metricLastSuccessTimestamp, metricLastReleaseTimestamp} {
			v, ok := r.metrics[name]
			if !ok {
				t.Fatalf("%s is missing from the textfile", name)
			}
			if math.Mod(v, 60) != 0 {
				t.Errorf("%s = %v: not a whole minute", name, v)
			}
		}
		if len(r.logTimes) < 2 {
			t.Fatalf("want at least two log lines, got %d", len(r.logTimes))
		}
		for _, ts := range r.logTimes {
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				t.Fatalf("log time %q: %v", ts, err)
			}
			if !tm.Equal(tm.Truncate(time.Minute)) {
				t.Errorf("log line time %s is finer than a minute", ts)
			}
		}
	}
	if a, b := small.metrics[metricLastRunDuration], big.metrics[metricLastRunDuration]; a != b {
		t.Errorf("published durations differ: %v s without the heavy user, %v s with (wall %v, %v)", a, b, small.wall, big.wall)
	}
	// Whole minutes tell the runs apart only when one crosses a minute
	// boundary that the other does not; say so if it happened here.
	if a, b := small.metrics[metricLastRunTimestamp], big.metrics[metricLastRunTimestamp]; a != b {
		t.Logf("note: the runs finished in different minutes (%v, %v)", fmt.Sprint(a), fmt.Sprint(b))
	}
}
