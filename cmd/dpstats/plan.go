package main

import (
	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/jobs"
)

func planCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "plan",
		Usage: "show the expected error of every statistic at the chosen ε, before reading any data",
		Description: "plan reads no data and spends no budget: it prints, per metric, the ε and δ it gets, its\n" +
			"contribution bounds and the expected 95% error of each released value (and of each share, at\n" +
			"--users users). Try different --epsilon values to choose one before a run.",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.IntFlag{Name: "users", Value: 100_000, EnvVars: []string{"DPSTATS_PLAN_USERS"}, Usage: "assumed number of consenting users per period"},
		}, privacyFlags()...),
		Action: func(c *cli.Context) error {
			if c.Int("users") < 1 {
				return usagef("plan: --users must be ≥ 1")
			}
			spec, err := loadJob(c, c.String("job"))
			if err != nil {
				return err
			}
			return jobs.WritePlan(c.App.Writer, spec, c.Int("users"))
		},
	})
}

func explainCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:  "explain",
		Usage: "print every statistic a job collects: what, from which columns, consent, generalization, bounds, ε",
		Description: "explain is the privacy tab: the full list of what a job releases, printed from the spec\n" +
			"alone, without reading any data. --format markdown suits a public web page, json a program.",
		Flags: append([]cli.Flag{
			jobFlag(),
			&cli.StringFlag{Name: "format", Value: "text", EnvVars: []string{"DPSTATS_EXPLAIN_FORMAT"}, Usage: "text, markdown or json"},
		}, privacyFlags()...),
		Action: func(c *cli.Context) error {
			switch c.String("format") {
			case "text", "markdown", "md", "json":
			default:
				return usagef("explain: --format %q: want text, markdown or json", c.String("format"))
			}
			spec, err := loadJob(c, c.String("job"))
			if err != nil {
				return err
			}
			return jobs.Explain(c.App.Writer, spec, c.String("format"))
		},
	})
}
