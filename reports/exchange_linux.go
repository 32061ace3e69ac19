package reports

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// exchangeDirs atomically swaps the directories a and b
// (renameat2 RENAME_EXCHANGE, Linux 3.15+, on ext4, xfs, btrfs, tmpfs and
// most others). There is no fallback: a two-step swap has an instant with
// no report, which a crash can make permanent.
func exchangeDirs(a, b string) error {
	if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchange %s and %s (renameat2 RENAME_EXCHANGE): %w", a, b, err)
	}
	return nil
}
