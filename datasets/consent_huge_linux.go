package datasets

import "syscall"

// adviseHuge asks the kernel to back mem (a memory map) with transparent
// huge pages; an error (an old kernel, huge pages disabled) is ignored.
func adviseHuge(mem []byte) { _ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }
