//go:build !unix

package main

import (
	"fmt"
	"os"
	"runtime"
)

func sysUsage(*os.ProcessState) (usage, error) {
	return usage{}, fmt.Errorf("peak RSS of a child is not available on %s (needs getrusage)", runtime.GOOS)
}

func selfMaxRSS() int64 { return 0 }
