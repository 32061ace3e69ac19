package cli

import (
	"bytes"
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/dpstats/dpstats/datasets"
)

// inspectCommand is for operators who may see raw data: it prints exact row
// counts, which is why nothing else in dpstats does.
func inspectCommand() *cli.Command {
	return withExitHelp(&cli.Command{
		Name:      "inspect",
		Usage:     "check that input files read cleanly: format, schema and exact row count (operators only: counts are not private)",
		ArgsUsage: "FILE|DIR|GLOB...",
		Description: "inspect detects each file's format from its content (Parquet, Arrow IPC file, Arrow IPC stream),\n" +
			"prints its schema and row count, and reads every row group / batch to the end. It exits 0 when\n" +
			"every file read, 65 on the first unreadable file (the message names it) and 66 when an input is missing.",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("inspect: name at least one file, directory or glob")
			}
			return runInspect(c.App.Writer, c.Args().Slice())
		},
	})
}

func runInspect(w io.Writer, args []string) error {
	if err := refuseRemoteArgs("inspect", args); err != nil {
		return err
	}
	files, err := datasets.ExpandInputs(args)
	if err != nil {
		return err
	}
	for _, path := range files {
		info, err := datasets.Inspect(path)
		if err != nil {
			return err
		}
		if err := writeInfo(w, path, info); err != nil {
			return err
		}
	}
	return nil
}

// writeInfo prints one file's format, counts and schema, in one write so
// that a failure to write is seen.
func writeInfo(out io.Writer, path string, info datasets.FileInfo) error {
	var w bytes.Buffer
	fmt.Fprintf(&w, "%s\n  format: %s\n  rows: %d\n", path, info.Format, info.Rows)
	if info.RowGroups > 0 {
		fmt.Fprintf(&w, "  row groups: %d\n", info.RowGroups)
	}
	if info.Batches > 0 {
		fmt.Fprintf(&w, "  batches: %d\n", info.Batches)
	}
	fmt.Fprintf(&w, "  schema:\n")
	if info.Schema != nil {
		for _, f := range info.Schema.Fields() {
			null := ""
			if f.Nullable {
				null = ", nullable"
			}
			fmt.Fprintf(&w, "    %s: %s%s\n", f.Name, f.Type, null)
		}
	}
	_, err := out.Write(w.Bytes())
	return err
}
