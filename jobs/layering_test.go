package jobs

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering enforces DESIGN.md's one-way imports: cmd → internal/cli → jobs →
// {datasets, dp, reports}. datasets, dp and reports never import each
// other or jobs, so "raw rows never reach reports" can be checked by
// reading one package boundary: reports only gets what jobs hands it.
func TestLayering(t *testing.T) {
	const module = "github.com/dpstats/dpstats/"
	forbidden := map[string][]string{
		"datasets": {"dp", "reports", "jobs", "cmd", "internal/cli"},
		"dp":       {"datasets", "reports", "jobs", "cmd", "internal/cli"},
		"reports":  {"datasets", "dp", "jobs", "cmd", "internal/cli"},
		"jobs":     {"cmd", "internal/cli"},
	}
	for pkg, bad := range forbidden {
		p, err := build.ImportDir(filepath.Join("..", pkg), 0)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			rest, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			for _, b := range bad {
				if rest == b || strings.HasPrefix(rest, b+"/") {
					t.Errorf("package %s imports %s: imports must go cmd → jobs → {datasets, dp, reports}", pkg, imp)
				}
			}
		}
	}
}
