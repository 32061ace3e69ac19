//go:build unix

package reports

import (
	"os"
	"syscall"
)

// lockIndex takes an exclusive lock (flock) on the job directory itself,
// waiting for another regeneration of the same job to finish. Locking the
// directory leaves no lock file behind; the lock goes with the process if
// it dies.
func lockIndex(jobDir string) (unlock func(), err error) {
	f, err := os.Open(jobDir)
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
