package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func mib(n float64) int64 { return int64(n * (1 << 20)) }

// res is a result with one floor and one child measurement.
func res(rows, users int64, floorWall, childWall float64, floorRSS, childRSS int64) result {
	return result{
		Size: size{rows, users}, Rows: rows, EventsBytes: rows * 20,
		Floor: []usage{{Wall: sec(floorWall), User: sec(floorWall * 1.1), MaxRSS: floorRSS}},
		Child: []usage{{Wall: sec(childWall), User: sec(childWall * 1.6), Sys: sec(childWall * 0.1), MaxRSS: childRSS}},
	}
}

func TestWriteReportGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  report
	}{
		{"pass", report{
			Bin: "bin/dpstats", Version: "dpstats version v1", Job: "playback-daily", Child: "run", Count: 1,
			Columns: []string{"user_id", "event_time", "device_type"}, NumCPU: 2, HarnessRSS: mib(24), Targets: defaultTargets,
			Results: []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 3.4, mib(140), mib(340))},
		}},
		{"two-metric", report{
			Bin: "bin/dpstats", Version: "dpstats version v1", Job: "device-2metric", Child: "run", Count: 1,
			Columns: []string{"user_id", "event_time", "device_type", "duration_s"}, FloorGoroutines: 2,
			NumCPU: 2, HarnessRSS: mib(24), Targets: jobTargets("device-2metric", defaultTargets),
			Results: []result{res(1e6, 2e5, 0.15, 0.2, mib(90), mib(200)), res(1e7, 2e5, 1.4, 1.9, mib(200), mib(230)),
				res(1e7, 1e6, 1.4, 2.2, mib(200), mib(330)), res(1e7, 2e6, 1.4, 2.5, mib(200), mib(470))},
		}},
		{"fail", func() report {
			r := report{
				Bin: "bin/dpstats", Version: "dpstats version v1", Job: "playback-daily", Child: "run", Count: 3,
				Columns: []string{"user_id"}, Env: []string{"GOGC=200"}, NumCPU: 2, Load: "8.90", HarnessRSS: mib(24), Targets: defaultTargets,
				Results: []result{res(1e6, 2e5, 0.25, 0.6, mib(20), mib(300)), res(1e7, 2e5, 2.5, 6, mib(140), mib(1200))},
			}
			r.Results[1].Floor[0].User = sec(1.4) // 0.56 of a core: a busy machine
			r.Results[1].CPUProfile, r.Results[1].MemProfile = ".cache/bench/10000000-200000/cpu.prof", ".cache/bench/10000000-200000/mem.prof"
			return r
		}()},
		{"100M", report{
			Bin: "bin/dpstats", Version: "dpstats version v1", Job: "playback-daily", Child: "run", Count: 1,
			Columns: []string{"user_id"}, NumCPU: 2, HarnessRSS: mib(24), Targets: defaultTargets,
			Results: []result{res(1e8, 2e6, 25, 48, mib(150), mib(2600))},
		}},
		{"beam-no-targets", report{
			Bin: "bin/dpstats-beam", Version: "dpstats version v1 (engines: local, beam)", Job: "playback-daily", Child: "run", Count: 1,
			Columns: []string{"user_id"}, NumCPU: 2, HarnessRSS: mib(24), Targets: defaultTargets,
			NoTargets: true, RunArgs: []string{"--engine", "beam", "--beam-runner", "direct"},
			Results: []result{res(1e6, 2e5, 0.25, 184, mib(90), mib(8000))},
		}},
		{"stand-in", report{
			Bin: "bin/dpstats", Version: "dpstats version dev", Job: "playback-daily", Child: "inspect", Count: 1,
			Columns: []string{"user_id"}, NumCPU: 2, HarnessRSS: mib(24), Targets: defaultTargets,
			Results: []result{res(1e5, 2e4, 0.07, 0.08, mib(57), mib(76))},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := writeReport(&b, tc.rep); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "report-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("report differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	statuses := func(vs []verdict) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Status)
		}
		return strings.Join(s, " ")
	}
	perUser150 := defaultTargets
	perUser150.MaxBytesPerUser = 150
	// 10M events, 200k → 2M users, 150 B per extra user: 400 MiB + 1.8M × 150 B.
	at150 := mib(400) + 1_800_000*150
	for _, tc := range []struct {
		name    string
		results []result
		targets targets
		want    string
	}{
		{"all met", []result{res(1e6, 2e5, 0.25, 0.35, mib(90), mib(300)), res(1e7, 2e5, 2.5, 3.5, mib(140), mib(439))}, defaultTargets, "PASS PASS PASS"},
		{"ratio just below", []result{res(1e7, 2e5, 2.5, 3.58, mib(140), mib(300))}, defaultTargets, "FAIL PASS SKIP"},
		{"RSS above 1 GiB", []result{res(1e7, 2e5, 2.5, 3, mib(140), mib(1025))}, defaultTargets, "PASS FAIL SKIP"},
		{"RSS exactly 1 GiB", []result{res(1e7, 2e5, 2.5, 3, mib(140), mib(1024))}, defaultTargets, "PASS PASS SKIP"},
		{"memory follows rows", []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 3.5, mib(140), mib(440))}, defaultTargets, "PASS PASS FAIL"},
		{"100M: its own targets", []result{res(1e8, 2e6, 25, 48, mib(150), mib(1536))}, defaultTargets, "PASS PASS SKIP"},
		{"100M above 1.5 GiB, below 0.5", []result{res(1e8, 2e6, 25, 51, mib(150), mib(1537))}, defaultTargets, "FAIL FAIL SKIP"},
		{"main size: most rows of few users, whatever the order", []result{res(1e7, 2e5, 2.5, 3.5, mib(140), mib(400)), res(1e6, 2e5, 0.25, 2, mib(90), mib(2000)), res(1e7, 2e6, 2.5, 25, mib(140), mib(3000))}, defaultTargets, "PASS PASS PASS INFO"},
		{"more users only: INFO for RSS", []result{res(1e7, 2e6, 2.5, 3, mib(140), mib(3000))}, defaultTargets, "PASS INFO SKIP"},
		{"pairs per users", []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 3.5, mib(140), mib(350)), res(1e8, 2e6, 25, 40, mib(150), mib(3000))}, defaultTargets, "PASS PASS PASS FAIL PASS"},
		{"bytes per user at the target", []result{res(1e7, 2e5, 2.5, 3.5, mib(140), mib(400)), res(1e7, 2e6, 2.5, 5, mib(140), at150)}, perUser150, "PASS PASS SKIP PASS"},
		{"bytes per user above the target", []result{res(1e7, 2e5, 2.5, 3.5, mib(140), mib(400)), res(1e7, 2e6, 2.5, 5, mib(140), at150+1_800_000)}, perUser150, "PASS PASS SKIP FAIL"},
		{"bytes per user without a target", []result{res(1e7, 2e5, 2.5, 3.5, mib(140), mib(400)), res(1e7, 2e6, 2.5, 5, mib(140), at150)}, defaultTargets, "PASS PASS SKIP INFO"},
		{"bytes per user needs two sizes", []result{res(1e7, 2e5, 2.5, 3.5, mib(140), mib(400))}, perUser150, "PASS PASS SKIP SKIP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := judge(tc.results, tc.targets, "run")
			if got := statuses(vs); got != tc.want {
				for _, v := range vs {
					t.Log(v.Status, v.Text)
				}
				t.Errorf("verdicts = %s, want %s", got, tc.want)
			}
		})
	}
	if vs := judge(nil, defaultTargets, "run"); vs != nil {
		t.Errorf("judge(nil) = %v", vs)
	}
}

func TestPerUser(t *testing.T) {
	// The most events with two numbers of users: 10M, 200k → 1M (not 1M
	// events, whose slope is different).
	results := []result{
		res(1e6, 2e5, 1, 1, 0, mib(100)), res(1e6, 2e6, 1, 1, 0, mib(1100)),
		res(1e7, 2e5, 1, 1, 0, mib(200)), res(1e7, 1e6, 1, 1, 0, mib(200)+800_000*300),
	}
	c, ok := perUser(results)
	if !ok || c.Rows != 1e7 || c.LoUsers != 2e5 || c.HiUsers != 1e6 || c.Bytes != 300 {
		t.Errorf("perUser = %+v, %v; want 300 B at 10M events, 200k → 1M users", c, ok)
	}
	if _, ok := perUser(results[:1]); ok {
		t.Error("perUser of one size: ok")
	}
	if _, ok := perUser([]result{results[0], results[2]}); ok {
		t.Error("perUser of sizes with the same users: ok")
	}
}

func TestBest(t *testing.T) {
	us := []usage{
		{Wall: sec(3), User: sec(5), MaxRSS: 100},
		{Wall: sec(2), User: sec(4), MaxRSS: 300},
		{Wall: sec(2.5), User: sec(1), MaxRSS: 500},
	}
	b := best(us)
	if b.Wall != sec(2) || b.User != sec(4) || b.MaxRSS != 500 {
		t.Errorf("best = %+v, want the fastest times with the highest RSS", b)
	}
	if b := best(nil); b != (usage{}) {
		t.Errorf("best(nil) = %+v", b)
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{formatBytes(512), "512 B"},
		{formatBytes(2048), "2 KiB"},
		{formatBytes(mib(340)), "340 MiB"},
		{formatBytes(1 << 30), "1.00 GiB"},
		{formatBytes(mib(2600)), "2.54 GiB"},
		{formatRate(999), "999"},
		{formatRate(12_345), "12.3k"},
		{formatRate(2_439_024), "2.44M"},
		{formatRate(41_000_000), "41.0M"},
		{formatRate(410_000_000), "410M"},
		{formatRate(1.2e9), "1.20G"},
		{formatRate(0), "0"},
		{formatSeconds(0.0712), "0.07 s"},
		{formatSeconds(123.4), "123 s"},
		{groupDigits(0), "0"},
		{groupDigits(999), "999"},
		{groupDigits(1000), "1,000"},
		{groupDigits(10_000_000), "10,000,000"},
		{groupDigits(-1234567), "-1,234,567"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseLoadavg(t *testing.T) {
	for in, want := range map[string]string{
		"8.90 7.68 4.33 3/412 11500\n": "8.90",
		"0.00 0.01 0.05 1/80 1":        "0.00",
		"":                             "",
		"x 1 2":                        "",
	} {
		if got := parseLoadavg(in); got != want {
			t.Errorf("parseLoadavg(%q) = %q, want %q", in, got, want)
		}
	}
}
