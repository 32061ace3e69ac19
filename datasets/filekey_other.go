//go:build !unix

package datasets

import "os"

// fileKey is unused where the platform exposes no device and inode: file
// identity falls back to os.SameFile against every earlier file.
type fileKey struct{}

func fileKeyOf(os.FileInfo) (fileKey, bool) { return fileKey{}, false }
