package datasets

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b := mk("d/b.parquet")
	a := mk("d/a.parquet")
	mk("d/.hidden")
	mk("d/sub/c.parquet") // not recursive
	single := mk("one.arrow")
	g1 := mk("g/x-1.parquet")
	g2 := mk("g/x-2.parquet")
	mk("g/y.parquet")
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr error
	}{
		{"file", []string{single}, []string{single}, nil},
		{"directory sorted, no dotfiles, not recursive", []string{filepath.Join(dir, "d")}, []string{a, b}, nil},
		{"glob", []string{filepath.Join(dir, "g", "x-*.parquet")}, []string{g1, g2}, nil},
		{"mixed, duplicates once", []string{single, filepath.Join(dir, "d"), a}, []string{single, a, b}, nil},
		{"missing file", []string{filepath.Join(dir, "nope.parquet")}, nil, ErrInputMissing},
		{"glob matching nothing", []string{filepath.Join(dir, "g", "z*")}, nil, ErrInputMissing},
		{"empty directory", []string{filepath.Join(dir, "empty")}, nil, ErrInputMissing},
		{"no arguments", nil, nil, ErrInputMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandInputs(tt.args)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Join(got, "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
	t.Run("missing error names the path", func(t *testing.T) {
		p := filepath.Join(dir, "nope.parquet")
		_, err := ExpandInputs([]string{p})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("error %v should name %s", err, p)
		}
	})
}

// TestExpandInputsSameFile names one file in every spelling a user might
// type or a deployment might produce: each must be read once, at the first
// position it is named, and every dropped spelling reported.
func TestExpandInputsSameFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(data, "x.parquet")
	y := filepath.Join(data, "y.parquet")
	for _, p := range []string{x, y} {
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link.parquet")
	if err := os.Symlink(x, link); err != nil {
		t.Fatal(err)
	}
	dirLink := filepath.Join(dir, "datalink")
	if err := os.Symlink(data, dirLink); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.parquet")
	if err := os.Link(x, hard); err != nil {
		t.Fatal(err)
	}
	// A copy has the same bytes but is another file: it is kept.
	cp := filepath.Join(dir, "copy.parquet")
	if err := os.WriteFile(cp, []byte(x), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("data", "x.parquet")

	tests := []struct {
		name     string
		args     []string
		want     []string
		wantDups []Duplicate
	}{
		{"relative and absolute", []string{rel, x}, []string{rel}, []Duplicate{{x, rel}}},
		{"absolute and relative", []string{x, rel}, []string{x}, []Duplicate{{rel, x}}},
		{"symlink", []string{x, link}, []string{x}, []Duplicate{{link, x}}},
		{"symlink first", []string{link, x}, []string{link}, []Duplicate{{x, link}}},
		{"dot-dot", []string{x, "data/../data/x.parquet"}, []string{x}, []Duplicate{{"data/../data/x.parquet", x}}},
		{"dot", []string{"./data/x.parquet", rel}, []string{"./data/x.parquet"}, []Duplicate{{rel, "./data/x.parquet"}}},
		{"hard link", []string{x, hard}, []string{x}, []Duplicate{{hard, x}}},
		{"directory then a file in it", []string{data, x}, []string{x, y}, []Duplicate{{x, x}}},
		{"file then its directory", []string{rel, "data"}, []string{rel, filepath.Join("data", "y.parquet")},
			[]Duplicate{{filepath.Join("data", "x.parquet"), rel}}},
		{"directory twice, spelled differently", []string{data, "data/", dirLink}, []string{x, y}, []Duplicate{
			{rel, x}, {filepath.Join("data", "y.parquet"), y}, {filepath.Join(dirLink, "x.parquet"), x}, {filepath.Join(dirLink, "y.parquet"), y}}},
		{"glob and file", []string{filepath.Join(data, "*.parquet"), link}, []string{x, y}, []Duplicate{{link, x}}},
		{"a copy is another file", []string{x, cp}, []string{x, cp}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dups, err := ExpandInputsDedup(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := strings.Join(got, "\n"), strings.Join(tt.want, "\n"); g != w {
				t.Errorf("files:\n%s\nwant\n%s", g, w)
			}
			if fmt.Sprint(dups) != fmt.Sprint(tt.wantDups) {
				t.Errorf("dropped %v, want %v", dups, tt.wantDups)
			}
			plain, err := ExpandInputs(tt.args)
			if err != nil || !slices.Equal(plain, got) {
				t.Errorf("ExpandInputs = %q, %v; want %q", plain, err, got)
			}
			in, err := FileInputs(tt.args)
			if err != nil || len(in) != len(got) {
				t.Errorf("FileInputs = %d inputs, %v; want %d", len(in), err, len(got))
			}
		})
	}
}

func TestUniqueInputs(t *testing.T) {
	dir := t.TempDir()
	x := filepath.Join(dir, "x.parquet")
	if err := os.WriteFile(x, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l.parquet")
	if err := os.Symlink(x, link); err != nil {
		t.Fatal(err)
	}
	mem := BytesInput("x.parquet", []byte("x"))
	in := []Input{{Name: x}, mem, {Name: link}, mem, {Name: dir + "/./x.parquet"}}
	got, dups, err := UniqueInputs(in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, g.Name)
	}
	// In-memory inputs have no file identity: they are all kept.
	if want := []string{x, "x.parquet", "x.parquet"}; !slices.Equal(names, want) {
		t.Errorf("kept %q, want %q", names, want)
	}
	if want := []Duplicate{{link, x}, {dir + "/./x.parquet", x}}; !slices.Equal(dups, want) {
		t.Errorf("dropped %v, want %v", dups, want)
	}
	if _, _, err := UniqueInputs([]Input{{Name: filepath.Join(dir, "gone.parquet")}}); !errors.Is(err, ErrInputMissing) {
		t.Errorf("a missing input: err = %v, want ErrInputMissing", err)
	}
}
