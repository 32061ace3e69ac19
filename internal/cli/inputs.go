package cli

import (
	"log/slog"

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
