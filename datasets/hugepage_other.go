//go:build !linux

package datasets

func adviseHugePages([]byte) {}
