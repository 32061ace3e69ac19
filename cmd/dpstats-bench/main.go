// Command dpstats-bench is dpstats' performance harness, the program behind
// `make bench` (scripts/bench.sh). It is an operator's tool: it prints exact
// row counts of synthetic data, which dpstats itself never does.
//
// For each size (events, users) it generates a synthetic export once with
// `dpstats gen` into a cache directory, then measures each job (-job: by
// default playback-daily and the two-metric job of issue 13,
// scripts/bench-jobs/device-2metric.yaml), side by side on the same file:
//
//   - the floor: a bare arrow-go pqarrow scan of exactly the columns the job
//     reads (the union of the "columns" of every statistic printed by
//     `dpstats explain --job JOB --format json`), on the job's number of
//     goroutines (row groups split among them), 64k-row batches, doing
//     nothing with the records;
//   - `dpstats run` of the job end to end (read, consent, generalize, bound,
//     aggregate, release, publish), with a fresh ledger and output directory
//     every time.
//
// Each runs as a child process (the floor is this program re-executing
// itself with a hidden flag), so its wall time, CPU time and peak RSS
// (getrusage's ru_maxrss, read from the OS when the child exits) are its
// own. The rows of a size are the events file's row count from its Parquet
// footer. It prints, per job, a table of rows/s, the run/floor ratio, peak
// RSS and CPU/wall per size, the peak RSS per extra user, then a PASS/FAIL
// line per target:
//
//   - run/floor ≥ 0.70 at the main size (the most events of ≤ 200k users);
//   - run peak RSS ≤ 1 GiB at the main size;
//   - memory follows users, not rows: for two sizes with the same users,
//     RSS(more rows) ≤ 1.25 × RSS(fewer rows) + 64 MiB;
//   - bytes of peak RSS per extra user, between the fewest and the most
//     users at the same events: ≤ 400 B for playback-daily, ≤ 150 B for the
//     two-metric job;
//   - at ≥ 100M events (opt-in): run/floor ≥ 0.50, peak RSS ≤ 1.5 GiB;
//   - the consent export of the size with the most users, loaded on its own
//     as `dpstats run` loads it before its first event (this program
//     re-executed with a hidden -consent-load flag): ≤ 0.3 s wall at ≥ 2M
//     users (below that, the line is information only).
//
// A missed target is printed, not an error: the exit status is 0 unless
// something failed to run (1) or the flags are wrong (2).
//
// Usage:
//
//	dpstats-bench [-bin bin/dpstats] [-job spec@N,...] [-sizes 1M:200k,10M:200k,10M:1M,10M:2M] [-count N] [-profile] [-child run|inspect]
//
// Environment variables are the defaults of the flags; flags win:
//
//	DPSTATS_BENCH_ROWS      events of the main size (default 10000000)
//	DPSTATS_BENCH_USERS     users of the main size (default 200000)
//	DPSTATS_BENCH_SIZES     the list of sizes, rows:users comma-separated, k/M/G suffixes allowed
//	                        (default ROWS/10:USERS,ROWS:USERS,ROWS:5×USERS,ROWS:10×USERS,
//	                        i.e. 1M:200k,10M:200k,10M:1M,10M:2M)
//	DPSTATS_BENCH_JOBS      the jobs, spec@floor-goroutines comma-separated
//	                        (default playback-daily@1,scripts/bench-jobs/device-2metric.yaml@2)
//	DPSTATS_BENCH_CACHE     where generated data is kept (default .cache/bench), one
//	                        directory ROWS-USERS per size, trusted only with its marker file
//	DPSTATS_BENCH_COUNT     measurements of each child per size; the fastest is shown (default 1)
//	DPSTATS_BENCH_PROFILE   1: run with --cpuprofile/--memprofile into the size's cache directory
//	DPSTATS_BENCH_CHILD     run (default), or inspect: `dpstats inspect FILE` as a stand-in
//
// A note on ru_maxrss: on Linux a child's high-water mark starts at its
// parent's peak (the child is forked from the parent's memory and the kernel
// carries the old high-water mark across exec), so a child's peak RSS reads
// max(this program's peak, the child's own peak). This program stays small
// (its peak is printed in the header, about 25 MiB), well below every
// child's own peak, so the figures are the children's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	opts, err := parseArgs(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		stop()
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dpstats-bench: %v\n", err)
		stop()
		os.Exit(2)
	}
	err = run(ctx, opts, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dpstats-bench: %v\n", err)
		os.Exit(1)
	}
}
