package dp

import "testing"

func TestClampedWarning(t *testing.T) {
	for n, want := range map[int]string{
		1: "1 partition had a negative noisy value, shown as 0",
		2: "2 partitions had a negative noisy value, shown as 0",
	} {
		if got := clampedWarning(n); got != want {
			t.Errorf("clampedWarning(%d) = %q, want %q", n, got, want)
		}
	}
}
