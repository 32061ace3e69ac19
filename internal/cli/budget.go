package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

func budgetCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "budget",
		Usage: "show the privacy budget spent and left in the ledger's rolling window, and when it comes back",
		Description: "budget reads the ledger (read only, without locking it) and prints the ε and δ spent inside the window\n" +
			"by every job that shares the ledger, what is left under the cap of --job's spec, the spend of all\n" +
			"time, and when each release leaves the window. A ledger that does not exist is an error (exit 73).",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.StringFlag{Name: "ledger", EnvVars: []string{"DPSTATS_LEDGER"}, Usage: "the privacy budget ledger file"},
		}, accountingFlags()...),
		Action: func(c *cli.Context) error {
			if c.String("ledger") == "" {
				return usagef("budget: --ledger is required")
			}
			spec, err := loadSpec(c.String("job"))
			if err != nil {
				return err
			}
			if spec, err = accountingOverrides(c, spec); err != nil {
				return err
			}
			// Read only: budget works on a read-only mount or a backup copy.
			entries, err := ledger.ReadEntries(c.String("ledger"))
			if errors.Is(err, fs.ErrNotExist) {
				// Not a spotless budget: a missing ledger is a lost or
				// misplaced one, or one never created (dpstats ledger init).
				return outputError{fmt.Errorf("the ledger %s does not exist: check --ledger (create a new ledger only with "+
					"`dpstats ledger init`, and only for users never released before)", c.String("ledger"))}
			} else if errors.Is(err, ledger.ErrCorrupt) {
				return fmt.Errorf("read ledger: %w", err)
			} else if err != nil {
				return noInputError{fmt.Errorf("cannot read the ledger: %w", err)}
			}
			cap := spec.LedgerCap()
			s := ledger.Summarize(entries, time.Now(), cap.Window, spec.Name)
			if spec.ZCDP() {
				return writeZCDPBudget(c.App.Writer, spec, s, cap)
			}
			return s.WriteText(c.App.Writer, cap)
		},
	})
}

// writeZCDPBudget is budget for a job accounted in zero-concentrated DP:
// the ledger in ρ and what it promises, and how many more of this job's
// runs fit now.
func writeZCDPBudget(w io.Writer, spec *jobs.Spec, s ledger.Summary, cap ledger.Cap) error {
	if err := s.WriteTextZCDP(w, cap, spec.Privacy.Delta); err != nil {
		return err
	}
	charge := spec.Charge()
	alone, aloneDelta := spec.Alone(charge.Rho, charge.Delta)
	_, err := fmt.Fprintf(w, "%s spends ρ = %s a run (zero-concentrated accounting; on its own a run is (ε = %s, δ = %s)-DP): %d more run(s) fit in the window now.\n",
		spec.Name, strconv.FormatFloat(charge.Rho, 'g', 4, 64), strconv.FormatFloat(alone, 'g', 4, 64), strconv.FormatFloat(aloneDelta, 'g', -1, 64), s.RunsLeft(cap, charge))
	return err
}
