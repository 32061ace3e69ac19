//go:build unix

package datasets

import (
	"os"
	"syscall"
)

// fileKey is a file's identity: its device and inode, what os.SameFile
// compares on Unix, usable as a map key.
type fileKey struct{ dev, ino uint64 }

func fileKeyOf(st os.FileInfo) (fileKey, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(sys.Dev), ino: uint64(sys.Ino)}, true
}
