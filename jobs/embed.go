package jobs

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// builtinSpecs holds the job specs dpstats ships.
//
//go:embed playback-daily.yaml
var builtinSpecs embed.FS

// BuiltinSpec returns the text of the shipped job spec called name
// ("playback-daily", with or without ".yaml"), and whether it exists.
func BuiltinSpec(name string) ([]byte, bool) {
	name = strings.TrimSuffix(name, ".yaml")
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, false
	}
	data, err := builtinSpecs.ReadFile(name + ".yaml")
	if err != nil {
		return nil, false
	}
	return data, true
}

// BuiltinSpecs returns the names of the shipped job specs, sorted.
func BuiltinSpecs() []string {
	entries, err := fs.ReadDir(builtinSpecs, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}
