package sample

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/dpstats/dpstats/datasets"
)

var update = flag.Bool("update", false, "regenerate events.parquet and consent.parquet")

func options() datasets.GenOptions {
	return datasets.GenOptions{Rows: Rows, Users: Users, Days: Days, Start: Start, Seed: Seed, NullUsers: NullUsers}
}

// TestSample checks that the embedded files hold the rows the generator
// produces for the sample's options (compared row by row, column by column,
// so a new arrow-go version that encodes pages differently still passes).
// With -update it rewrites them.
func TestSample(t *testing.T) {
	var ev, co bytes.Buffer
	if err := datasets.Generate(options(), &ev, &co); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("events.parquet", ev.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("consent.parquet", co.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	tests := []struct {
		name      string
		got, want []byte
	}{
		{EventsName, Events(), ev.Bytes()},
		{ConsentName, Consent(), co.Bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := sameRows(t, tt.got, tt.want); n == 0 {
				t.Errorf("no rows")
			}
		})
	}
}

// sameRows reads both files fully and compares every batch; it returns the
// number of rows.
func sameRows(t *testing.T, got, want []byte) int64 {
	t.Helper()
	open := func(name string, b []byte) *datasets.Scanner {
		s, err := datasets.OpenReaderAt(name, bytes.NewReader(b), int64(len(b)), datasets.ScanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	g, w := open("embedded", got), open("regenerated", want)
	defer g.Close()
	defer w.Close()
	if !g.Schema().Equal(w.Schema()) {
		t.Fatalf("schema differs:\nembedded:    %s\nregenerated: %s\nrun go generate ./datasets/sample", g.Schema(), w.Schema())
	}
	var rows int64
	for {
		gok, wok := g.Scan(), w.Scan()
		if gok != wok {
			t.Fatalf("different number of batches after %d rows; run go generate ./datasets/sample", rows)
		}
		if !gok {
			break
		}
		if !array.RecordEqual(g.Record(), w.Record()) {
			t.Fatalf("rows differ in the batch after row %d; run go generate ./datasets/sample", rows)
		}
		rows += g.Record().NumRows()
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// The embedded sample reads through the real event reader and consent
// loader, with the shapes the pipeline relies on.
func TestEmbeddedReads(t *testing.T) {
	users := datasets.NewUserIndex()
	c, err := datasets.LoadConsentFrom([]datasets.Input{datasets.BytesInput(ConsentName, Consent())}, users, End, datasets.ConsentColumns{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := datasets.NewEventReaderFrom([]datasets.Input{datasets.BytesInput(EventsName, Events())}, datasets.EventSpec{
		User: "user_id", Time: "event_time", Dimensions: []string{"device_type"},
		Start: Start, End: End,
	}, users)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var kept, allowed int
	g := c.Grants(datasets.CategoryPlayback)
	for r.Scan() {
		b := r.Batch()
		for _, u := range b.Users {
			kept++
			if g.Allowed(u) {
				allowed++
			}
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	counts := r.ExactCounts()
	if got, want := counts.Rows, int64(Rows); got != want {
		t.Errorf("rows = %d, want %d", got, want)
	}
	if counts.NullUser == 0 {
		t.Errorf("sample has no null users; the pipeline's skip path goes untested")
	}
	// Users have a grant with p = 0.77, but events are heavy-tailed per user,
	// so only a loose bound on the event share is meaningful.
	if share := float64(allowed) / float64(kept); share < 0.5 || share > 0.97 {
		t.Errorf("share of events from users with a playback grant = %.3f, want within [0.5, 0.97]", share)
	}
	t.Logf("rows %d, kept %d, events with grant %d, users %d", counts.Rows, kept, allowed, users.Len())
}
