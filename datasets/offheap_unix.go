//go:build unix

package datasets

import "syscall"

// mapZeroed returns size bytes of zeroed anonymous memory outside the Go
// heap, or nil if the OS refuses (the caller then uses the heap).
func mapZeroed(size int) []byte {
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil
	}
	if size >= hugePageMin {
		adviseHugePages(mem)
	}
	return mem
}

// hugePageMin is the smallest map worth huge pages (several of 2 MiB).
const hugePageMin = 8 << 20

func unmap(mem []byte) { _ = syscall.Munmap(mem) }
