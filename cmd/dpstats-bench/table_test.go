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
			Results: []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 4.1, mib(140), mib(340))},
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
	for _, tc := range []struct {
		name    string
		results []result
		want    string
	}{
		{"all met", []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 4.9, mib(140), mib(439))}, "PASS PASS PASS"},
		{"ratio just below", []result{res(1e7, 2e5, 2.5, 5.01, mib(140), mib(300))}, "FAIL PASS SKIP"},
		{"RSS above 1 GiB", []result{res(1e7, 2e5, 2.5, 3, mib(140), mib(1025))}, "PASS FAIL SKIP"},
		{"RSS exactly 1 GiB", []result{res(1e7, 2e5, 2.5, 3, mib(140), mib(1024))}, "PASS PASS SKIP"},
		{"memory follows rows", []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 4, mib(140), mib(440))}, "PASS PASS FAIL"},
		{"more users: no RSS target", []result{res(1e8, 2e6, 25, 40, mib(150), mib(3000))}, "PASS INFO SKIP"},
		{"largest size is judged, whatever the order", []result{res(1e7, 2e5, 2.5, 4, mib(140), mib(400)), res(1e6, 2e5, 0.25, 2, mib(90), mib(2000))}, "PASS PASS PASS"},
		{"pairs per users", []result{res(1e6, 2e5, 0.25, 0.4, mib(90), mib(300)), res(1e7, 2e5, 2.5, 4, mib(140), mib(350)), res(1e8, 2e6, 25, 40, mib(150), mib(3000))}, "PASS INFO PASS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := judge(tc.results, defaultTargets, "run")
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
