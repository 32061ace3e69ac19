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
		return nil, fmt.Errorf("%w: no inputs given", ErrInputMissing)
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
				return nil, fmt.Errorf("%q: %w: %w", arg, ErrBadPattern, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%q: %w: pattern matches no file", arg, ErrInputMissing)
			}
			sort.Strings(m)
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, openErr(err)
			}
			if !st.IsDir() {
				if !st.Mode().IsRegular() && !isGlob {
					return nil, &InputError{File: p, RowGroup: -1, Err: errors.New("not a regular file or directory")}
				}
				if st.Mode().IsRegular() {
					add(p)
				}
				continue
			}
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, fmt.Errorf("read directory: %w", openErr(err))
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
				return nil, fmt.Errorf("%s: %w: directory holds no files", p, ErrInputMissing)
			}
		}
	}
	return out, nil
}

// openErr maps "does not exist" to ErrInputMissing and "permission
// denied" to ErrInputUnreadable, keeping the path.
func openErr(err error) error {
	var pe *fs.PathError
	switch {
	case !errors.As(err, &pe):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", pe.Path, ErrInputMissing)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: %w: %w", pe.Path, ErrInputUnreadable, pe.Err)
	}
	return err
}

// fileErr is openErr without the path, for an *InputError that names the
// file itself.
func fileErr(err error) error {
	var pe *fs.PathError
	switch {
	case !errors.As(err, &pe):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return ErrInputMissing
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %w", ErrInputUnreadable, pe.Err)
	}
	return err
}
