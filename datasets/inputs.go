package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ExpandInputs turns command-line inputs into a list of files. Each argument
// is a file, a directory (its regular files, sorted by name, not recursive,
// dotfiles skipped) or a glob pattern (filepath.Match syntax; matches sorted).
// An argument that names nothing gives an error wrapping ErrInputMissing.
// A file listed twice is returned once, at its first position.
func ExpandInputs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("ExpandInputs: %w: no inputs given", ErrInputMissing)
	}
	var out []string
	seen := make(map[string]bool)
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, arg := range args {
		paths := []string{arg}
		isGlob := strings.ContainsAny(arg, "*?[")
		if isGlob {
			m, err := filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("ExpandInputs: bad pattern %q: %w", arg, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("ExpandInputs: %q: %w: pattern matches no file", arg, ErrInputMissing)
			}
			sort.Strings(m)
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("ExpandInputs: %w", openErr(err))
			}
			if !st.IsDir() {
				if !st.Mode().IsRegular() && !isGlob {
					return nil, fmt.Errorf("ExpandInputs: %s: not a regular file or directory", p)
				}
				if st.Mode().IsRegular() {
					add(p)
				}
				continue
			}
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("ExpandInputs: read directory: %w", err)
			}
			found := 0
			for _, e := range entries { // ReadDir sorts by name
				if strings.HasPrefix(e.Name(), ".") {
					continue
				}
				fp := filepath.Join(p, e.Name())
				info, err := os.Stat(fp) // follow symlinks
				if err != nil || !info.Mode().IsRegular() {
					continue
				}
				found++
				add(fp)
			}
			if found == 0 && !isGlob {
				// A run over an empty export directory is a mistake
				// (a failed export upstream): say so.
				return nil, fmt.Errorf("ExpandInputs: %s: %w: directory holds no files", p, ErrInputMissing)
			}
		}
	}
	return out, nil
}

// openErr maps "does not exist" to ErrInputMissing, keeping the path.
func openErr(err error) error {
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, ErrInputMissing)
	}
	return err
}
