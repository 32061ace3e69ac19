package datasets

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Format is the container format of an input file, detected from its content.
type Format int

const (
	FormatUnknown Format = iota
	FormatParquet
	FormatArrowFile   // Arrow IPC file format ("ARROW1" magic, random access)
	FormatArrowStream // Arrow IPC stream format (sequence of messages)
)

func (f Format) String() string {
	switch f {
	case FormatParquet:
		return "parquet"
	case FormatArrowFile:
		return "arrow-file"
	case FormatArrowStream:
		return "arrow-stream"
	default:
		return "unknown"
	}
}

var (
	parquetMagic    = []byte("PAR1")
	parquetEncMagic = []byte("PARE")
	arrowMagic      = []byte("ARROW1")
)

// DetectFormat reports the format of the file at path from its magic bytes,
// not its name: "PAR1" at both ends is Parquet, "ARROW1" at the start is an
// Arrow IPC file, and a message continuation marker (0xFFFFFFFF) or a
// plausible legacy length prefix at the start is an Arrow IPC stream.
func DetectFormat(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return FormatUnknown, openErr(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return FormatUnknown, err
	}
	format, err := detectFormat(f, st.Size())
	if err != nil {
		return FormatUnknown, fmt.Errorf("%s: %w", path, err)
	}
	return format, nil
}

// detectFormat inspects the first and last bytes of r.
func detectFormat(r io.ReaderAt, size int64) (Format, error) {
	if size <= 0 {
		return FormatUnknown, fmt.Errorf("%w: empty file", ErrFormat)
	}
	head := make([]byte, min(size, 8))
	if _, err := r.ReadAt(head, 0); err != nil && err != io.EOF {
		return FormatUnknown, fmt.Errorf("read header: %w", err)
	}
	var tail []byte
	if size >= 8 {
		tail = make([]byte, 4)
		if _, err := r.ReadAt(tail, size-4); err != nil && err != io.EOF {
			return FormatUnknown, fmt.Errorf("read trailer: %w", err)
		}
	}
	switch {
	case bytes.HasPrefix(head, parquetMagic) || bytes.HasPrefix(head, parquetEncMagic):
		if size < 12 || !(bytes.Equal(tail, parquetMagic) || bytes.Equal(tail, parquetEncMagic)) {
			return FormatUnknown, fmt.Errorf("%w: Parquet header but no Parquet footer magic (truncated file?)", ErrFormat)
		}
		return FormatParquet, nil
	case bytes.HasPrefix(head, arrowMagic):
		return FormatArrowFile, nil
	case len(head) >= 4:
		n := binary.LittleEndian.Uint32(head[:4])
		if n == 0xFFFFFFFF {
			return FormatArrowStream, nil
		}
		// Legacy (pre-0.15) streams start directly with the int32 metadata length.
		if int32(n) > 0 && int64(n)+4 <= size {
			return FormatArrowStream, nil
		}
	}
	return FormatUnknown, fmt.Errorf("%w: not Parquet or Arrow IPC (no known magic bytes)", ErrFormat)
}
