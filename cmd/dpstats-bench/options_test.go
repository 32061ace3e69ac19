package main

import (
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestParseCount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"200000", 200_000, false},
		{"200k", 200_000, false},
		{"200K", 200_000, false},
		{"10M", 10_000_000, false},
		{"1.5M", 1_500_000, false},
		{"2G", 2_000_000_000, false},
		{"10_000_000", 10_000_000, false},
		{" 7 ", 7, false},
		{"0", 0, false},
		{"", 0, true},
		{"k", 0, true},
		{"-5", 0, true},
		{"1.5", 0, true},
		{"1.0000001k", 0, true},
		{"tenM", 0, true},
		{"NaNk", 0, true},
		{"1e300M", 0, true},
	} {
		got, err := parseCount(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseCount(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestCompactCountRoundTrips(t *testing.T) {
	for n, want := range map[int64]string{
		10_000_000: "10M", 200_000: "200k", 1_500_000: "1500k", 1234: "1234",
		100_000_000: "100M", 2_000_000_000: "2G", 0: "0", 1000: "1k",
	} {
		if got := compactCount(n); got != want {
			t.Errorf("compactCount(%d) = %q, want %q", n, got, want)
		}
		if back, err := parseCount(want); err != nil || back != n {
			t.Errorf("parseCount(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("1M:200k, 10000000:200000,100M:2M,")
	if err != nil {
		t.Fatal(err)
	}
	if want := []size{{1e6, 2e5}, {1e7, 2e5}, {1e8, 2e6}}; !reflect.DeepEqual(got, want) {
		t.Errorf("parseSizes = %v, want %v", got, want)
	}
	if got, want := got[2].String(), "100M/2M"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if got, want := got[1].dirName(), "10000000-200000"; got != want {
		t.Errorf("dirName = %q, want %q", got, want)
	}
	for _, bad := range []string{"", ",", "10M", "10M:", ":200k", "0:200k", "10M:0", "1M:200k,1000000:200000", "10M:200k:3"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) succeeded, want an error", bad)
		}
	}
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseArgsDefaults(t *testing.T) {
	o, err := parseArgs(nil, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []size{{1_000_000, 200_000}, {10_000_000, 200_000}, {10_000_000, 1_000_000}, {10_000_000, 2_000_000}}; !reflect.DeepEqual(o.Sizes, want) {
		t.Errorf("Sizes = %v, want %v", o.Sizes, want)
	}
	if want := []benchJob{{"playback-daily", 1}, {"scripts/bench-jobs/device-2metric.yaml", 2}}; !reflect.DeepEqual(o.Jobs, want) {
		t.Errorf("Jobs = %v, want %v", o.Jobs, want)
	}
	if o.Bin != "bin/dpstats" || o.Period != "2026-11-01" || o.Seed != 1 ||
		o.Cache != ".cache/bench" || o.Count != 1 || o.Profile || o.Child != "run" || o.FloorFile != "" {
		t.Errorf("defaults = %+v", o)
	}
	if o.Targets != defaultTargets {
		t.Errorf("Targets = %+v, want %+v", o.Targets, defaultTargets)
	}
}

func TestParseArgsEnvAndFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   func(string) string
		sizes []size
		check func(t *testing.T, o options)
	}{
		{"rows and users", nil, env("DPSTATS_BENCH_ROWS", "5M", "DPSTATS_BENCH_USERS", "50000"),
			[]size{{500_000, 50_000}, {5_000_000, 50_000}, {5_000_000, 250_000}, {5_000_000, 500_000}}, nil},
		{"tiny rows: one size", nil, env("DPSTATS_BENCH_ROWS", "5"), []size{{5, 200_000}}, nil},
		{"sizes win over rows", nil, env("DPSTATS_BENCH_ROWS", "5M", "DPSTATS_BENCH_SIZES", "100M:2M"),
			[]size{{100_000_000, 2_000_000}}, nil},
		{"flag wins over env", []string{"-sizes", "1k:10"}, env("DPSTATS_BENCH_SIZES", "100M:2M"), []size{{1000, 10}}, nil},
		{"run args and no targets", []string{"-sizes", "1M:200k", "-run-args", " --engine beam  --beam-runner direct", "-no-targets"}, env(), []size{{1_000_000, 200_000}},
			func(t *testing.T, o options) {
				if want := []string{"--engine", "beam", "--beam-runner", "direct"}; !reflect.DeepEqual(o.RunArgs, want) || !o.NoTargets {
					t.Errorf("RunArgs = %q, NoTargets = %v; want %q, true", o.RunArgs, o.NoTargets, want)
				}
			}},
		{"jobs from env", nil, env("DPSTATS_BENCH_SIZES", "1k:10", "DPSTATS_BENCH_JOBS", "x.yaml@2, playback-daily"), []size{{1000, 10}},
			func(t *testing.T, o options) {
				if want := []benchJob{{"x.yaml", 2}, {"playback-daily", 1}}; !reflect.DeepEqual(o.Jobs, want) {
					t.Errorf("Jobs = %v, want %v", o.Jobs, want)
				}
			}},
		{"profile, cache, count, child", nil,
			env("DPSTATS_BENCH_PROFILE", "1", "DPSTATS_BENCH_CACHE", "/x", "DPSTATS_BENCH_COUNT", "3", "DPSTATS_BENCH_CHILD", "inspect"),
			[]size{{1_000_000, 200_000}, {10_000_000, 200_000}, {10_000_000, 1_000_000}, {10_000_000, 2_000_000}}, func(t *testing.T, o options) {
				if !o.Profile || o.Cache != "/x" || o.Count != 3 || o.Child != "inspect" {
					t.Errorf("options = %+v", o)
				}
			}},
		{"profile flag off wins", []string{"-profile=false"}, env("DPSTATS_BENCH_PROFILE", "1"),
			[]size{{1_000_000, 200_000}, {10_000_000, 200_000}, {10_000_000, 1_000_000}, {10_000_000, 2_000_000}}, func(t *testing.T, o options) {
				if o.Profile {
					t.Error("Profile = true, want the flag's false")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(tc.args, tc.env, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o.Sizes, tc.sizes) {
				t.Errorf("Sizes = %v, want %v", o.Sizes, tc.sizes)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  func(string) string
		want string
	}{
		{nil, env("DPSTATS_BENCH_ROWS", "lots"), "DPSTATS_BENCH_ROWS"},
		{nil, env("DPSTATS_BENCH_USERS", "-1"), "DPSTATS_BENCH_USERS"},
		{nil, env("DPSTATS_BENCH_COUNT", "x"), "DPSTATS_BENCH_COUNT"},
		{nil, env("DPSTATS_BENCH_PROFILE", "maybe"), "DPSTATS_BENCH_PROFILE"},
		{nil, env("DPSTATS_BENCH_SIZES", "10M"), "rows:users"},
		{[]string{"-count", "0"}, env(), "-count"},
		{[]string{"-child", "demo"}, env(), "-child"},
		{[]string{"extra"}, env(), "unexpected"},
		{[]string{"-floor-scan", "f.parquet"}, env(), "-floor-columns"},
		{[]string{"-nope"}, env(), "not defined"},
		{[]string{"-job", "a@0"}, env(), "1 to 64 goroutines"},
		{[]string{"-job", "a@x"}, env(), "1 to 64 goroutines"},
		{[]string{"-job", "@2"}, env(), "empty spec"},
		{[]string{"-job", "a,a@2"}, env(), "listed twice"},
		{[]string{"-job", " , "}, env(), "no jobs"},
	} {
		_, err := parseArgs(tc.args, tc.env, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseArgs(%q) error = %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestParseArgsFloorChild(t *testing.T) {
	// The floor child needs only its own flags; the sizes are the parent's.
	o, err := parseArgs([]string{"-floor-scan", "e.parquet", "-floor-columns", "user_id,event_time", "-floor-goroutines", "2"}, env("DPSTATS_BENCH_SIZES", "nonsense"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.FloorFile != "e.parquet" || !reflect.DeepEqual(o.FloorColumns, []string{"user_id", "event_time"}) || o.FloorGoroutines != 2 {
		t.Errorf("floor options = %q %q %d", o.FloorFile, o.FloorColumns, o.FloorGoroutines)
	}
}

func TestHelpHidesFloorFlags(t *testing.T) {
	var b strings.Builder
	_, err := parseArgs([]string{"-h"}, env(), &b)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(b.String(), "-sizes") || strings.Contains(b.String(), "floor-") {
		t.Errorf("help:\n%s", b.String())
	}
}
