package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeBeamQuickStart runs README.md's Beam block ("Engines: local
// and Privacy on Beam") as a user would, from the repository root: make
// beam, a ledger, and the sample day released by --engine beam on the
// direct runner. It must publish the report and charge the ledger once, at
// submit, naming the engine.
func TestReadmeBeamQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bin/dpstats-beam and runs the sample day on the direct runner (about 2 minutes)")
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "### Engines: local and Privacy on Beam")
	if i < 0 {
		t.Fatal("README.md has no Beam section")
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	end := strings.Index(text[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("README.md's Beam section has no ```sh block")
	}
	block := text[start+6 : start+6+end]
	if !strings.Contains(block, "--engine beam") || !strings.Contains(block, "make beam") {
		t.Fatalf("README's Beam block no longer builds and runs the Beam engine:\n%s", block)
	}
	demo := filepath.Join(root, "beamdemo")
	if err := os.RemoveAll(demo); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(demo) })
	cmd := exec.Command("sh", "-e", "-x", "-c", block)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README's Beam block failed: %v\n%s", err, out)
	}
	report := filepath.Join(demo, "out", "playback-daily", "2026-11-01", "report.json")
	if _, err := os.Stat(report); err != nil {
		t.Fatalf("the block published no report: %v", err)
	}
	f, err := os.Open(filepath.Join(demo, "ledger.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var records []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"job"`) {
			records = append(records, sc.Text())
		}
	}
	if len(records) != 1 || !strings.Contains(records[0], `"engine":"beam"`) || !strings.Contains(records[0], `"submitted":true`) {
		t.Fatalf("ledger records = %q, want one release charged at submit by the beam engine", records)
	}
}
