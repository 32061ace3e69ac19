package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
)

// Exit codes follow sysexits.h so that schedulers and shell scripts can tell
// the kinds of failure apart. They are listed in the README and in --help.
const (
	exitOK          = 0  // success, also "already released, nothing to do"
	exitUsage       = 64 // bad flags, bad job spec
	exitDataErr     = 65 // input data unreadable or of the wrong shape
	exitNoInput     = 66 // an input file or directory is missing
	exitWithheld    = 69 // the quality gate withheld the period: nothing was published
	exitInternal    = 70 // a bug: please report it
	exitCantCreate  = 73 // cannot write the report or the ledger
	exitLocked      = 75 // the ledger is locked by another run: retry later
	exitBudget      = 77 // the privacy budget would be exceeded: nothing was read or written
	exitInterrupted = 130
)

const exitCodeHelp = `EXIT STATUS:
   0   success (also: this job and period were already released, nothing to do)
   64  usage error, invalid job spec, ε/δ above the spec's ceiling, or a period not over yet
   65  input data error (unreadable file, wrong column type; the message names the file and column),
       or a corrupt ledger line (a human must repair the ledger)
   66  input missing or not readable (no such file, directory or glob match; permission denied)
   69  withheld by the quality gate: the noisy (DP) count of contributing users of a consent category
       is below the spec's quality_gate.min_users; nothing was published, the gate's ε is recorded in
       the ledger (a retry without --rerun is withheld again, charged nothing)
   70  internal error (a bug in dpstats)
   73  cannot write output (report directory or ledger), or a report exists that the ledger does not record,
       or the ledger does not exist (run never creates one: dpstats ledger init)
   74  the ledger records this period as released, but its report is missing and no staged copy survives
       (a retry cannot publish it; --rerun releases it again, charged again); with --engine beam, also
       a run charged when its pipeline was submitted that then failed or died before publishing
   75  ledger locked by another run (retry later)
   77  budget refused (the run would cross the ledger's cap); nothing was read or written
   130 interrupted (SIGINT, SIGTERM)
`

// usageError marks errors in flags or job specs (exit 64).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// outputError marks failures to write reports or the ledger (exit 73).
type outputError struct{ err error }

func (e outputError) Error() string { return e.err.Error() }
func (e outputError) Unwrap() error { return e.err }

// stdoutError is a failed write to standard output (a full disk behind a
// redirection, a closed pipe): the output cannot be written, exit 73.
type stdoutError struct{ err error }

func (e stdoutError) Error() string { return "standard output: " + e.err.Error() }
func (e stdoutError) Unwrap() error { return e.err }

// stdoutWriter passes writes to w and marks their errors as stdoutError, so
// that a command that returns one exits 73 whatever wrapped it on the way.
type stdoutWriter struct{ w io.Writer }

func (s stdoutWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = stdoutError{err}
	}
	return n, err
}

// noInputError marks an input that exists but cannot be read, outside the
// datasets package (the ledger that budget reads): exit 66.
type noInputError struct{ err error }

func (e noInputError) Error() string { return e.err.Error() }
func (e noInputError) Unwrap() error { return e.err }

// exitCode is the one place where errors become exit codes.
func exitCode(err error) int {
	var (
		usage  usageError
		output outputError
		input  *datasets.InputError
		// jobs' own output error (the runner could not write the report)
		jobOutput *jobs.OutputError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &usage), errors.Is(err, datasets.ErrBadPattern), errors.Is(err, datasets.ErrRemoteInput):
		return exitUsage
	case errors.As(err, &output), errors.As(err, &jobOutput), errors.As(err, new(stdoutError)):
		// Before ErrNotExist: a missing output directory is not missing input.
		return exitCantCreate
	}
	if code, ok := extraExitCode(err); ok {
		return code
	}
	switch {
	case errors.Is(err, datasets.ErrInputMissing), errors.Is(err, os.ErrNotExist),
		errors.Is(err, datasets.ErrInputUnreadable), errors.As(err, new(noInputError)):
		return exitNoInput
	case errors.As(err, &input):
		return exitDataErr
	default:
		return exitInternal
	}
}

// reportError prints err as one line, with a hint when there is one.
func reportError(w io.Writer, err error) {
	fmt.Fprintf(w, "dpstats: %v\n", err)
	var h interface{ Hint() string }
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(w, "Try: %s\n", h.Hint())
	}
}
