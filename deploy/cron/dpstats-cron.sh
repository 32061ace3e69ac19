#!/bin/sh
# dpstats-cron: run one `dpstats run` from cron, quietly.
#
#   dpstats-cron [extra dpstats run flags...]
#
# Reads the settings from $DPSTATS_ENV_FILE (default /etc/dpstats/dpstats.env),
# runs $DPSTATS_BIN (default /usr/local/bin/dpstats) and exits with its exit
# code. On success it prints nothing, so cron sends no mail; on failure it
# prints what the exit code means and what to do, then the run's log. The log
# also goes to syslog (tag dpstats) when logger(1) is available.
#
# No flock(1) here: dpstats locks the ledger itself (see crontab.example).
set -u

env_file=${DPSTATS_ENV_FILE:-/etc/dpstats/dpstats.env}
dpstats=${DPSTATS_BIN:-/usr/local/bin/dpstats}

if [ -r "$env_file" ]; then
	set -a # export every variable the file sets
	. "$env_file"
	set +a
elif [ -n "${DPSTATS_ENV_FILE:-}" ]; then
	echo "dpstats-cron: cannot read $env_file" >&2
	exit 64
fi

log=$("$dpstats" run "$@" 2>&1)
code=$?

if [ -n "$log" ] && command -v logger >/dev/null 2>&1; then
	printf '%s\n' "$log" | logger -t dpstats || true
fi

case $code in
0) exit 0 ;; # released, or already released: nothing to say
64) what="usage or job spec error: fix $env_file or the job spec; nothing was released" ;;
65) what="input data error: the log names the file and column; fix the export, then back-fill this day" ;;
66) what="input missing: the export has not landed; back-fill this day once it has" ;;
69) what="withheld by the quality gate: too few users counted (noisy count below min_users); nothing was published, the check's small epsilon was charged. The log says what to look at; once the exports are fixed, run the day with --rerun (charged again)" ;;
70) what="internal error: a bug in dpstats; report it with the log below. Retrying is safe" ;;
73) what="cannot write the reports or the ledger: check space and permissions, then back-fill this day" ;;
75) what="the ledger stayed locked by another run for DPSTATS_LOCK_WAIT; this day was not released: back-fill it" ;;
77) what="budget refused: the release would cross the ledger's cap; nothing was read or written. Run: dpstats budget --ledger ${DPSTATS_LEDGER:-<ledger>}" ;;
130) what="interrupted; nothing partial was published. Back-fill this day" ;;
*) what="unexpected exit code" ;;
esac
printf 'dpstats run failed (exit %s): %s\nSee docs/operations.md, "Exit codes".\n\n%s\n' "$code" "$what" "$log"
exit "$code"
