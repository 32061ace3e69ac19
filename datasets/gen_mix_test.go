package datasets

import (
	"bytes"
	"io"
	"math"
	"testing"
)

func TestGenerateMediaTypeWeightsValidation(t *testing.T) {
	for _, tt := range []struct {
		name string
		w    []float64
		ok   bool
	}{
		{"default", nil, true},
		{"movies only", []float64{1, 0, 0, 0, 0}, true},
		{"four weights", []float64{1, 1, 1, 1}, false},
		{"negative", []float64{1, -1, 1, 1, 1}, false},
		{"all zero", []float64{0, 0, 0, 0, 0}, false},
		{"NaN", []float64{math.NaN(), 1, 1, 1, 1}, false},
		{"infinite", []float64{math.Inf(1), 1, 1, 1, 1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Generate(GenOptions{Rows: 10, Users: 2, MediaTypeWeights: tt.w}, io.Discard, io.Discard)
			if got := err == nil; got != tt.ok {
				t.Errorf("Generate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// mediaShares reads the media_type column of a generated export.
func mediaShares(t *testing.T, opt GenOptions) map[string]float64 {
	t.Helper()
	ev, _ := genBytes(t, opt)
	r, err := NewEventReaderFrom([]Input{BytesInput("events", ev)},
		EventSpec{User: "user_id", Time: "event_time", Dimensions: []string{"media_type"}, Start: DefaultGenStart, End: opt.RunDate()}, NewUserIndex())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	counts := map[string]float64{}
	var n float64
	for r.Scan() {
		b := r.Batch()
		for i := 0; i < b.Len; i++ {
			counts[b.Dims[0][i]]++
			n++
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	for k := range counts {
		counts[k] /= n
	}
	return counts
}

// TestGenerateMediaTypeWeights: the default weights give the same bytes as
// before the option existed (spelled out), and other weights move the mix.
func TestGenerateMediaTypeWeights(t *testing.T) {
	base := GenOptions{Rows: 20_000, Users: 2_000, Seed: 11}
	explicit := base
	explicit.MediaTypeWeights = []float64{0.30, 0.45, 0.13, 0.05, 0.07}
	a, _ := genBytes(t, base)
	b, _ := genBytes(t, explicit)
	if !bytes.Equal(a, b) {
		t.Error("explicit default weights give other bytes than the default")
	}
	movies := base
	movies.MediaTypeWeights = []float64{0.60, 0.15, 0.13, 0.05, 0.07}
	// 20,000 rows: a share's standard deviation is below 0.0035; 0.02 is
	// more than 5.7 of them.
	for _, tt := range []struct {
		opt       GenOptions
		wantMovie float64
	}{{base, 0.30}, {movies, 0.60}} {
		got := mediaShares(t, tt.opt)["movie"]
		if math.Abs(got-tt.wantMovie) > 0.02 {
			t.Errorf("weights %v: movie share %.3f, want %.2f ± 0.02", tt.opt.MediaTypeWeights, got, tt.wantMovie)
		}
	}
}
