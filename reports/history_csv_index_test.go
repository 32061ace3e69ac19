package reports

import "testing"

// TestHistoryColumnIndices: the column indices a gap row fills name the
// columns they are meant to.
func TestHistoryColumnIndices(t *testing.T) {
	for _, c := range []struct {
		i    int
		name string
	}{{colChangeOf, "change_of"}, {colPrevPeriod, "prev_period"}, {colWeekPeriod, "week_period"}} {
		if got := HistoryCSVColumns[c.i]; got != c.name {
			t.Errorf("HistoryCSVColumns[%d] = %q, want %q", c.i, got, c.name)
		}
	}
}
