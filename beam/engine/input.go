package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	// The filesystems inputs and the staging location may be on: gs://
	// (Dataflow) and local paths.
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"

	"github.com/dpstats/dpstats/datasets"
	"github.com/dpstats/dpstats/jobs"
)

// openInput returns the input at path: a local path (on a filesystem the
// workers mount) is read in place; a path with a scheme (gs://…) is read
// through Beam's filesystems into memory first (Parquet needs random
// access), so such a file must fit in a worker's memory.
func openInput(ctx context.Context, path string) (datasets.Input, error) {
	if !strings.Contains(path, "://") {
		return datasets.Input{Name: path}, nil
	}
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return datasets.Input{}, &datasets.InputError{File: path, RowGroup: -1, Err: err}
	}
	defer fsys.Close()
	rc, err := fsys.OpenRead(ctx, path)
	if err != nil {
		return datasets.Input{}, &datasets.InputError{File: path, RowGroup: -1, Err: err}
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return datasets.Input{}, &datasets.InputError{File: path, RowGroup: -1, Err: fmt.Errorf("read: %w", err)}
	}
	return datasets.Input{Name: path, Data: bytes.NewReader(b), Size: int64(len(b))}, nil
}

// checkRemote checks, without reading a byte of it, that each remote input
// (a URI, datasets.IsRemote) is on a filesystem this binary has (gs://,
// local paths; memfs:// in tests) and exists there: one metadata request
// per file (the filesystem's Size; on GCS an object's attributes). Local
// paths were checked by the driver. It refuses an unknown scheme with
// jobs.ErrConfig and a missing or unreadable file with an
// *datasets.InputError naming it (ErrInputMissing, ErrInputUnreadable).
func checkRemote(ctx context.Context, inputs []datasets.Input) error {
	for _, in := range inputs {
		if !in.IsRemote() {
			continue
		}
		fsys, err := filesystem.New(ctx, in.Name)
		if err != nil {
			return fmt.Errorf("%w: input %s: the beam engine has no filesystem for its scheme (it reads gs:// and local paths)",
				jobs.ErrConfig, in.Name)
		}
		_, err = fsys.Size(ctx, in.Name)
		fsys.Close()
		switch {
		case err == nil:
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, storage.ErrObjectNotExist), errors.Is(err, storage.ErrBucketNotExist):
			return &datasets.InputError{File: in.Name, RowGroup: -1, Err: datasets.ErrInputMissing}
		default:
			return &datasets.InputError{File: in.Name, RowGroup: -1, Err: fmt.Errorf("%w: %w", datasets.ErrInputUnreadable, err)}
		}
	}
	return nil
}
