package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// File is the embedded ledger: one append-only JSON-lines file on local disk
// plus a lock file "<path>.lock" that serializes release protocols on one
// machine (flock; it does not work across NFS). See the package
// documentation for the format and the crash rules.
type File struct {
	path     string
	lockPath string

	// sync makes a write durable; tests replace it to simulate failures.
	sync func(*os.File) error
	// now is the clock used when an appended entry has no Time.
	now func() time.Time
}

var _ Ledger = (*File)(nil)

// ErrNoLedger means the ledger file does not exist. A release never creates
// one: a missing ledger is a lost or misplaced one until an operator says
// otherwise with Init (dpstats ledger init). It matches fs.ErrNotExist too.
var ErrNoLedger = errors.New("the ledger does not exist")

// noLedgerError is ErrNoLedger for one path; errors.Is matches ErrNoLedger
// and fs.ErrNotExist.
type noLedgerError struct{ path string }

func (e *noLedgerError) Error() string {
	return fmt.Sprintf("%s: %s (create it once with `dpstats ledger init --ledger %s`; if releases were made "+
		"with this population before, restore their ledger instead: an empty one forgets their spend)", e.path, ErrNoLedger, e.path)
}

func (e *noLedgerError) Is(target error) bool {
	return target == ErrNoLedger || target == fs.ErrNotExist
}

// Open returns the existing ledger stored at path. It never creates the
// ledger: a missing file is an error matching ErrNoLedger (see Init). The
// lock file "<path>.lock" is created next to it if needed.
func Open(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("ledger path is empty")
	}
	f := newFile(path)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &noLedgerError{path}
	}
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("ledger %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	if err := f.touchLock(); err != nil {
		return nil, err
	}
	return f, nil
}

// Init creates the ledger at path, empty, if it does not exist: the file
// with mode 0600, fsynced with its directory (which must exist), and the
// lock file beside it. On an existing ledger it changes nothing (it does
// not even create a missing lock file) and only checks that the ledger
// parses: created is false, and a ledger that does not parse is an error
// matching ErrCorrupt. Init is safe to repeat, and safe against a
// concurrent Init of the same path.
func Init(path string) (f *File, created bool, err error) {
	if path == "" {
		return nil, false, errors.New("empty ledger path")
	}
	f = newFile(path)
	created, err = f.create()
	if err != nil {
		return nil, false, fmt.Errorf("create ledger %s: %w", path, err)
	}
	if !created {
		if _, err := ReadEntries(path); err != nil {
			return nil, false, err
		}
		return f, false, nil
	}
	if err := f.touchLock(); err != nil {
		return nil, true, err
	}
	return f, true, nil
}

func newFile(path string) *File {
	return &File{path: path, lockPath: path + ".lock", sync: (*os.File).Sync, now: time.Now}
}

func (f *File) touchLock() error {
	lf, err := os.OpenFile(f.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ledger %s: lock file: %w", f.path, err)
	}
	if err := lf.Close(); err != nil {
		return fmt.Errorf("ledger %s: lock file: %w", f.path, err)
	}
	return nil
}

// Path returns the ledger file's path.
func (f *File) Path() string { return f.path }

// create makes the ledger file if it does not exist, and reports whether it
// did.
func (f *File) create() (bool, error) {
	fi, err := os.Stat(f.path)
	if err == nil {
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
		}
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	lf, err := os.OpenFile(f.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, nil // another process created it first
	}
	if err != nil {
		return false, err
	}
	// The umask can only narrow 0600; make it exactly 0600 anyway so that
	// the owner can always append.
	err = errors.Join(lf.Chmod(0o600), f.sync(lf), lf.Close())
	if err == nil {
		err = syncDir(filepath.Dir(f.path))
	}
	if err != nil {
		// A ledger that may not survive a crash is no ledger: remove it, so
		// that a retry creates it again instead of trusting it.
		os.Remove(f.path)
		return false, err
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// Lock takes the ledger's exclusive lock and reads the ledger. If another
// holder has it, Lock returns an error wrapping ErrLocked at once when ctx has
// no deadline, or after polling until ctx is done. A ledger that does not
// parse returns an error wrapping ErrCorrupt (a *CorruptError).
func (f *File) Lock(ctx context.Context) (Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	lf, err := os.OpenFile(f.lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	if err := flockWait(ctx, lf); err != nil {
		holder := readHolder(lf)
		lf.Close()
		if errors.Is(err, ErrLocked) && holder != "" {
			return nil, fmt.Errorf("ledger %s: %w (held by %s)", f.path, err, holder)
		}
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	// Record who holds the lock, for the ErrLocked message of others. This
	// is a diagnostic only; a failure here does not matter.
	if lf.Truncate(0) == nil {
		lf.WriteAt([]byte(fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))), 0)
	}
	tx := &fileTx{file: f, lock: lf}
	if err := tx.load(); err != nil {
		tx.Unlock()
		if errors.Is(err, ErrNoLedger) {
			return nil, err // it names the path
		}
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	return tx, nil
}

// flockWait takes an exclusive flock on lf. If it is held, it polls until ctx
// is done when ctx has a deadline, and gives up at once otherwise.
func flockWait(ctx context.Context, lf *os.File) error {
	_, hasDeadline := ctx.Deadline()
	wait := 2 * time.Millisecond
	for {
		err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("flock: %w", err)
		case !hasDeadline:
			return ErrLocked
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

func readHolder(lf *os.File) string {
	b := make([]byte, 128)
	n, _ := lf.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}

// fileTx is a locked File.
type fileTx struct {
	file *File
	lock *os.File

	mu       sync.Mutex
	led      *os.File // O_RDWR|O_APPEND; nil after Unlock
	entries  []Entry
	tornTail bool  // the file does not end with a newline
	broken   error // a failed Append: the file's tail is unknown
}

func (tx *fileTx) load() error {
	// No O_CREATE: a ledger that vanished must not silently restart empty.
	led, err := os.OpenFile(tx.file.path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return &noLedgerError{tx.file.path}
	}
	if err != nil {
		return err
	}
	tx.led = led
	fi, err := led.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file (%v)", fi.Mode().Type())
	}
	data, err := io.ReadAll(led)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	tx.entries, err = parse(data, fi.ModTime(), tx.file.path)
	if err != nil {
		return err
	}
	tx.tornTail = len(data) > 0 && data[len(data)-1] != '\n'
	return nil
}

func (tx *fileTx) Entries() ([]Entry, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.led == nil {
		return nil, ErrClosed
	}
	out := make([]Entry, len(tx.entries))
	for i, e := range tx.entries {
		e.Metrics = slices.Clone(e.Metrics)
		out[i] = e
	}
	return out, nil
}

func (tx *fileTx) Released(job, period string) (Entry, bool) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return released(tx.entries, job, period)
}

func released(entries []Entry, job, period string) (Entry, bool) {
	for i := len(entries) - 1; i >= 0; i-- {
		if e := entries[i]; e.Job == job && e.Period == period {
			e.Metrics = slices.Clone(e.Metrics)
			return e, true
		}
	}
	return Entry{}, false
}

func (tx *fileTx) Spent(now time.Time, window time.Duration) (eps, delta float64) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return spent(tx.entries, now, window).floats()
}

func (tx *fileTx) Append(e Entry) error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	path := tx.file.path
	switch {
	case tx.led == nil:
		return fmt.Errorf("ledger %s: append: %w", path, ErrClosed)
	case tx.broken != nil:
		return fmt.Errorf("ledger %s: append: an earlier append failed, lock the ledger again: %w", path, tx.broken)
	}
	if e.Time.IsZero() {
		e.Time = tx.file.now()
	}
	e.Time = e.Time.UTC()
	e.Metrics = slices.Clone(e.Metrics)
	e.Torn, e.Line = false, 0
	if err := validate(e); err != nil {
		return fmt.Errorf("ledger %s: append: %w", path, err)
	}
	var buf []byte
	if tx.tornTail {
		buf = append(buf, '\n') // end the torn record; it stays charged
	}
	buf = appendRecord(buf, e)
	_, err := tx.led.Write(buf) // one write(2) on O_APPEND: one whole line
	if err == nil {
		err = tx.file.sync(tx.led)
	}
	// Whether or not it failed, the line may be on disk: count it.
	e.Line = 1
	if n := len(tx.entries); n > 0 {
		e.Line = tx.entries[n-1].Line + 1
	}
	tx.entries = append(tx.entries, e)
	tx.tornTail = false
	if err != nil {
		tx.broken = err
		return fmt.Errorf("ledger %s: append: %w", path, err)
	}
	return nil
}

func (tx *fileTx) Unlock() error {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if tx.lock == nil {
		return nil
	}
	var errs []error
	if tx.led != nil {
		errs = append(errs, tx.led.Close())
		tx.led = nil
	}
	// Closing the descriptor releases the flock too; unlock explicitly so an
	// error is seen.
	errs = append(errs, syscall.Flock(int(tx.lock.Fd()), syscall.LOCK_UN), tx.lock.Close())
	tx.lock = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ledger %s: unlock: %w", tx.file.path, err)
	}
	return nil
}

// Entries reads the ledger without taking the lock, for display (dpstats
// budget). A release protocol must use Lock instead.
func (f *File) Entries() ([]Entry, error) {
	return ReadEntries(f.path)
}

// ReadEntries reads the ledger file at path without opening it for
// writing, creating anything or locking: for display (dpstats budget) from
// a read-only mount or a backup copy. A missing file is an error.
func ReadEntries(path string) ([]Entry, error) {
	f := &File{path: path}
	led, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	defer led.Close()
	fi, err := led.Stat()
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	data, err := io.ReadAll(led)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	entries, err := parse(data, fi.ModTime(), f.path)
	if err != nil {
		return nil, fmt.Errorf("ledger %s: %w", f.path, err)
	}
	return entries, nil
}
