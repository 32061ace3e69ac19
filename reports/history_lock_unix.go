//go:build unix

package reports

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockIndex takes an exclusive lock on jobDir/.index.lock (flock), waiting
// for another regeneration of the same job to finish. The lock file is
// empty and stays; the lock goes with the process if it dies.
func lockIndex(jobDir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(jobDir, ".index.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
