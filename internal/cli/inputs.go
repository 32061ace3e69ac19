package cli

import (
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
)

// logDuplicates says which input spellings were dropped because they name a
// file already listed (datasets.Duplicate): paths only, which the operator
// gave; each file is read once.
func logDuplicates(log *slog.Logger, kind string, dups []datasets.Duplicate) {
	for _, d := range dups {
		log.Warn("input named more than once: reading it once", "inputs", kind, "path", d.Path, "same_file_as", d.SameAs)
	}
}

// refuseRemote refuses, when local is true (the local engine), an --input
// or --consent that is a URI (gs://…, datasets.IsRemote): only the beam
// engine reads those, unexpanded.
func refuseRemote(cmd string, c *cli.Context, local bool) error {
	if !local {
		return nil
	}
	for _, flag := range []string{"input", "consent"} {
		for _, arg := range c.StringSlice(flag) {
			if datasets.IsRemote(arg) {
				return usagef("%s: --%s %s is a URI: URIs need --engine beam (bin/dpstats-beam, built by make beam); "+
					"the local engine reads local files, directories and globs", cmd, flag, arg)
			}
		}
	}
	return nil
}

// refuseRemoteArgs refuses URIs among a command's arguments (inspect reads
// local files only).
func refuseRemoteArgs(cmd string, args []string) error {
	for _, arg := range args {
		if datasets.IsRemote(arg) {
			return usagef("%s: %s is a URI: %s reads local files, directories and globs only "+
				"(URIs are read only by run --engine beam)", cmd, arg, cmd)
		}
	}
	return nil
}
