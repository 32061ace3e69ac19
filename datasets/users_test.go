package datasets

import (
	"testing"
	"unsafe"
)

func TestUserIndex(t *testing.T) {
	x := NewUserIndex()
	steps := []struct {
		name  string
		do    func() uint32
		want  uint32
		total int
	}{
		{"first string", func() uint32 { return x.ID("u1") }, 0, 1},
		{"same string", func() uint32 { return x.ID("u1") }, 0, 1},
		{"int 42 new", func() uint32 { return x.IntID(42) }, 1, 2},
		{"string 42 is int 42", func() uint32 { return x.ID("42") }, 1, 2},
		{"int 42 again", func() uint32 { return x.IntID(42) }, 1, 2},
		{"string 7 first", func() uint32 { return x.ID("7") }, 2, 3},
		{"int 7 is string 7", func() uint32 { return x.IntID(7) }, 2, 3},
		{"non-canonical 042 is distinct", func() uint32 { return x.ID("042") }, 3, 4},
		{"negative int", func() uint32 { return x.IntID(-5) }, 4, 5},
		{"string -5", func() uint32 { return x.ID("-5") }, 4, 5},
		{"empty string is an id here", func() uint32 { return x.ID("") }, 5, 6},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if got, want := s.do(), s.want; got != want {
				t.Errorf("id = %d, want %d", got, want)
			}
			if got, want := x.Len(), s.total; got != want {
				t.Errorf("Len = %d, want %d", got, want)
			}
		})
	}
}

func TestUserIndexLookupDoesNotInsert(t *testing.T) {
	x := NewUserIndex()
	x.ID("a")
	x.IntID(9)
	tests := []struct {
		name   string
		lookup func() (uint32, bool)
		want   uint32
		ok     bool
	}{
		{"known string", func() (uint32, bool) { return x.Lookup("a") }, 0, true},
		{"unknown string", func() (uint32, bool) { return x.Lookup("b") }, 0, false},
		{"known int", func() (uint32, bool) { return x.LookupInt(9) }, 1, true},
		{"known int by string", func() (uint32, bool) { return x.Lookup("9") }, 1, true},
		{"int inserted as string", func() (uint32, bool) { x.ID("10"); return x.LookupInt(10) }, 2, true},
		{"unknown int", func() (uint32, bool) { return x.LookupInt(11) }, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.lookup()
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("lookup = (%d, %v), want (%d, %v)", got, ok, tt.want, tt.ok)
			}
		})
	}
	if got, want := x.Len(), 3; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
}

// Ids read from Arrow buffers alias memory that is reused after the batch;
// the index must keep its own copies.
func TestUserIndexCopiesKeys(t *testing.T) {
	x := NewUserIndex()
	buf := []byte("user-1")
	x.ID(unsafe.String(&buf[0], len(buf)))
	copy(buf, "XXXXXX")
	if id, ok := x.Lookup("user-1"); !ok || id != 0 {
		t.Errorf("Lookup(user-1) after the source buffer changed = %d, %v; want 0, true", id, ok)
	}
	if _, ok := x.Lookup("XXXXXX"); ok {
		t.Errorf("Lookup(XXXXXX) found a user: the index aliases the caller's buffer")
	}
}
