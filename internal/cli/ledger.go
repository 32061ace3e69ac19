package cli

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
	"github.com/dpstats/dpstats/jobs/ledger"
)

// ledgerCommand groups what an operator does to the ledger itself. `run`
// never creates a ledger: a missing one is lost or misplaced until someone
// creates it on purpose with `dpstats ledger init`.
func ledgerCommand() *cli.Command {
	c := withExitHelp(&cli.Command{
		Name:  "ledger",
		Usage: "manage the privacy budget ledger: `ledger init` creates it, once, on purpose",
		Subcommands: []*cli.Command{
			withExitHelp(&cli.Command{
				Name:  "init",
				Usage: "create an empty ledger; on an existing ledger, check that it parses and change nothing",
				Description: "init creates the ledger file (mode 0600, fsynced with its directory, which must exist) and its\n" +
					"lock file. `dpstats run` never creates a ledger: a missing ledger fails the run (exit 73), because an\n" +
					"empty one would forget every release made before. init is safe to repeat (a scheduler's init step):\n" +
					"on an existing ledger it only checks that the ledger parses (exit 65 if not) and changes nothing.\n" +
					"With --out (or DPSTATS_OUT), it refuses to create a ledger while OUT holds published reports (exit 73):\n" +
					"then the ledger was lost, not never made. Never init a new ledger for users who were released\n" +
					"before: restore their ledger instead.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ledger", EnvVars: []string{"DPSTATS_LEDGER"}, Usage: "the privacy budget ledger file to create"},
					&cli.StringFlag{Name: "out", EnvVars: []string{"DPSTATS_OUT"}, Usage: "the report directory of the runs that will use the ledger: if it holds published reports, a missing ledger is lost, and is not created"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("ledger init: unexpected arguments %q (the path goes in --ledger)", c.Args().Slice())
					}
					path := c.String("ledger")
					if path == "" {
						return usagef("ledger init: --ledger is required")
					}
					created, err := jobs.InitLedger(path, c.String("out"))
					var refused *jobs.OutputError
					switch {
					case errors.As(err, &refused):
						return err // exit 73: OUT holds reports, the ledger was lost
					case errors.Is(err, ledger.ErrCorrupt):
						return fmt.Errorf("ledger init: the ledger exists but does not parse, nothing changed: %w", err)
					case err != nil:
						return outputError{fmt.Errorf("ledger init: %w", err)}
					case created:
						fmt.Fprintf(c.App.Writer, "created the ledger %s (empty): every release with it is recorded there; back it up after every run\n", path)
					default:
						entries, err := ledger.ReadEntries(path)
						if err != nil {
							return fmt.Errorf("ledger init: %w", err)
						}
						fmt.Fprintf(c.App.Writer, "the ledger %s exists (%d record(s)): nothing changed\n", path, len(entries))
					}
					return nil
				},
			}),
		},
	})
	c.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usagef("ledger: unknown command %q (want: dpstats ledger init)", c.Args().First())
		}
		return cli.ShowSubcommandHelp(c)
	}
	// A command with subcommands lists them in its help.
	c.CustomHelpTemplate = cli.SubcommandHelpTemplate + "\n" + exitCodeHelp
	return c
}
