package datasets

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDetectFormat(t *testing.T) {
	files := testFiles(t)
	for want, path := range files {
		t.Run(want.String(), func(t *testing.T) {
			got, err := DetectFormat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("DetectFormat = %v, want %v", got, want)
			}
		})
	}
	dir := t.TempDir()
	bad := map[string][]byte{
		"empty":             {},
		"text":              []byte("user_id,device\n1,roku\n"),
		"parquet head only": []byte("PAR1\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
		"parquet tail only": []byte("\x00\x00\x00\x00\x00\x00\x00\x00PAR1"),
		"tiny":              []byte("PA"),
		"negative length":   {0x00, 0x00, 0x00, 0x80, 1, 2, 3, 4},
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := DetectFormat(path); !errors.Is(err, ErrFormat) {
				t.Errorf("%v, want ErrFormat", err)
			}
			_, err := Open(path, ScanOptions{})
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrFormat) {
				t.Errorf("Open: %v, want *InputError wrapping ErrFormat", err)
			}
		})
	}
	t.Run("legacy stream prefix", func(t *testing.T) {
		path := filepath.Join(dir, "legacy")
		// pre-0.15 streams start with the int32 metadata length.
		if err := os.WriteFile(path, []byte{0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := DetectFormat(path); err != nil || got != FormatArrowStream {
			t.Errorf("DetectFormat = %v, %v; want arrow-stream", got, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := DetectFormat(filepath.Join(dir, "nope")); !errors.Is(err, ErrInputMissing) {
			t.Errorf("got %v, want ErrInputMissing", err)
		}
	})
}

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{FormatParquet: "parquet", FormatArrowFile: "arrow-file", FormatArrowStream: "arrow-stream", FormatUnknown: "unknown"} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", f, got, want)
		}
	}
}
