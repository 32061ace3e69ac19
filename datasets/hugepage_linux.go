package datasets

import "syscall"

// adviseHugePages asks Linux to back mem with transparent huge pages (when
// the system's policy is "madvise", the usual default). The user table of
// 10⁶ users spans 10⁸ bytes probed at random: with 4 KiB pages nearly every
// probe also misses the TLB. Advice only: an error changes nothing.
func adviseHugePages(mem []byte) { _ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }
