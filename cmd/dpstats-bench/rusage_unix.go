//go:build unix

package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

func sysUsage(ps *os.ProcessState) (usage, error) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return usage{}, fmt.Errorf("no rusage for pid %d", ps.Pid())
	}
	return fromRusage(ru, runtime.GOOS), nil
}

// fromRusage converts getrusage(2)'s fields. ru_maxrss is in KiB on Linux
// and the BSDs but in bytes on macOS.
func fromRusage(ru *syscall.Rusage, goos string) usage {
	rss := int64(ru.Maxrss)
	if goos != "darwin" && goos != "ios" {
		rss *= 1024
	}
	return usage{
		User:   time.Duration(ru.Utime.Nano()),
		Sys:    time.Duration(ru.Stime.Nano()),
		MaxRSS: rss,
	}
}

// selfMaxRSS is this process's own peak RSS in bytes, or 0.
func selfMaxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return fromRusage(&ru, runtime.GOOS).MaxRSS
}
