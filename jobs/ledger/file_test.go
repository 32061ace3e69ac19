package ledger

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTemp(t *testing.T) *File {
	t.Helper()
	f, created, err := Init(filepath.Join(t.TempDir(), "ledger.jsonl"))
	if err != nil || !created {
		t.Fatalf("Init = %v, %v; want a new ledger", created, err)
	}
	return f
}

func lock(t *testing.T, l Ledger) Tx {
	t.Helper()
	tx, err := l.Lock(context.Background())
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	return tx
}

func TestInitCreatesPrivateFiles(t *testing.T) {
	old := setUmask(0) // the file must be 0600 whatever the umask
	defer setUmask(old)
	f := openTemp(t)
	for _, p := range []string{f.Path(), f.Path() + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
			t.Errorf("%s mode = %v, want %v", filepath.Base(p), got, want)
		}
	}
	// Opening again keeps the content.
	tx := lock(t, f)
	if err := tx.Append(Entry{Job: "j", Period: "p", Epsilon: 1, Time: t0}); err != nil {
		t.Fatal(err)
	}
	tx.Unlock()
	f2, err := Open(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	es, err := f2.Entries()
	if err != nil || len(es) != 1 {
		t.Fatalf("Entries after reopen = %v, %v; want one entry", es, err)
	}
}

// TestInitIsIdempotent: Init on an existing ledger changes nothing, not a
// byte, not a modification time, and does not even create a missing lock
// file; on a ledger that does not parse it fails with ErrCorrupt.
func TestInitIsIdempotent(t *testing.T) {
	f := openTemp(t)
	tx := lock(t, f)
	if err := tx.Append(Entry{Job: "j", Period: "p", Epsilon: 1, Time: t0}); err != nil {
		t.Fatal(err)
	}
	tx.Unlock()
	if err := os.Remove(f.Path() + ".lock"); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(f.Path(), old, old); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(f.Path())
	for i := range 2 {
		g, created, err := Init(f.Path())
		if err != nil || created || g == nil {
			t.Fatalf("Init #%d of an existing ledger = %v, %v, %v; want it found, not created", i, g, created, err)
		}
	}
	after, _ := os.ReadFile(f.Path())
	fi, err := os.Stat(f.Path())
	if err != nil || !bytes.Equal(before, after) || !fi.ModTime().Equal(old) || fi.Mode().Perm() != 0o600 {
		t.Errorf("Init changed an existing ledger: %q → %q, mtime %v, mode %v (err %v)", before, after, fi.ModTime(), fi.Mode(), err)
	}
	if _, err := os.Stat(f.Path() + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Init of an existing ledger created its lock file (err %v)", err)
	}

	corrupt := filepath.Join(t.TempDir(), "ledger.jsonl")
	if err := os.WriteFile(corrupt, []byte("not a ledger\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Init(corrupt); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Init of a corrupt ledger = %v, want ErrCorrupt", err)
	}
	if b, _ := os.ReadFile(corrupt); string(b) != "not a ledger\n" {
		t.Errorf("Init changed a corrupt ledger: %q", b)
	}
}

// TestInitConcurrent: many Inits of one path at once all succeed, exactly
// one creates it.
func TestInitConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.jsonl")
	const n = 16
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created[i], errs[i] = Init(path)
		}()
	}
	wg.Wait()
	count := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Init #%d: %v", i, errs[i])
		}
		if created[i] {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d of %d concurrent Inits created the ledger, want 1", count, n)
	}
}

// TestNeverCreatedImplicitly: Open and Lock refuse a ledger that does not
// exist (ErrNoLedger, also fs.ErrNotExist) and create nothing, and a ledger
// deleted under an open File is not recreated by Lock.
func TestNeverCreatedImplicitly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.jsonl")
	_, err := Open(path)
	if !errors.Is(err, ErrNoLedger) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing ledger = %v, want ErrNoLedger", err)
	}
	if !strings.Contains(err.Error(), "dpstats ledger init") || !strings.Contains(err.Error(), path) {
		t.Errorf("the error does not name the path and how to create the ledger: %v", err)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Errorf("Open of a missing ledger created %d files", len(des))
	}

	f := openTemp(t)
	if err := os.Remove(f.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lock(context.Background()); !errors.Is(err, ErrNoLedger) {
		t.Errorf("Lock of a deleted ledger = %v, want ErrNoLedger", err)
	}
	if _, err := os.Stat(f.Path()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lock recreated a deleted ledger (err %v)", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, path string }{
		{"empty path", ""},
		{"missing directory", filepath.Join(dir, "no", "ledger.jsonl")},
		{"a directory", dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(tc.path); err == nil || !strings.Contains(err.Error(), "ledger") {
				t.Errorf("Open(%q) = %v, want an error naming the ledger", tc.path, err)
			}
			if _, _, err := Init(tc.path); err == nil || !strings.Contains(err.Error(), "ledger") {
				t.Errorf("Init(%q) = %v, want an error naming the ledger", tc.path, err)
			}
		})
	}
}

func TestAppendAndRead(t *testing.T) {
	f := openTemp(t)
	f.now = func() time.Time { return t0 }
	tx := lock(t, f)
	if _, ok := tx.Released("playback-daily", "2024-04-30"); ok {
		t.Fatal("Released on an empty ledger")
	}
	e := Entry{Job: "playback-daily", Period: "2024-04-30", RunID: "r1", Epsilon: 1, Delta: 1e-9, Metrics: []string{"codec_share"}}
	if err := tx.Append(e); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got, ok := tx.Released("playback-daily", "2024-04-30")
	if !ok || got.RunID != "r1" || !got.Time.Equal(t0) || got.Line != 1 {
		t.Errorf("Released after Append = %+v, %v", got, ok)
	}
	if eps, delta := tx.Spent(t0, day); eps != 1 || delta != 1e-9 {
		t.Errorf("Spent = %v, %v", eps, delta)
	}
	for _, bad := range []Entry{
		{Period: "p", Epsilon: 1},
		{Job: "j", Epsilon: 1},
		{Job: "j", Period: "p", Epsilon: -1},
		{Job: "j", Period: "p", Epsilon: 1, Delta: 2},
		{Job: "\xff", Period: "p", Epsilon: 1},
	} {
		if err := tx.Append(bad); err == nil {
			t.Errorf("Append(%+v) = nil, want error", bad)
		}
	}
	if err := tx.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Unlock(); err != nil {
		t.Errorf("second Unlock = %v, want nil", err)
	}
	if err := tx.Append(e); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Unlock = %v, want ErrClosed", err)
	}
	if _, err := tx.Entries(); !errors.Is(err, ErrClosed) {
		t.Errorf("Entries after Unlock = %v, want ErrClosed", err)
	}
	data, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":1,"delta":1e-09,"run_id":"r1","rerun":false,"metrics":["codec_share"]}` + "\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant\n%s", data, want)
	}
}

func TestAppendFailsWhenSyncFails(t *testing.T) {
	f := openTemp(t)
	syncs := 0
	errSync := errors.New("EIO")
	f.sync = func(*os.File) error { syncs++; return errSync }
	tx := lock(t, f)
	defer tx.Unlock()
	err := tx.Append(Entry{Job: "j", Period: "p", Epsilon: 1, Time: t0})
	if !errors.Is(err, errSync) {
		t.Fatalf("Append = %v, want the sync error", err)
	}
	if syncs != 1 {
		t.Errorf("sync called %d times, want 1", syncs)
	}
	// The failed release counts as spent and as released: it may be on disk.
	if eps, _ := tx.Spent(t0, day); eps != 1 {
		t.Errorf("Spent after failed Append = %v, want 1", eps)
	}
	if _, ok := tx.Released("j", "p"); !ok {
		t.Error("Released after failed Append = false, want true")
	}
	// And the transaction refuses to go on.
	f.sync = (*os.File).Sync
	if err := tx.Append(Entry{Job: "j", Period: "q", Epsilon: 1, Time: t0}); err == nil {
		t.Error("Append after a failed Append = nil, want error")
	}
}

func TestAppendAfterTornTail(t *testing.T) {
	f := openTemp(t)
	full := appendRecord(nil, Entry{Job: "j", Period: "1", Epsilon: 1, Delta: 0, Time: t0})
	torn := appendRecord(nil, Entry{Job: "j", Period: "2", Epsilon: 2, Delta: 0, Time: t0})[:77] // cut after "delta":0,
	if err := os.WriteFile(f.Path(), append(full, torn...), 0o600); err != nil {
		t.Fatal(err)
	}
	tx := lock(t, f)
	es, _ := tx.Entries()
	if len(es) != 2 || !es[1].Torn || es[1].Epsilon != 2 {
		t.Fatalf("entries = %+v, want a salvaged torn second entry", es)
	}
	if _, ok := tx.Released("j", "2"); !ok {
		t.Error("a torn record with its job and period does not count as released")
	}
	if eps, _ := tx.Spent(t0, day); eps != 3 {
		t.Errorf("Spent = %v, want 3 (the torn record is charged)", eps)
	}
	if err := tx.Append(Entry{Job: "j", Period: "3", Epsilon: 4, Time: t0}); err != nil {
		t.Fatal(err)
	}
	tx.Unlock()

	tx = lock(t, f)
	defer tx.Unlock()
	es, err := tx.Entries()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[2].Period != "3" || es[2].Line != 3 || !es[1].Torn {
		t.Errorf("entries after append = %+v", es)
	}
	if eps, _ := tx.Spent(t0, day); eps != 7 {
		t.Errorf("Spent = %v, want 7", eps)
	}
}

func TestLockRefusesCorruptLedger(t *testing.T) {
	f := openTemp(t)
	full := appendRecord(nil, Entry{Job: "j", Period: "1", Epsilon: 1, Time: t0})
	data := append(append(append([]byte{}, full...), "not json\n"...), full...)
	if err := os.WriteFile(f.Path(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := f.Lock(context.Background())
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 2 {
		t.Fatalf("Lock = %v, want a CorruptError at line 2", err)
	}
	// The lock was given back: once repaired, the ledger locks at once.
	if err := os.WriteFile(f.Path(), full, 0o600); err != nil {
		t.Fatal(err)
	}
	lock(t, f).Unlock()
}

func TestLockRefusesMissingLedger(t *testing.T) {
	f := openTemp(t)
	if err := os.Remove(f.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lock(context.Background()); err == nil {
		t.Fatal("Lock on a deleted ledger = nil; a vanished ledger must not restart empty")
	}
}

func TestLockInProcess(t *testing.T) {
	f := openTemp(t)
	tx := lock(t, f)
	if _, err := f.Lock(context.Background()); !errors.Is(err, ErrLocked) {
		t.Errorf("second Lock = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Lock(ctx)
	if !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with deadline = %v, want ErrLocked and DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("Lock with a 50ms deadline gave up after %v", waited)
	}
	if !strings.Contains(err.Error(), "held by pid") {
		t.Errorf("ErrLocked message %q does not name the holder", err)
	}
	// A waiting Lock gets it when the holder unlocks.
	go func() { time.Sleep(30 * time.Millisecond); tx.Unlock() }()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	tx2, err := f.Lock(ctx2)
	if err != nil {
		t.Fatalf("Lock after Unlock = %v", err)
	}
	tx2.Unlock()
}

func TestCheckWithTornUnknownRecord(t *testing.T) {
	f := openTemp(t)
	full := appendRecord(nil, Entry{Job: "j", Period: "1", Epsilon: 1, Time: t0.Add(-2 * day)})
	torn := appendRecord(nil, Entry{Job: "j", Period: "2", Epsilon: 1, Time: t0.Add(-day)})[:50]
	if err := os.WriteFile(f.Path(), append(full, torn...), 0o600); err != nil {
		t.Fatal(err)
	}
	tx := lock(t, f)
	c := Cap{Epsilon: 10, Delta: 1e-6, Window: 30 * day}
	err := Check(tx, c, t0, 1, 0)
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("Check = %v, want a refusal while a torn record of unknown spend is in the window", err)
	}
	if len(be.UnknownLines) != 1 || be.UnknownLines[0] != 2 || !strings.Contains(be.Hint, "torn by a crash") {
		t.Errorf("refusal %+v does not point at line 2", be)
	}
	if got, want := be.WaitUntil, t0.Add(29*day); !got.Equal(want) {
		t.Errorf("WaitUntil = %v, want %v (the salvaged time + window)", got, want)
	}
	tx.Unlock()
	if err := Check(tx, c, t0, 1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Check on an unlocked Tx = %v, want ErrClosed", err)
	}
}
