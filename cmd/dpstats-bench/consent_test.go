package main

import (
	"strings"
	"testing"
	"time"
)

// TestWriteConsentVerdict judges the consent load against its target: the
// fastest load counts, the target is for 2M users and more, and below that
// the line is information only.
func TestWriteConsentVerdict(t *testing.T) {
	loads := func(walls ...time.Duration) []usage {
		var us []usage
		for _, w := range walls {
			us = append(us, usage{Wall: w, User: w, MaxRSS: 100 << 20})
		}
		return us
	}
	for _, tc := range []struct {
		name      string
		users     int64
		walls     []usage
		noTargets bool
		status    string
		text      string
	}{
		{"fast enough", 2_000_000, loads(450*time.Millisecond, 280*time.Millisecond), false, statusPass, "consent of 2M users: load 0.28 s (target ≤ 0.30 s)"},
		{"too slow", 2_000_000, loads(310*time.Millisecond, 900*time.Millisecond), false, statusFail, "consent of 2M users: load 0.31 s (target ≤ 0.30 s)"},
		{"more users", 5_000_000, loads(200 * time.Millisecond), false, statusPass, "consent of 5M users"},
		{"fewer users", 1_000_000, loads(900 * time.Millisecond), false, statusInfo, "consent of 1M users: 0.90 s (the target is for 2M users)"},
		{"no targets", 2_000_000, loads(900 * time.Millisecond), true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			r := consentResult{Size: size{Rows: 10_000_000, Users: tc.users}, Rows: 3_536_914, Loads: tc.walls}
			v, err := writeConsent(&b, r, 300*time.Millisecond, tc.noTargets)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status != tc.status || !strings.Contains(v.Text, tc.text) {
				t.Errorf("verdict = %+v, want %s %q", v, tc.status, tc.text)
			}
			if !strings.Contains(b.String(), "(3,536,914 rows)") {
				t.Errorf("output lacks the row count:\n%s", b.String())
			}
			if tc.noTargets == strings.Contains(b.String(), "consent of ") {
				t.Errorf("noTargets %v, output:\n%s", tc.noTargets, b.String())
			}
		})
	}
}
