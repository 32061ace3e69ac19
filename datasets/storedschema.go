package datasets

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// checkStoredArrowSchema validates the Arrow schema a Parquet writer may
// store in the footer (key ARROW:schema, an IPC schema message in base64),
// which pqarrow decodes with an IPC reader that has no size limits: a forged
// body length there makes it allocate hundreds of GiB at once, a fatal
// out-of-memory that no recover catches (found by FuzzOpenRawUser). The
// message must fit in its bytes, body included, and its schema must pass
// checkSchema. A value that is not base64 is left to pqarrow to report.
func checkStoredArrowSchema(kv metadata.KeyValueMetadata) error {
	if kv == nil {
		return nil
	}
	v := kv.FindValue("ARROW:schema")
	if v == nil {
		return nil
	}
	// Decoded as pqarrow does (getOriginSchema).
	var decoded []byte
	var err error
	if len(*v)%4 == 0 {
		decoded, err = base64.StdEncoding.DecodeString(*v)
	}
	if len(decoded) == 0 || err != nil {
		decoded, err = base64.RawStdEncoding.DecodeString(*v)
	}
	if err != nil {
		return nil
	}
	bad := fmt.Errorf("%w: the Arrow schema stored in the Parquet footer is malformed", ErrCorrupt)
	b := fbuf(decoded)
	pos := 4
	n, err := b.u32(0)
	if err != nil {
		return bad
	}
	if n == 0xFFFFFFFF {
		if n, err = b.u32(4); err != nil {
			return bad
		}
		pos = 8
	}
	if int32(uint32(n)) < 4 || n > len(decoded)-pos {
		return bad
	}
	msg := fbuf(decoded[pos : pos+n])
	root, err := msg.deref(0)
	if err != nil {
		return bad
	}
	if f, err := msg.field(root, 3); err != nil { // Message.bodyLength (int64)
		return bad
	} else if f != 0 {
		lo, err1 := msg.u32(f)
		hi, err2 := msg.u32(f + 4)
		if err1 != nil || err2 != nil {
			return bad
		}
		if body := uint64(hi)<<32 | uint64(lo); body > uint64(len(decoded)-pos-n) {
			return bad
		}
	}
	if err := checkArrowStreamSchema(bytes.NewReader(decoded), int64(len(decoded))); err != nil {
		return fmt.Errorf("%w: %w", bad, err)
	}
	return nil
}
