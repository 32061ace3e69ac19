#!/bin/sh
# dpstats-cron: run one `dpstats run` from cron, quietly.
#
#   dpstats-cron [extra dpstats run flags...]
#
# Reads the settings from $DPSTATS_ENV_FILE (default /etc/dpstats/dpstats.env),
# runs `$DPSTATS_BIN ledger init` then `$DPSTATS_BIN run` (default binary
# /usr/local/bin/dpstats) and exits with the first failing exit code. On
# success it prints nothing, so cron sends no mail; on failure it prints what
# the exit code means and what to do, then the log. The log also goes to
# syslog (tag dpstats) when logger(1) is available.
#
# `dpstats run` never creates the ledger. `dpstats ledger init` is the init
# step, safe to repeat: it creates DPSTATS_LEDGER the first time, changes
# nothing once it exists, and refuses (exit 73) to create it while
# DPSTATS_OUT holds published reports, i.e. when the ledger was lost rather
# than never made. Extra arguments go to `dpstats run` only.
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

step="ledger init"
log=$("$dpstats" ledger init 2>&1)
code=$?
if [ "$code" -eq 0 ]; then
	step=run
	log=$("$dpstats" run "$@" 2>&1)
	code=$?
fi

if [ -n "$log" ] && command -v logger >/dev/null 2>&1; then
	printf '%s\n' "$log" | logger -t dpstats || true
fi

case $code in
0) exit 0 ;; # released, or already released: nothing to say
64) what="usage or job spec error: fix $env_file or the job spec; nothing was released" ;;
65) if [ "$step" = "ledger init" ]; then
	what="the ledger does not parse (the log names the line): have a human repair or restore it (docs/operations.md, \"Backup and restore\")"
else
	what="input data error: the log names the file and column; fix the export, then back-fill this day"
fi ;;
66) what="input missing: the export has not landed; back-fill this day once it has" ;;
69) what="withheld by the quality gate: too few users counted (noisy count below min_users); nothing was published, the check's small epsilon was charged. The log says what to look at; once the exports are fixed, run the day with --rerun (charged again)" ;;
70) what="internal error: a bug in dpstats; report it with the log below. Retrying is safe" ;;
73) if [ "$step" = "ledger init" ]; then
	what="the ledger is lost (DPSTATS_OUT holds reports it would not record), or cannot be created: restore it (docs/operations.md, \"Backup and restore\"); never create an empty one"
else
	what="cannot write the reports or the ledger, or a report exists that the ledger does not record: check space, permissions and that the ledger is the right one; then retry: a day whose spend was recorded is published from its staged copy"
fi ;;
74) what="the ledger records this day as released, but its report is missing and no staged copy survives: only a deliberate --rerun (charged again) can publish it" ;;
75) what="the ledger stayed locked by another run for DPSTATS_LOCK_WAIT; this day was not released: back-fill it" ;;
77) what="budget refused: the release would cross the ledger's cap; nothing was read or written. Run: dpstats budget --ledger ${DPSTATS_LEDGER:-<ledger>}" ;;
130) what="interrupted; nothing partial was published. Back-fill this day" ;;
*) what="unexpected exit code" ;;
esac
printf 'dpstats %s failed (exit %s): %s\nSee docs/operations.md, "Exit codes".\n\n%s\n' "$step" "$code" "$what" "$log"
exit "$code"
