package datasets

import (
	"math"
	"reflect"
	"testing"
)

func TestGeneralizerApply(t *testing.T) {
	bitrate := Generalizer{Step: 500, Min: 0, Max: 40000}
	minute := Generalizer{Step: 60, Min: 0, Max: 4 * 3600}
	tests := []struct {
		name string
		g    Generalizer
		in   int64
		want int64
	}{
		{"round down", bitrate, 1249, 1000},
		{"round half up", bitrate, 1250, 1500},
		{"exact", bitrate, 8000, 8000},
		{"clamp high", bitrate, 123456, 40000},
		{"clamp low", bitrate, -300, 0},
		{"minute", minute, 89, 60},
		{"minute half", minute, 90, 120},
		{"zero", minute, 0, 0},
		{"no step", Generalizer{Min: 10, Max: 20}, 15, 15},
		{"step 1", Generalizer{Step: 1, Min: 10, Max: 20}, 25, 20},
		{"negative rounding", Generalizer{Step: 10, Min: -100, Max: 100}, -14, -10},
		{"negative half", Generalizer{Step: 10, Min: -100, Max: 100}, -15, -10},
		{"negative below half", Generalizer{Step: 10, Min: -100, Max: 100}, -16, -20},
		{"max int no overflow", Generalizer{Step: 1000, Min: 0, Max: math.MaxInt64}, math.MaxInt64, math.MaxInt64},
		{"min int no overflow", Generalizer{Step: 1000, Min: math.MinInt64, Max: 0}, math.MinInt64, math.MinInt64},
		{"rounding past max clamps", Generalizer{Step: 500, Min: 0, Max: 1100}, 1300, 1100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.g.Apply(tt.in), tt.want; got != want {
				t.Errorf("Apply(%d) = %d, want %d", tt.in, got, want)
			}
		})
	}
}

func TestGeneralizerBucketsAndLabels(t *testing.T) {
	g := Generalizer{Step: 500, Min: 0, Max: 40000, Edges: []int64{0, 1000, 3000, 8000}}
	tests := []struct {
		in   int64
		want int
	}{
		{-1, -1}, {0, 0}, {999, 0}, {1000, 1}, {2999, 1}, {3000, 2}, {7999, 2}, {8000, 3}, {40000, 3},
	}
	for _, tt := range tests {
		if got := g.Bucket(tt.in); got != tt.want {
			t.Errorf("Bucket(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if got, want := g.Labels("kbps"), []string{"0–999 kbps", "1000–2999 kbps", "3000–7999 kbps", "≥ 8000 kbps"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Labels = %q, want %q", got, want)
	}
	if got, want := g.Label(0, ""), "0–999"; got != want {
		t.Errorf("Label(0) = %q, want %q", got, want)
	}
	if got, want := g.Label(-1, "s"), "other"; got != want {
		t.Errorf("Label(-1) = %q, want %q", got, want)
	}
	if got, want := (Generalizer{Min: 0, Max: 1}).Bucket(0), -1; got != want {
		t.Errorf("Bucket without edges = %d, want %d", got, want)
	}
	// Every generalized value falls in a bucket when Validate passes.
	for v := int64(-1000); v < 50000; v += 37 {
		if b := g.Bucket(g.Apply(v)); b < 0 || b >= g.NumBuckets() {
			t.Fatalf("Bucket(Apply(%d)) = %d, out of range", v, b)
		}
	}
}

func TestGeneralizerValidate(t *testing.T) {
	tests := []struct {
		name string
		g    Generalizer
		ok   bool
	}{
		{"ok", Generalizer{Step: 60, Min: 0, Max: 3600, Edges: []int64{0, 600}}, true},
		{"ok no edges", Generalizer{Min: 0, Max: 10}, true},
		{"zero value", Generalizer{}, false},
		{"negative step", Generalizer{Step: -1, Min: 0, Max: 10}, false},
		{"min above max", Generalizer{Min: 10, Max: 0}, false},
		{"min equals max", Generalizer{Min: 5, Max: 5}, false},
		{"edges not increasing", Generalizer{Min: 0, Max: 10, Edges: []int64{0, 5, 5}}, false},
		{"edges decreasing", Generalizer{Min: 0, Max: 10, Edges: []int64{5, 0}}, false},
		{"min below first edge", Generalizer{Min: -1, Max: 10, Edges: []int64{0, 5}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.Validate()
			if got, want := err == nil, tt.ok; got != want {
				t.Errorf("Validate() = %v, want ok=%v", err, want)
			}
		})
	}
}
