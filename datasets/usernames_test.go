package datasets

import (
	"fmt"
	"slices"
	"testing"
)

func TestAppendNames(t *testing.T) {
	x := NewUserIndex()
	var want, names []string
	for i := range 3000 {
		id := fmt.Sprintf("user-with-a-long-id-%d", i) // past the inline key size
		if i%3 == 0 {
			id = fmt.Sprint(i)
		}
		if i%3 == 0 && i%2 == 0 {
			x.IntID(int64(i))
		} else {
			x.ID(id)
		}
		want = append(want, id)
		if i%1000 == 999 {
			names = x.AppendNames(names)
		}
	}
	names = x.AppendNames(names)
	if !slices.Equal(names, want) {
		t.Fatalf("names differ from the ids in number order")
	}
	if got := x.AppendNames(names); len(got) != len(want) {
		t.Fatalf("a second call appended %d names", len(got)-len(want))
	}
}
