package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// child is one process to measure.
type child struct {
	Name string // what it is, for messages: "floor", "run", "gen"
	Path string
	Args []string
	// Log, when set, receives the child's stderr as well as the tail kept
	// for error messages.
	Log io.Writer
}

// runChild runs c to completion and returns what the OS says it used, and
// its standard output. A non-zero exit is an error that quotes the end of
// the child's stderr.
func runChild(ctx context.Context, c child) (usage, []byte, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.WaitDelay = 10 * time.Second
	var stdout bytes.Buffer
	errTail := &tailBuffer{max: 4 << 10}
	cmd.Stdout = &stdout
	cmd.Stderr = errTail
	if c.Log != nil {
		cmd.Stderr = io.MultiWriter(errTail, c.Log)
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(errTail.String())
		if msg != "" {
			msg = "\n" + indent(msg, "    ")
		}
		return usage{}, stdout.Bytes(), fmt.Errorf("%s: %s: %w%s", c.Name, commandLine(c.Path, c.Args), err, msg)
	}
	u, err := usageOf(cmd.ProcessState, wall)
	if err != nil {
		return usage{}, stdout.Bytes(), fmt.Errorf("%s: %w", c.Name, err)
	}
	return u, stdout.Bytes(), nil
}

// commandLine is a shell-like rendering of a command for messages.
func commandLine(path string, args []string) string {
	parts := []string{quoteArg(path)}
	for _, a := range args {
		parts = append(parts, quoteArg(a))
	}
	return strings.Join(parts, " ")
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?;&|<>()") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}

// warm reads files to the end so that the page cache holds them and
// neither the floor nor the run pays for the disk.
func warm(paths ...string) error {
	buf := make([]byte, 1<<20)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, onlyReader{f}, buf)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
	}
	return nil
}

// onlyReader hides WriterTo so that CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }
