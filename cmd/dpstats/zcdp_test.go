package main

import (
	"strconv"
)

// accountingRuns are the privacy accountings the key release-protocol tests
// of the command run under: the spec's pure accounting, and zcdp switched
// on by the flag (as `dpstats plan --accounting zcdp` lets an operator try).
var accountingRuns = []struct {
	name string
	// args returns the flags that select the accounting and, if eps is not
	// empty, a per-run budget: --epsilon eps, or --rho eps²/2 under zcdp.
	args func(eps string) []string
}{
	{"pure", func(eps string) []string {
		if eps == "" {
			return nil
		}
		return []string{"--epsilon", eps}
	}},
	{"zcdp", func(eps string) []string {
		args := []string{"--accounting", "zcdp"}
		if eps == "" {
			return args
		}
		e, err := strconv.ParseFloat(eps, 64)
		if err != nil {
			panic(err)
		}
		return append(args, "--rho", strconv.FormatFloat(e*e/2, 'g', -1, 64))
	}},
}
