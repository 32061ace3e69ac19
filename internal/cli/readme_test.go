package cli

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeBlock returns the lines of the first ```sh block after the line
// of README.md that contains marker.
func readmeBlock(t *testing.T, marker string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	text = text[i:]
	start := strings.Index(text, "```sh\n")
	if start < 0 {
		t.Fatalf("README.md has no ```sh block after %q", marker)
	}
	text = text[start+len("```sh\n"):]
	end := strings.Index(text, "```")
	if end < 0 {
		t.Fatal("README.md: unterminated ```sh block")
	}
	return strings.Split(strings.TrimRight(text[:end], "\n"), "\n")
}

// shellUnits splits a shell block into the units a person runs one by one:
// a command with its continuation lines, or a whole for … done loop.
// Comment-only and blank lines are dropped.
func shellUnits(lines []string) []string {
	var units []string
	var cur strings.Builder
	depth := 0
	for _, line := range lines {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		cur.WriteString(line + "\n")
		word := strings.Fields(trimmed)
		if len(word) > 0 {
			switch word[0] {
			case "for", "while", "until":
				depth++
			case "done", "done;":
				depth--
			}
		}
		if depth == 0 && !strings.HasSuffix(strings.TrimSpace(stripComment(line)), "\\") {
			units = append(units, cur.String())
			cur.Reset()
		}
	}
	if cur.Len() > 0 {
		units = append(units, cur.String())
	}
	return units
}

// stripComment drops a trailing " # comment" (the README's commands have no
// '#' inside quotes).
func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		return line[:i]
	}
	return line
}

var releasedRE = regexp.MustCompile(`(?m)^released playback-daily (\S+) `)

// TestReadmeWalkthrough runs the README's budget walkthrough as the README
// gives it, unit by unit with sh, in one checkout (a temporary copy of what
// it needs: bin/dpstats and jobs/), after `make run` has run twice there:
// days 1-3 release, budget shows ε = 1, 2, 3 spent, the 4th day exits 77, and
// the demo's out/ and ledger are not touched.
func TestReadmeWalkthrough(t *testing.T) {
	bin := dpstatsBin(t)
	units := shellUnits(readmeBlock(t, "A whole budget cycle on generated data"))
	checkout := t.TempDir()
	for _, d := range []string{"bin", "jobs"} {
		if err := os.Mkdir(filepath.Join(checkout, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, bin, filepath.Join(checkout, "bin", "dpstats"), 0o755)
	copyFile(t, filepath.Join("..", "..", "jobs", "playback-daily.yaml"), filepath.Join(checkout, "jobs", "playback-daily.yaml"), 0o644)

	// make run, twice (what the Makefile's run target does after build).
	for i := range 2 {
		if r := runIn(t, checkout, nil, filepath.Join(checkout, "bin", "dpstats"), "demo", "--out", "out"); r.code != 0 {
			t.Fatalf("make run #%d: %s", i+1, r)
		}
	}
	demoBefore := snapshot(t, filepath.Join(checkout, "out"))

	sh := func(unit string) result {
		return runIn(t, checkout, nil, "/bin/sh", "-c", unit)
	}
	var sawInit, sawLoop, sawRefused bool
	for _, unit := range units {
		if strings.HasPrefix(unit, "make ") {
			continue // bin/dpstats is already built
		}
		r := sh(unit)
		switch {
		case strings.HasPrefix(unit, "for "):
			sawLoop = true
			if r.code != 0 {
				t.Fatalf("the walkthrough's loop:\n%s%s", unit, r)
			}
			days := releasedRE.FindAllStringSubmatch(r.stdout, -1)
			if len(days) != 3 || days[0][1] != "2026-11-01" || days[1][1] != "2026-11-02" || days[2][1] != "2026-11-03" {
				t.Errorf("the loop released %v, want 2026-11-01, -02, -03:\n%s", days, r)
			}
			var spent []float64
			for _, m := range spentRE.FindAllStringSubmatch(r.stdout, -1) {
				v, err := strconv.ParseFloat(m[1], 64)
				if err != nil {
					t.Fatal(err)
				}
				spent = append(spent, v)
			}
			if len(spent) != 3 || spent[0] != 1 || spent[1] != 2 || spent[2] != 3 {
				t.Errorf("budget showed ε = %v spent after each day, want 1, 2, 3:\n%s", spent, r.stdout)
			}
			if strings.Count(r.stdout, "all time (all jobs): ε = ") != 3 {
				t.Errorf("budget does not show the all-time spend:\n%s", r.stdout)
			}
		case strings.Contains(unit, "--period 2026-11-04"):
			sawRefused = true
			if r.code != exitBudget || !strings.Contains(r.stderr, "budget refused") {
				t.Errorf("the 4th day: want exit 77, budget refused:\n%s%s", unit, r)
			}
		default:
			if strings.Contains(unit, "ledger init") {
				sawInit = true
			}
			if r.code != 0 {
				t.Errorf("README command failed:\n%s%s", unit, r)
			}
		}
	}
	if !sawInit || !sawLoop || !sawRefused {
		t.Errorf("the README walkthrough lacks a step (ledger init %v, the 3-day loop %v, the refused 4th day %v):\n%s",
			sawInit, sawLoop, sawRefused, strings.Join(units, ""))
	}
	if diff := diffSnapshots(demoBefore, snapshot(t, filepath.Join(checkout, "out")), nil); len(diff) > 0 {
		t.Errorf("the walkthrough wrote into make run's out/: %v", diff)
	}
	// And make run still works after the walkthrough.
	if r := runIn(t, checkout, nil, filepath.Join(checkout, "bin", "dpstats"), "demo", "--out", "out"); r.code != 0 {
		t.Errorf("make run after the walkthrough: %s", r)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
