package cli

import (
	"errors"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// exitReportMissing: the ledger records the period as released, but its
// report is missing and no staged copy survives, so a retry cannot publish
// it without new noise (74).
const exitReportMissing = 74

// extraExitCode maps the errors of the job runner and the release protocol
// to their exit codes.
func extraExitCode(err error) (int, bool) {
	var (
		budget   *ledger.BudgetError
		spec     jobs.SpecErrors
		missing  *jobs.MissingReportError
		withheld *jobs.WithheldError
	)
	switch {
	case errors.As(err, &withheld):
		return exitWithheld, true
	case errors.As(err, &missing):
		return exitReportMissing, true
	case errors.Is(err, ledger.ErrNoLedger):
		return exitCantCreate, true
	case errors.Is(err, ledger.ErrLocked):
		return exitLocked, true
	case errors.As(err, &budget):
		return exitBudget, true
	case errors.Is(err, ledger.ErrCorrupt):
		return exitDataErr, true
	case errors.Is(err, jobs.ErrConfig), errors.Is(err, jobs.ErrPeriodNotOver), errors.Is(err, jobs.ErrCeiling), errors.As(err, &spec):
		return exitUsage, true
	}
	return 0, false
}

// statusOf names the outcome of a run for monitoring: the status the run
// reported, or the kind of error it ended with.
func statusOf(err error, status string) string {
	if err == nil {
		return status
	}
	switch exitCode(err) {
	case exitBudget:
		return "budget_refused"
	case exitWithheld:
		return statusWithheld
	case exitLocked:
		return "locked"
	case exitDataErr, exitNoInput:
		return "input_error"
	case exitUsage:
		return "usage_error"
	case exitCantCreate:
		return "output_error"
	case exitReportMissing:
		return statusReportMissing
	case exitInterrupted:
		return "interrupted"
	default:
		return "internal_error"
	}
}

// isTerminal reports whether w is a terminal (for the progress display and
// the log format).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
