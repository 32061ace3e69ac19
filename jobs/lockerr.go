package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/dpstats/dpstats/jobs/ledger"
)

// lockError classifies a failure to lock and read the ledger: another run
// holds it (ledger.ErrLocked), it does not parse (ledger.ErrCorrupt), the
// run was interrupted, or else the ledger cannot be opened for writing (a
// read-only file or file system, a directory, a vanished file): an
// *OutputError, like any other ledger the run cannot write.
func lockError(err error) error {
	err = fmt.Errorf("lock ledger: %w", err)
	if errors.Is(err, ledger.ErrLocked) || errors.Is(err, ledger.ErrCorrupt) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &OutputError{err}
}
