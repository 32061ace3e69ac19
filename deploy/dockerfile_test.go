package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Line int
	Cmd  string // upper case: FROM, RUN, ...
	Args string
}

// stage is one FROM ... up to the next FROM.
type stage struct {
	From         string
	Name         string
	Instructions []instruction
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Line: start, Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)}
		if in.Cmd == "FROM" {
			f := strings.Fields(in.Args)
			s := stage{From: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.Name = f[2]
			}
			stages = append(stages, s)
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, in)
		}
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 {
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			start = i + 1
		} else if strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// TestDockerfile checks the image's promises without a container engine:
// static build, version stamp, minimal non-root runtime image, exec-form
// entrypoint, Go version in step with go.mod.
func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	final := stages[len(stages)-1]

	t.Run("runtime image is distroless static or scratch", func(t *testing.T) {
		if !(final.From == "scratch" || strings.HasPrefix(final.From, "gcr.io/distroless/static")) {
			t.Errorf("final FROM %s, want gcr.io/distroless/static* or scratch (no shell, no libc)", final.From)
		}
	})

	t.Run("static, trimmed, stamped build", func(t *testing.T) {
		var build string
		for _, s := range stages[:len(stages)-1] {
			for _, in := range s.Instructions {
				if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
					build = in.Args
				}
			}
		}
		if build == "" {
			t.Fatal("no RUN ... go build in a build stage")
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/dpstats"} {
			if !strings.Contains(build, want) {
				t.Errorf("go build %q lacks %s", build, want)
			}
		}
	})

	t.Run("non-root numeric USER", func(t *testing.T) {
		user := ""
		for _, in := range final.Instructions {
			if in.Cmd == "USER" {
				user = in.Args
			}
		}
		uid, _, _ := strings.Cut(user, ":")
		if !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) || uid == "0" {
			t.Errorf("runtime USER %q, want a numeric non-zero uid (runAsNonRoot can only verify a numeric one)", user)
		}
	})

	t.Run("exec-form ENTRYPOINT is the binary copied in", func(t *testing.T) {
		var entry []string
		copied := map[string]bool{}
		for _, in := range final.Instructions {
			switch in.Cmd {
			case "ENTRYPOINT":
				if err := json.Unmarshal([]byte(in.Args), &entry); err != nil {
					t.Errorf("line %d: ENTRYPOINT %s is not the exec (JSON) form: %v; without a shell in the image the shell form cannot run", in.Line, in.Args, err)
				}
			case "COPY":
				f := strings.Fields(in.Args)
				copied[f[len(f)-1]] = true
			}
		}
		if len(entry) != 1 || filepath.Base(entry[0]) != "dpstats" || !copied[entry[0]] {
			t.Errorf("ENTRYPOINT %q, want exactly the dpstats binary COPY'd into the runtime stage (so `docker run IMAGE demo` works)", entry)
		}
	})

	t.Run("Go version matches go.mod", func(t *testing.T) {
		gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go ([0-9.]+)$`).FindSubmatch(gomod)
		if m == nil {
			t.Fatal("no go directive in go.mod")
		}
		data, err := os.ReadFile("Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		a := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindSubmatch(data)
		if a == nil {
			t.Fatal("no ARG GO_VERSION=... in the Dockerfile")
		}
		if got, want := string(a[1]), string(m[1]); got != want {
			t.Errorf("Dockerfile GO_VERSION %s, want go.mod's %s", got, want)
		}
	})
}
