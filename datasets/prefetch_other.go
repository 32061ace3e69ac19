//go:build !amd64

package datasets

import "unsafe"

func prefetch(unsafe.Pointer) {}

const havePrefetch = false
