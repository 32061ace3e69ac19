package jobs

import (
	"reflect"
	"testing"
	"time"

	"github.com/dpstats/dpstats/datasets"
)

// TestFillBatchJoinsDecodedBatches reads the same events in decoded batches
// of 7 rows, one by one and joined by fillBatch into batches of at least 50
// rows: the rows (users, codes, numbers, validity, times) are the same, in
// the same order, and every joined batch but the last holds at least 50.
func TestFillBatchJoinsDecodedBatches(t *testing.T) {
	evs, _ := population(300)
	in := []datasets.Input{eventsFile(t, evs)}
	plan, err := exactSpec(t).compile()
	if err != nil {
		t.Fatal(err)
	}
	spec := plan.events
	spec.Start, spec.End = day, day.Add(24*time.Hour)
	spec.BatchSize, spec.CodesOnly, spec.Times = 7, true, true

	type rows struct {
		Users []uint32
		Codes [][]int32
		Nums  [][]int64
		Valid [][]bool
		Times []int64
	}
	add := func(o *rows, b *datasets.EventBatch) {
		o.Users = append(o.Users, b.Users[:b.Len]...)
		o.Times = append(o.Times, b.Times[:b.Len]...)
		if o.Codes == nil {
			o.Codes, o.Nums, o.Valid = make([][]int32, len(b.Codes)), make([][]int64, len(b.Numbers)), make([][]bool, len(b.Numbers))
		}
		for d := range b.Codes {
			o.Codes[d] = append(o.Codes[d], b.Codes[d][:b.Len]...)
		}
		for k := range b.Numbers {
			o.Nums[k] = append(o.Nums[k], b.Numbers[k][:b.Len]...)
			o.Valid[k] = append(o.Valid[k], b.NumberValid[k][:b.Len]...)
		}
	}
	open := func() *datasets.EventReader {
		r, err := datasets.NewEventReaderFrom(in, spec, datasets.NewUserIndex())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}

	var want rows
	r := open()
	var b datasets.EventBatch
	for r.ScanInto(&b) {
		add(&want, &b)
	}
	var got rows
	var lens []int
	r = open()
	var joined, tmp datasets.EventBatch
	for fillBatch(r, &joined, &tmp, 50) {
		lens = append(lens, joined.Len)
		add(&got, &joined)
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want.Users) < 200 || len(lens) < 3 {
		t.Fatalf("fixture too small: %d rows, %d joined batches", len(want.Users), len(lens))
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("joined batches hold other rows than the decoded ones")
	}
	for i, n := range lens[:len(lens)-1] {
		if n < 50 {
			t.Errorf("joined batch %d holds %d rows, want ≥ 50 (lengths %v)", i, n, lens)
		}
	}
}
