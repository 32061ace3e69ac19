package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The real explain output of playback-daily (a golden file of package jobs):
// the floor's projection is the union of its statistics' columns.
func TestParseExplainPlaybackDaily(t *testing.T) {
	data, err := os.ReadFile("../../jobs/testdata/explain/playback-daily.json")
	if err != nil {
		t.Skipf("jobs' explain golden file: %v", err)
	}
	j, err := parseExplain(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"user_id", "event_time", "device_type", "platform", "video_codec", "audio_codec",
		"container", "resolution", "media_type", "decision", "bitrate_kbps", "duration_s"}
	if !reflect.DeepEqual(j.Columns, want) {
		t.Errorf("Columns = %q, want %q", j.Columns, want)
	}
	if j.Name != "playback-daily" || len(j.Warnings) != 0 {
		t.Errorf("Name = %q, Warnings = %q", j.Name, j.Warnings)
	}
}

func TestParseExplain(t *testing.T) {
	j, err := parseExplain([]byte(testExplain))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"user_id", "event_time", "device_type", "bitrate_kbps"}; !reflect.DeepEqual(j.Columns, want) {
		t.Errorf("Columns = %q, want %q", j.Columns, want)
	}

	j, err = parseExplain([]byte(`{"columns_read": ["a", "b"], "statistics": [{"name": "s", "columns": ["a", "c"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Warnings) != 1 || !strings.Contains(j.Warnings[0], "columns_read says a,b") {
		t.Errorf("Warnings = %q, want one about columns_read", j.Warnings)
	}

	for _, bad := range []string{`not json`, `{}`, `{"statistics": []}`, `{"statistics": [{"name": "s"}]}`} {
		if _, err := parseExplain([]byte(bad)); err == nil {
			t.Errorf("parseExplain(%s) succeeded, want an error", bad)
		}
	}
}

func TestScanFloor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.parquet")
	if err := writeEvents(path, 2500); err != nil {
		t.Fatal(err)
	}
	// 3 row groups: 1, 2 and more goroutines than groups read them all.
	for _, g := range []int{1, 2, 5} {
		rows, err := scanFloor(testContext(t), path, []string{"user_id", "event_time", "device_type"}, g)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 2500 {
			t.Errorf("scanFloor on %d goroutines read %d rows, want 2500", g, rows)
		}
	}
	if n, err := parquetRows(path); err != nil || n != 2500 {
		t.Errorf("parquetRows = %d, %v; want 2500", n, err)
	}
	if _, err := scanFloor(testContext(t), path, []string{"user_id", "nope"}, 2); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("scanFloor of a missing column: err = %v, want one naming it", err)
	}
	notParquet := filepath.Join(t.TempDir(), "x.parquet")
	os.WriteFile(notParquet, []byte("hello"), 0o644)
	if _, err := scanFloor(testContext(t), notParquet, []string{"user_id"}, 1); err == nil {
		t.Error("scanFloor of a non-Parquet file succeeded")
	}
	if _, err := parquetRows(notParquet); err == nil {
		t.Error("parquetRows of a non-Parquet file succeeded")
	}
}

func TestParseFloorOutput(t *testing.T) {
	if n, err := parseFloorOutput([]byte("rows 10000000\n")); err != nil || n != 10_000_000 {
		t.Errorf("parseFloorOutput = %d, %v", n, err)
	}
	for _, bad := range []string{"", "rows", "rows x", "10"} {
		if _, err := parseFloorOutput([]byte(bad)); err == nil {
			t.Errorf("parseFloorOutput(%q) succeeded", bad)
		}
	}
}
