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

// Duplicate is an input dropped because it names a file already listed:
// the same file (device and inode, os.SameFile), however it is spelled
// (relative or absolute, through a symlink or "..", a hard link, or a
// directory and a file inside it). Reading it twice would count its events
// twice.
type Duplicate struct {
	Path   string // the spelling dropped
	SameAs string // the spelling kept: the first that names the file
}

// ExpandInputs turns command-line inputs into a list of files. Each argument
// is a file, a directory (its regular files, sorted by name, not recursive,
// dotfiles skipped) or a glob pattern (filepath.Match syntax; matches sorted).
// An argument that names nothing gives an error wrapping ErrInputMissing.
// A URI (gs://bucket/object, see IsRemote) is kept as given: not globbed,
// not listed as a directory, not checked for existence, and a duplicate
// only when spelled the same.
// A file named more than once, in any spelling, is returned once, at its
// first position (see Duplicate; ExpandInputsDedup also says which
// spellings were dropped).
func ExpandInputs(args []string) ([]string, error) {
	files, _, err := ExpandInputsDedup(args)
	return files, err
}

// ExpandInputsDedup is ExpandInputs that also returns the spellings it
// dropped because they name a file already in the list, in argument order.
func ExpandInputsDedup(args []string) ([]string, []Duplicate, error) {
	if len(args) == 0 {
		return nil, nil, fmt.Errorf("%w: no inputs given", ErrInputMissing)
	}
	var set fileSet
	for _, arg := range args {
		if IsRemote(arg) {
			set.addRemote(arg)
			continue
		}
		paths := []string{arg}
		isGlob := strings.ContainsAny(arg, "*?[")
		if isGlob {
			m, err := filepath.Glob(arg)
			if err != nil {
				return nil, nil, fmt.Errorf("%q: %w: %w", arg, ErrBadPattern, err)
			}
			if len(m) == 0 {
				return nil, nil, fmt.Errorf("%q: %w: pattern matches no file", arg, ErrInputMissing)
			}
			sort.Strings(m)
			paths = m
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return nil, nil, openErr(err)
			}
			if !st.IsDir() {
				if !st.Mode().IsRegular() && !isGlob {
					return nil, nil, &InputError{File: p, RowGroup: -1, Err: errors.New("not a regular file or directory")}
				}
				if st.Mode().IsRegular() {
					set.add(p, st)
				}
				continue
			}
			entries, err := os.ReadDir(p)
			if err != nil {
				return nil, nil, fmt.Errorf("read directory: %w", openErr(err))
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
				set.add(fp, info)
			}
			if found == 0 && !isGlob {
				// A run over an empty export directory is a mistake
				// (a failed export upstream): say so.
				return nil, nil, fmt.Errorf("%s: %w: directory holds no files", p, ErrInputMissing)
			}
		}
	}
	return set.paths, set.dups, nil
}

// UniqueInputs drops every Input on disk that names the same file as an
// earlier one (see Duplicate), keeping the order of the rest. In-memory
// Inputs (Data set) have no file identity and are all kept; remote Inputs
// (URIs, see IsRemote) are not looked at: one is dropped only when an
// earlier one has the same name. An input on disk that cannot be found is
// an error wrapping ErrInputMissing.
func UniqueInputs(in []Input) ([]Input, []Duplicate, error) {
	var set fileSet
	out := make([]Input, 0, len(in))
	for _, x := range in {
		if x.Data != nil {
			out = append(out, x)
			continue
		}
		if x.IsRemote() {
			if set.addRemote(x.Name) {
				out = append(out, x)
			}
			continue
		}
		st, err := os.Stat(x.Name)
		if err != nil {
			return nil, nil, openErr(err)
		}
		if set.add(x.Name, st) {
			out = append(out, x)
		}
	}
	return out, set.dups, nil
}

// fileSet collects paths, keeping the first of every file (by identity).
type fileSet struct {
	paths []string
	dups  []Duplicate
	byKey map[fileKey]int // index in paths, where the platform has keys
	infos []os.FileInfo   // parallel to paths, for os.SameFile elsewhere
	uris  map[string]int  // index in paths of each remote input
}

// addRemote adds a URI unless the same string is already in the set (a
// Duplicate then); it reports whether uri was added. Nothing is looked up:
// two spellings of one object (gs://b/x and gs://b//x) are both kept.
func (s *fileSet) addRemote(uri string) bool {
	if i, seen := s.uris[uri]; seen {
		s.dups = append(s.dups, Duplicate{Path: uri, SameAs: s.paths[i]})
		return false
	}
	if s.uris == nil {
		s.uris = make(map[string]int)
	}
	s.uris[uri] = len(s.paths)
	s.paths = append(s.paths, uri)
	s.infos = append(s.infos, nil)
	return true
}

// add adds path unless it names a file already in the set (recorded as a
// Duplicate then); it reports whether path was added.
func (s *fileSet) add(path string, st os.FileInfo) bool {
	if k, ok := fileKeyOf(st); ok {
		if s.byKey == nil {
			s.byKey = make(map[fileKey]int)
		}
		if i, seen := s.byKey[k]; seen {
			s.dups = append(s.dups, Duplicate{Path: path, SameAs: s.paths[i]})
			return false
		}
		s.byKey[k] = len(s.paths)
	} else {
		for i, prev := range s.infos {
			if prev != nil && os.SameFile(prev, st) {
				s.dups = append(s.dups, Duplicate{Path: path, SameAs: s.paths[i]})
				return false
			}
		}
	}
	s.paths = append(s.paths, path)
	s.infos = append(s.infos, st)
	return true
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
