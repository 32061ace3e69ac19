package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"

	"github.com/dpstats/dpstats/datasets"
)

// openInput returns the input at path: a local path (on a filesystem the
// workers mount) is read in place; a path with a scheme (gs://…) is read
// through Beam's filesystems into memory first (Parquet needs random
// access), so such a file must fit in a worker's memory.
func openInput(ctx context.Context, path string) (datasets.Input, error) {
	if !strings.Contains(path, "://") {
		return datasets.Input{Name: path}, nil
	}
	fs, err := filesystem.New(ctx, path)
	if err != nil {
		return datasets.Input{}, &datasets.InputError{File: path, RowGroup: -1, Err: err}
	}
	defer fs.Close()
	rc, err := fs.OpenRead(ctx, path)
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
