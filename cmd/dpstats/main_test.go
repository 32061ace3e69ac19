package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// beamPaths are the import path prefixes of the Beam SDK and of Privacy on
// Beam: the Beam engine's module (beam/, bin/dpstats-beam) needs them, the
// core module must not, so that `make build`, `make run` and `make test`
// never download or compile them.
var beamPaths = []string{"github.com/apache/beam", "github.com/google/differential-privacy/privacy-on-beam"}

func beamDeps(t *testing.T, args ...string) []string {
	t.Helper()
	// go test puts the go command that runs it first in PATH.
	cmd := exec.Command("go", append([]string{"list", "-e", "-deps"}, args...)...)
	cmd.Dir = filepath.Join("..", "..") // the module root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -e -deps %v: %v", args, err)
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) < 10 {
		t.Fatalf("go list -deps %v listed %d packages: %q", args, len(pkgs), out)
	}
	var beam []string
	for _, p := range pkgs {
		for _, prefix := range beamPaths {
			if p == prefix || strings.HasPrefix(p, prefix+"/") {
				beam = append(beam, p)
			}
		}
	}
	return beam
}

// TestCoreBuildHasNoBeam: no package of the core module, tests included,
// and nothing bin/dpstats links, imports Beam or Privacy on Beam; the core
// go.mod does not require them.
func TestCoreBuildHasNoBeam(t *testing.T) {
	if beam := beamDeps(t, "-test", "./..."); len(beam) > 0 {
		t.Errorf("the core module's packages (tests included) import Beam: %v; it belongs in the beam module only", beam)
	}
	if beam := beamDeps(t, "./cmd/dpstats"); len(beam) > 0 {
		t.Errorf("bin/dpstats links Beam: %v", beam)
	}
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range beamPaths {
		if strings.Contains(string(gomod), p) {
			t.Errorf("the core go.mod names %s: `make build` would download it", p)
		}
	}
}
