package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// dataset is one size's generated export in the cache.
type dataset struct {
	Size         size
	Dir          string
	Events       string // Dir/events.parquet
	Consent      string // Dir/consent.parquet
	Rows         int64  // from the events file's Parquet footer
	EventsBytes  int64
	ConsentBytes int64
	// Gen is the generation's usage, or zero when the cache was reused.
	Gen usage
}

// markerName is written after a complete generation; a directory without
// it (an interrupted gen) is not trusted.
const markerName = "complete.json"

// marker records how a cached export was made and how big its files were,
// so that a different request or a truncated file is regenerated.
type marker struct {
	Args         []string  `json:"args"` // gen's arguments without --out
	EventsBytes  int64     `json:"events_bytes"`
	ConsentBytes int64     `json:"consent_bytes"`
	Rows         int64     `json:"rows"`
	Generator    string    `json:"generator"` // `dpstats --version`, for information
	Finished     time.Time `json:"finished"`
}

// genArgs are the arguments of `dpstats gen` for a size, without --out.
func genArgs(o options, s size) []string {
	return []string{"gen",
		"--rows", strconv.FormatInt(s.Rows, 10),
		"--users", strconv.FormatInt(s.Users, 10),
		"--days", "1",
		"--start", o.Period,
		"--seed", strconv.FormatInt(o.Seed, 10),
		"--format", "parquet",
	}
}

// cachedDataset returns the size's export if the cache holds a complete
// one made with the same arguments, or ok false.
func cachedDataset(dir string, args []string) (d dataset, ok bool) {
	data, err := os.ReadFile(filepath.Join(dir, markerName))
	if err != nil {
		return d, false
	}
	var m marker
	if json.Unmarshal(data, &m) != nil || !slices.Equal(m.Args, args) {
		return d, false
	}
	d = dataset{Dir: dir, Events: filepath.Join(dir, "events.parquet"), Consent: filepath.Join(dir, "consent.parquet")}
	if d.EventsBytes, ok = fileSize(d.Events, m.EventsBytes); !ok {
		return d, false
	}
	if d.ConsentBytes, ok = fileSize(d.Consent, m.ConsentBytes); !ok {
		return d, false
	}
	return d, true
}

func fileSize(path string, want int64) (int64, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != want {
		return 0, false
	}
	return fi.Size(), true
}

// ensureDataset returns the size's export, generating it with `dpstats gen`
// unless the cache already holds it. Progress goes to log.
func ensureDataset(ctx context.Context, o options, s size, version string, log io.Writer) (dataset, error) {
	dir := filepath.Join(o.Cache, s.dirName())
	args := genArgs(o, s)
	if d, ok := cachedDataset(dir, args); ok {
		d.Size = s
		var err error
		if d.Rows, err = parquetRows(d.Events); err != nil {
			return dataset{}, err
		}
		fmt.Fprintf(log, "bench: %s: using the cached export in %s\n", s, dir)
		return d, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dataset{}, err
	}
	// Distrust the directory until the new marker is written.
	if err := os.Remove(filepath.Join(dir, markerName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return dataset{}, err
	}
	fmt.Fprintf(log, "bench: %s: generating %d events of %d users into %s ...\n", s, s.Rows, s.Users, dir)
	u, _, err := runChild(ctx, child{Name: "gen " + s.String(), Path: o.Bin, Args: append(slices.Clone(args), "--out", dir)})
	if err != nil {
		return dataset{}, err
	}
	d := dataset{Size: s, Dir: dir, Events: filepath.Join(dir, "events.parquet"), Consent: filepath.Join(dir, "consent.parquet"), Gen: u}
	for _, f := range []struct {
		path string
		n    *int64
	}{{d.Events, &d.EventsBytes}, {d.Consent, &d.ConsentBytes}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			return dataset{}, fmt.Errorf("gen %s: %w", s, err)
		}
		*f.n = fi.Size()
	}
	if d.Rows, err = parquetRows(d.Events); err != nil {
		return dataset{}, err
	}
	if d.Rows != s.Rows {
		return dataset{}, fmt.Errorf("gen %s: %s has %d rows, want %d", s, d.Events, d.Rows, s.Rows)
	}
	m := marker{Args: args, EventsBytes: d.EventsBytes, ConsentBytes: d.ConsentBytes, Rows: d.Rows, Generator: version, Finished: time.Now().UTC()}
	if err := writeFileAtomic(filepath.Join(dir, markerName), m); err != nil {
		return dataset{}, err
	}
	fmt.Fprintf(log, "bench: %s: generated in %.1f s (%s events, %s consent)\n", s, u.Wall.Seconds(), formatBytes(d.EventsBytes), formatBytes(d.ConsentBytes))
	return d, nil
}

func writeFileAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".marker-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
