package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options configure one harness run. parseArgs fills them from flags, with
// the DPSTATS_BENCH_* environment variables as defaults.
type options struct {
	// Bin is the dpstats binary under test. Default bin/dpstats.
	Bin string
	// Job is the -job flag as given: the job specs run and explained,
	// comma-separated, each optionally followed by @N, the goroutines of its
	// floor. Default defaultJobs.
	Job string
	// Jobs is Job parsed: each job is measured on every size, against a
	// floor of its own columns.
	Jobs []benchJob
	// Period is the UTC day generated (gen --start, --days 1) and released
	// (run --period). Default 2026-11-01.
	Period string
	// Seed is gen's --seed. Default 1.
	Seed int64
	// Sizes are the (events, users) pairs measured, in the order given.
	// Required (parseArgs supplies 1M:200k,10M:200k).
	Sizes []size
	// Cache is the directory holding one generated export per size.
	// Default .cache/bench.
	Cache string
	// Count is how many times each child is measured per size; the fastest
	// wall time is reported, and the highest peak RSS. Default 1.
	Count int
	// Profile adds --cpuprofile and --memprofile to `dpstats run`.
	Profile bool
	// Child is what is measured against the floor: "run" (the job end to
	// end) or "inspect" (`dpstats inspect FILE`, a stand-in that needs no
	// job runner). Default run.
	Child string
	// ExplainFile, when set, is read instead of running `dpstats explain
	// --format json` to learn the job's columns.
	ExplainFile string
	// Keep keeps each run's temporary output and ledger directory.
	Keep bool
	// Targets are the thresholds of the PASS/FAIL lines.
	Targets targets
	// NoTargets prints the table without PASS/FAIL lines (a measurement
	// the targets are not about, such as the Beam engine's row).
	NoTargets bool
	// RunArgs are more flags for the measured `dpstats run` (for the Beam
	// engine: --engine beam --beam-runner direct).
	RunArgs []string

	// FloorFile, when set, makes this process the floor child: scan this
	// Parquet file's FloorColumns and print the row count, nothing else.
	FloorFile       string
	FloorColumns    []string
	FloorGoroutines int

	// ConsentFile, when set, makes this process the consent child: load
	// this consent export as `dpstats run` does, nothing else.
	ConsentFile string
	// ConsentTarget is the consent load's wall-time target at 2M users.
	ConsentTarget time.Duration
}

// benchJob is one job measured: its spec (a built-in name or a YAML file)
// and how many goroutines its floor scans with.
type benchJob struct {
	Spec  string
	Floor int
}

// defaultJobs are the jobs of issue 13: playback-daily against the
// single-goroutine scan of its columns, and the two-metric job (count and
// mean per device type) against the two-goroutine scan of its columns.
const defaultJobs = "playback-daily@1,scripts/bench-jobs/device-2metric.yaml@2"

// parseJobs parses "spec[@goroutines],...".
func parseJobs(s string) ([]benchJob, error) {
	var out []benchJob
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		j := benchJob{Spec: part, Floor: 1}
		if spec, g, ok := strings.Cut(part, "@"); ok {
			n, err := strconv.Atoi(g)
			if err != nil || n < 1 || n > 64 {
				return nil, fmt.Errorf("job %q: want spec@goroutines with 1 to 64 goroutines", part)
			}
			j = benchJob{Spec: spec, Floor: n}
		}
		if j.Spec == "" {
			return nil, fmt.Errorf("job %q: empty spec", part)
		}
		for _, o := range out {
			if o.Spec == j.Spec {
				return nil, fmt.Errorf("job %q: listed twice", j.Spec)
			}
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no jobs in %q", s)
	}
	return out, nil
}

// targets are the performance targets.
type targets struct {
	MinRatio    float64 // run rows/s ÷ floor rows/s at the main size (most rows below BigRows with ≤ MaxRSSUsers users)
	MaxRSS      int64   // bytes, run peak RSS at the main size ...
	MaxRSSUsers int     // ... which has at most this many users
	RSSGrowth   float64 // RSS(more rows) ≤ RSSGrowth × RSS(fewer rows) + RSSSlack, same users
	RSSSlack    int64   // bytes
	// Sizes of at least BigRows events (the opt-in 100M / 2M users) must
	// reach BigMinRatio within BigMaxRSS.
	BigRows     int64
	BigMinRatio float64
	BigMaxRSS   int64
	// MaxBytesPerUser bounds the peak RSS each extra user costs, between
	// the fewest and the most users measured at the same events; 0: only
	// printed.
	MaxBytesPerUser int64
}

var defaultTargets = targets{
	MinRatio:    0.70,
	MaxRSS:      1 << 30,
	MaxRSSUsers: 200_000,
	RSSGrowth:   1.25,
	RSSSlack:    64 << 20,
	BigRows:     100_000_000,
	BigMinRatio: 0.50,
	BigMaxRSS:   3 << 29, // 1.5 GiB
}

// jobTargets are the targets of one job: the defaults, with issue 13's
// bytes per extra user for the two jobs it names.
func jobTargets(job string, t targets) targets {
	switch job {
	case "playback-daily":
		t.MaxBytesPerUser = 400
	case "device-2metric":
		t.MaxBytesPerUser = 150
	}
	return t
}

// hiddenFlags are the floor child's flags, left out of -help.
var hiddenFlags = map[string]bool{"floor-scan": true, "floor-columns": true, "floor-goroutines": true}

// parseArgs parses the command line; getenv supplies the defaults. It
// returns flag.ErrHelp after printing the usage for -h.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	o := options{Targets: defaultTargets}
	fs := flag.NewFlagSet("dpstats-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: dpstats-bench [flags]\n\n"+
			"Measures `dpstats run` against a bare Parquet scan of the same columns\n"+
			"on generated data (see the package comment, or scripts/bench.sh).\n\nflags:\n")
		fs.VisitAll(func(f *flag.Flag) {
			if hiddenFlags[f.Name] {
				return
			}
			fmt.Fprintf(stderr, "  -%s\t%s (default %q)\n", f.Name, f.Usage, f.DefValue)
		})
	}
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}

	defSizes, err := defaultSizes(env("DPSTATS_BENCH_ROWS", "10000000"), env("DPSTATS_BENCH_USERS", "200000"))
	if err != nil {
		return o, err
	}
	defCount, err := strconv.Atoi(env("DPSTATS_BENCH_COUNT", "1"))
	if err != nil {
		return o, fmt.Errorf("DPSTATS_BENCH_COUNT=%q: want a whole number", getenv("DPSTATS_BENCH_COUNT"))
	}
	defProfile, err := parseBool(env("DPSTATS_BENCH_PROFILE", "0"))
	if err != nil {
		return o, fmt.Errorf("DPSTATS_BENCH_PROFILE: %w", err)
	}

	var sizes, floorCols string
	fs.StringVar(&o.Bin, "bin", "bin/dpstats", "the dpstats binary to measure")
	fs.StringVar(&o.Job, "job", env("DPSTATS_BENCH_JOBS", defaultJobs), "the job specs to run and explain, comma-separated, each with @N: its floor scans on N goroutines [$DPSTATS_BENCH_JOBS]")
	fs.StringVar(&o.Period, "period", "2026-11-01", "the UTC day generated and released")
	fs.Int64Var(&o.Seed, "seed", 1, "gen --seed")
	fs.StringVar(&sizes, "sizes", env("DPSTATS_BENCH_SIZES", formatSizes(defSizes)), "sizes to measure, rows:users,... with k/M/G suffixes [$DPSTATS_BENCH_SIZES, or $DPSTATS_BENCH_ROWS/10 and $DPSTATS_BENCH_ROWS rows of $DPSTATS_BENCH_USERS users, and $DPSTATS_BENCH_ROWS rows of 5× and 10× the users]")
	fs.StringVar(&o.Cache, "cache", env("DPSTATS_BENCH_CACHE", ".cache/bench"), "directory for the generated data, one subdirectory per size [$DPSTATS_BENCH_CACHE]")
	fs.IntVar(&o.Count, "count", defCount, "measurements per child and size; the fastest is shown [$DPSTATS_BENCH_COUNT]")
	fs.BoolVar(&o.Profile, "profile", defProfile, "run with --cpuprofile and --memprofile into the size's cache directory [$DPSTATS_BENCH_PROFILE=1]")
	fs.StringVar(&o.Child, "child", env("DPSTATS_BENCH_CHILD", "run"), "what to measure against the floor: run, or inspect (a stand-in) [$DPSTATS_BENCH_CHILD]")
	fs.StringVar(&o.ExplainFile, "explain", "", "read the job's explain JSON from this file instead of running `dpstats explain`")
	fs.BoolVar(&o.Keep, "keep", false, "keep each run's temporary output and ledger")
	fs.BoolVar(&o.NoTargets, "no-targets", false, "print the table without PASS/FAIL lines")
	var runArgs string
	fs.StringVar(&runArgs, "run-args", "", "more flags for the measured `dpstats run`, space-separated (e.g. \"--engine beam --beam-runner direct\")")
	fs.StringVar(&o.FloorFile, "floor-scan", "", "floor child: scan this Parquet file")
	fs.StringVar(&floorCols, "floor-columns", "", "floor child: the comma-separated columns to project")
	fs.IntVar(&o.FloorGoroutines, "floor-goroutines", 1, "floor child: goroutines scanning row groups")
	fs.StringVar(&o.ConsentFile, "consent-load", "", "consent child: load this consent export")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.ConsentTarget = 300 * time.Millisecond
	if o.ConsentFile != "" {
		return o, nil
	}
	if runArgs != "" {
		o.RunArgs = strings.Fields(runArgs)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.FloorFile != "" {
		if floorCols == "" {
			return o, fmt.Errorf("-floor-scan needs -floor-columns")
		}
		o.FloorColumns = strings.Split(floorCols, ",")
		return o, nil
	}
	if o.Sizes, err = parseSizes(sizes); err != nil {
		return o, err
	}
	if o.Jobs, err = parseJobs(o.Job); err != nil {
		return o, err
	}
	if o.Count < 1 {
		return o, fmt.Errorf("-count %d: want at least 1", o.Count)
	}
	if o.Child != "run" && o.Child != "inspect" {
		return o, fmt.Errorf("-child %q: want run or inspect", o.Child)
	}
	return o, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q: want 1 or 0", s)
}

// size is one generated export: its events and its users.
type size struct {
	Rows  int64
	Users int64
}

// String is the compact label used in the table and in errors, e.g.
// "10M/200k".
func (s size) String() string { return compactCount(s.Rows) + "/" + compactCount(s.Users) }

// dirName is the size's cache directory name, e.g. "10000000-200000".
func (s size) dirName() string { return fmt.Sprintf("%d-%d", s.Rows, s.Users) }

// defaultSizes are rows/10 and rows events of users users (the pair that
// shows whether memory follows users or rows), then rows events of 5 and 10
// times the users (what each extra user costs).
func defaultSizes(rows, users string) ([]size, error) {
	r, err := parseCount(rows)
	if err != nil {
		return nil, fmt.Errorf("DPSTATS_BENCH_ROWS: %w", err)
	}
	u, err := parseCount(users)
	if err != nil {
		return nil, fmt.Errorf("DPSTATS_BENCH_USERS: %w", err)
	}
	if r/10 < 1 {
		return []size{{r, u}}, nil
	}
	return []size{{r / 10, u}, {r, u}, {r, 5 * u}, {r, 10 * u}}, nil
}

// parseSizes parses "rows:users,rows:users", e.g. "1M:200k,10M:200k" or
// "100000000:2000000". Duplicates are an error.
func parseSizes(s string) ([]size, error) {
	var out []size
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		rs, us, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("size %q: want rows:users, e.g. 10M:200k", part)
		}
		r, err := parseCount(rs)
		if err != nil {
			return nil, fmt.Errorf("size %q: rows: %w", part, err)
		}
		u, err := parseCount(us)
		if err != nil {
			return nil, fmt.Errorf("size %q: users: %w", part, err)
		}
		if r < 1 || u < 1 {
			return nil, fmt.Errorf("size %q: rows and users must be at least 1", part)
		}
		sz := size{r, u}
		if slices.Contains(out, sz) {
			return nil, fmt.Errorf("size %q: listed twice", part)
		}
		out = append(out, sz)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes in %q: want rows:users,..., e.g. 1M:200k,10M:200k", s)
	}
	return out, nil
}

func formatSizes(sizes []size) string {
	parts := make([]string, len(sizes))
	for i, s := range sizes {
		parts[i] = compactCount(s.Rows) + ":" + compactCount(s.Users)
	}
	return strings.Join(parts, ",")
}

// parseCount parses a whole number with an optional decimal suffix k, M or
// G (case-insensitive) and optional _ separators: "200k", "1.5M", "10_000".
func parseCount(s string) (int64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	mult := 1.0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	if mult == 1 {
		v, err := strconv.ParseInt(t, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%q: want a whole number like 200000 or 200k", s)
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	v := f * mult
	if err != nil || v < 0 || v != float64(int64(v)) || v > 1e15 {
		return 0, fmt.Errorf("%q: want a whole number like 200000 or 200k", s)
	}
	return int64(v), nil
}

// compactCount is the inverse of parseCount for round numbers: 10000000 →
// "10M", 200000 → "200k", 1500000 → "1500k", 1234 → "1234".
func compactCount(n int64) string {
	switch {
	case n != 0 && n%1_000_000_000 == 0:
		return strconv.FormatInt(n/1_000_000_000, 10) + "G"
	case n != 0 && n%1_000_000 == 0:
		return strconv.FormatInt(n/1_000_000, 10) + "M"
	case n != 0 && n%1_000 == 0:
		return strconv.FormatInt(n/1_000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}
