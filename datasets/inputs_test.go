package datasets

import (
	"errors"
	"os"
	"path/filepath"
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
