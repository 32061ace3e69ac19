#!/usr/bin/env bash
# bench.sh — dpstats' performance harness. `make bench` runs it after `make build`.
#
#  1. Builds bin/dpstats-bench (cmd/dpstats-bench) and runs it. For each size it
#     generates a synthetic export once with `bin/dpstats gen` (cached in
#     .cache/bench/ROWS-USERS/, trusted only when its complete.json marker is
#     there; delete the directory to regenerate), then measures each job on the
#     same file, each as its own child process:
#       - the floor: a bare arrow-go pqarrow scan of exactly the columns the job
#         reads (from `bin/dpstats explain --format json`), on 1 goroutine for
#         playback-daily, on 2 (row groups split) for the two-metric job;
#       - `bin/dpstats run --job JOB` end to end, fresh ledger each time;
#     The jobs (issue 13): playback-daily, and scripts/bench-jobs/device-2metric.yaml
#     (DP count of events and DP mean of duration_s per device_type, 13 public
#     partitions, ≤ 4 per user, ε = 1, δ = 1e-6, Gaussian).
#     It prints, per job, rows/s, run/floor, peak RSS (getrusage), CPU/wall per
#     size, the peak RSS per extra user, and a PASS/FAIL line per target:
#     run/floor ≥ 0.70 and RSS ≤ 1 GiB at 10M events / 200k users; RSS(10M) ≤
#     1.25 × RSS(1M) + 64 MiB (memory follows users, not rows); bytes per extra
#     user from 200k to 2M users at 10M events ≤ 400 B (playback-daily), ≤ 150 B
#     (two-metric job); at ≥ 100M events, run/floor ≥ 0.50 and RSS ≤ 1.5 GiB.
#     Then the consent load of the size with the most users, on its own (a run
#     loads consent before it feeds any event): ≤ 0.3 s wall at ≥ 2M users.
#     A missed target is printed, not an error: the exit status is non-zero only
#     when something failed to run.
#  2. Runs the Go micro-benchmarks of the hot pieces (every package with a
#     `func Benchmark`, except the generator's).
#
# The table and the micro-benchmark output are also saved to
# .cache/bench/results/<time>-<git rev>.txt (for benchstat).
#
# Environment (all optional):
#   DPSTATS_BENCH_ROWS=10000000    events of the main size; ROWS/10 is measured too
#   DPSTATS_BENCH_USERS=200000     users of the main size; ROWS events of 5× and 10× the users too
#   DPSTATS_BENCH_SIZES=1M:200k,10M:200k,10M:1M,10M:2M
#                                  the sizes, rows:users,... (k/M/G suffixes); replaces the two above
#   DPSTATS_BENCH_JOBS=playback-daily@1,scripts/bench-jobs/device-2metric.yaml@2
#                                  the jobs (built-in names or spec files), each @ its floor's goroutines
#   DPSTATS_BENCH_CACHE=.cache/bench   where generated data is kept
#   DPSTATS_BENCH_COUNT=1          measurements of each child per size (the fastest is shown)
#   DPSTATS_BENCH_PROFILE=1        run with --cpuprofile/--memprofile into the size's cache directory,
#                                  then: go tool pprof -top -nodecount 25 bin/dpstats .cache/bench/10000000-200000/cpu-JOB.prof
#                                  (mem.prof is written at the end of the run: use -sample_index=alloc_space)
#   DPSTATS_BENCH_CHILD=inspect    measure `dpstats inspect FILE` instead of `dpstats run` (a stand-in)
#   DPSTATS_BENCH_ARGS="..."       more flags for bin/dpstats-bench (bin/dpstats-bench -h lists them)
#   DPSTATS_BENCH_BEAM=auto        the Beam engine's row (1M/200k, direct runner, no targets): run it
#                                  if bin/dpstats-beam exists; 1 builds it first (make beam); 0 skips it
#   DPSTATS_BENCH_MICRO=0          skip the micro-benchmarks
#   DPSTATS_BENCH_MICRO_FILTER=.   their -bench regexp; DPSTATS_BENCH_MICRO_SKIP=Generate their -skip
#   DPSTATS_BENCH_MICRO_TIME=      their -benchtime (default 5x for datasets, 1x elsewhere: the dp
#                                  benchmarks feed 10M contributions per op)
#   DPSTATS_BENCH_MICRO_ROWS=1000000  rows of the datasets scan benchmarks' file (they read it from
#                                  DPSTATS_BENCH_ROWS, which this script sets for them)
#
# The default sizes take about 1.2 GB of cache (10M events are 273-328 MiB) and,
# the first time, about 3 minutes to generate on 2 cores.
# The 100M events / 2M users run, once, by hand (≈ 3.3 GB of cache; generating takes
# several minutes on 2 cores, `df -h .` first):
#   DPSTATS_BENCH_SIZES=100000000:2000000 DPSTATS_BENCH_MICRO=0 make bench
# For that size the targets are run/floor ≥ 0.50 and peak RSS ≤ 1.5 GiB.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
if [ ! -x bin/dpstats ]; then
	make build
fi
"$GO" build -o bin/dpstats-bench ./cmd/dpstats-bench

cache=${DPSTATS_BENCH_CACHE:-.cache/bench}
mkdir -p "$cache/results"
rev=$(git describe --always --dirty 2>/dev/null || echo dev)
results="$cache/results/$(date -u +%Y%m%dT%H%M%SZ)-$rev.txt"

# shellcheck disable=SC2086 # DPSTATS_BENCH_ARGS is a list of flags
bin/dpstats-bench ${DPSTATS_BENCH_ARGS:-} | tee "$results"

# The Beam engine's row (issue 15): playback-daily at 1M events / 200k users
# through bin/dpstats-beam on Beam's direct runner, once, next to the same
# floor. The direct runner is a test runner (about 3 minutes and 8 GiB
# here): the row says what the engine costs on one machine, not what a
# cluster gives, so it has no targets. It runs when bin/dpstats-beam exists
# (`make beam`); DPSTATS_BENCH_BEAM=1 builds it first, =0 skips the row.
beam=${DPSTATS_BENCH_BEAM:-auto}
if [ "$beam" = 1 ]; then
	make beam
fi
if [ "$beam" != 0 ] && [ -x bin/dpstats-beam ]; then
	echo
	echo "the Beam engine (bin/dpstats-beam, direct runner):"
	bin/dpstats-bench -bin bin/dpstats-beam -job playback-daily@1 -sizes 1M:200k -count 1 \
		-run-args "--engine beam --beam-runner direct" -no-targets | tee -a "$results"
elif [ "$beam" != 0 ]; then
	echo
	echo "bench: no Beam engine row: bin/dpstats-beam is not built (make beam, or DPSTATS_BENCH_BEAM=1 make bench)"
fi

if [ "${DPSTATS_BENCH_MICRO:-1}" = 0 ]; then
	echo "bench: micro-benchmarks skipped (DPSTATS_BENCH_MICRO=0); results in $results"
	exit 0
fi

echo
echo "micro-benchmarks (go test -bench), one package at a time:"
pkgs=$(git ls-files --cached --others --exclude-standard '*_test.go' |
	xargs -r grep -l '^func Benchmark' | xargs -r -n1 dirname | sort -u)
for dir in $pkgs; do
	case $dir in
	datasets) benchtime=5x ;;
	*) benchtime=1x ;;
	esac
	DPSTATS_BENCH_ROWS=${DPSTATS_BENCH_MICRO_ROWS:-1000000} \
		"$GO" test -run '^$' -bench "${DPSTATS_BENCH_MICRO_FILTER:-.}" -skip "${DPSTATS_BENCH_MICRO_SKIP:-Generate}" \
		-benchtime "${DPSTATS_BENCH_MICRO_TIME:-$benchtime}" -benchmem -count 1 -timeout 30m "./$dir" | tee -a "$results"
done
echo "bench: results in $results"
