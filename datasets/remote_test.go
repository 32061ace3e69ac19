package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestIsRemote(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want bool
	}{
		{"gs://bucket/events/2026-11-01.parquet", true},
		{"memfs://events.parquet", true},
		{"s3://b/k", true},
		{"GS://bucket/x", true},
		{"x+y.z-w://a", true},
		{"file:///data/events.parquet", true},
		{"gs://", true},
		{"events.parquet", false},
		{"/data/events.parquet", false},
		{"./gs://x", false}, // a relative local path
		{"1gs://x", false},  // a scheme starts with a letter
		{"g_s://x", false},  // "_" is not a scheme character
		{"gs:/bucket/x", false},
		{"C:\\data\\x.parquet", false},
		{"data/*.parquet", false},
		{"", false},
	} {
		if got := IsRemote(c.arg); got != c.want {
			t.Errorf("IsRemote(%q) = %v, want %v", c.arg, got, c.want)
		}
	}
	if (Input{Name: "memfs://x", Data: new(os.File)}).IsRemote() {
		t.Error("an in-memory Input named like a URI counts as remote")
	}
	if !RemoteInput("gs://b/x").IsRemote() {
		t.Error("RemoteInput is not remote")
	}
}

// URIs pass through ExpandInputsDedup unexpanded and unchecked, in argument
// order among local files, and are deduplicated by their exact spelling.
func TestExpandInputsRemotePassThrough(t *testing.T) {
	dir := t.TempDir()
	local := filepath.Join(dir, "a.parquet")
	if err := os.WriteFile(local, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		args     []string
		want     []string
		wantDups []Duplicate
	}{
		{"one uri", []string{"gs://b/events/2026-11-01.parquet"}, []string{"gs://b/events/2026-11-01.parquet"}, nil},
		{"glob characters kept", []string{"gs://b/events/*.parquet"}, []string{"gs://b/events/*.parquet"}, nil},
		{"directory kept", []string{"gs://b/events/"}, []string{"gs://b/events/"}, nil},
		{"mixed with local, order kept", []string{"gs://b/x", local, "memfs://y"}, []string{"gs://b/x", local, "memfs://y"}, nil},
		{"exact duplicate dropped", []string{"gs://b/x", "memfs://y", "gs://b/x"}, []string{"gs://b/x", "memfs://y"},
			[]Duplicate{{Path: "gs://b/x", SameAs: "gs://b/x"}}},
		{"other spellings kept", []string{"gs://b/x", "gs://b//x", "GS://b/x"}, []string{"gs://b/x", "gs://b//x", "GS://b/x"}, nil},
		{"local dedup still works", []string{local, "gs://b/x", filepath.Join(dir, ".", "a.parquet")}, []string{local, "gs://b/x"},
			[]Duplicate{{Path: filepath.Join(dir, ".", "a.parquet"), SameAs: local}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, dups, err := ExpandInputsDedup(c.args)
			if err != nil {
				t.Fatalf("ExpandInputsDedup(%q): %v", c.args, err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("files = %q, want %q", got, c.want)
			}
			if !slices.Equal(dups, c.wantDups) {
				t.Errorf("dups = %v, want %v", dups, c.wantDups)
			}
			in, _, err := FileInputsDedup(c.args)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range in {
				if x.IsRemote() != IsRemote(x.Name) {
					t.Errorf("input %q: IsRemote = %v", x.Name, x.IsRemote())
				}
			}
		})
	}
	// A missing local file next to a URI is still missing.
	if _, _, err := ExpandInputsDedup([]string{"gs://b/x", filepath.Join(dir, "nope.parquet")}); !errors.Is(err, ErrInputMissing) {
		t.Errorf("missing local file next to a URI: err = %v, want ErrInputMissing", err)
	}
}

func TestUniqueInputsRemote(t *testing.T) {
	in := []Input{RemoteInput("gs://b/x"), RemoteInput("memfs://nowhere"), RemoteInput("gs://b/x"), BytesInput("gs://b/x", []byte("y"))}
	got, dups, err := UniqueInputs(in)
	if err != nil {
		t.Fatalf("UniqueInputs stat'ed a remote input: %v", err)
	}
	var names []string
	for _, x := range got {
		names = append(names, x.Name)
	}
	if want := []string{"gs://b/x", "memfs://nowhere", "gs://b/x"}; !slices.Equal(names, want) || got[2].Data == nil {
		t.Errorf("kept %q, want %q with the in-memory one last", names, want)
	}
	if want := []Duplicate{{Path: "gs://b/x", SameAs: "gs://b/x"}}; !slices.Equal(dups, want) {
		t.Errorf("dups = %v, want %v", dups, want)
	}
}

// The local readers refuse a remote input, naming it, with ErrRemoteInput.
func TestLocalReadersRefuseRemote(t *testing.T) {
	_, err := ColumnType(RemoteInput("gs://b/events.parquet"), "user_id")
	var ie *InputError
	if !errors.Is(err, ErrRemoteInput) || !errors.As(err, &ie) || ie.File != "gs://b/events.parquet" {
		t.Fatalf("ColumnType(remote) = %v, want an InputError naming the URI wrapping ErrRemoteInput", err)
	}
	if _, err := LoadConsent([]string{"gs://b/consent.parquet"}, NewUserIndex(), time.Now(), ConsentColumns{}); !errors.Is(err, ErrRemoteInput) {
		t.Errorf("LoadConsent(remote) = %v, want ErrRemoteInput", err)
	}
}
