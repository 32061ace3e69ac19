package engine

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/dpstats/dpstats/dp"
)

// adversarialSpec: a public-partition count and a selected-partition users
// count at a huge ε, so that the noise (Laplace, scale l0·l∞/ε ≤ 10⁻³) is
// far below 1/2 and every released count is the bounded count exactly
// after the library's rounding: P(|noise| ≥ 0.5) = e^(−500) per value.
// Selection uses l0 = 1, where a partition with a single user is kept with
// probability at most δ = 10⁻⁹ (the false-failure rate of that check).
const adversarialSpec = `
version: 1
name: beam-adversarial
period: daily
input: {user: user_id, time: event_time}
privacy: {epsilon: 30000, delta: 1e-9, max_epsilon: 30000, max_delta: 1e-9}
ledger: {cap_epsilon: 100000, cap_delta: 1e-5, window_days: 30}
quality_gate: {min_users: 0}
metrics:
  - name: events_by_device
    description: d
    kind: count
    consent: product_usage
    dimension: device_type
    partitions: [tv, phone, solo_device, wd_device, late_device]
    max_partitions: 1
    max_per_partition: 3
  - name: users_by_device
    description: d
    kind: users
    consent: product_usage
    dimension: device_type
    select_partitions: true
    max_partitions: 1
`

// The consent and contribution-bounding adversarial cases, on the Beam
// engine:
//   - a user with a million events counts at most max_per_partition (3)
//     events, and once in the users count;
//   - a device only one user has gets no partition when partitions are
//     selected, and its public count is that user's bounded count;
//   - a withdrawn consent (even dated after the run), a grant dated in the
//     future, and the events before a grant made during the period are
//     never counted.
func TestAdversarialOnBeam(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events on the direct runner")
	}
	dir := t.TempDir()
	before := day.Add(-10 * 24 * time.Hour)
	var evs []event
	var grants []grant
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	for i := range 100 {
		u := fmt.Sprintf("u%03d", i)
		evs = append(evs, event{u, at(1), "tv", 60}, event{u, at(2), "tv", 60})
		grants = append(grants, grant{u, "product_usage", true, before})
	}
	for i := range 20 {
		u := fmt.Sprintf("p%03d", i)
		evs = append(evs, event{u, at(3), "phone", 60})
		grants = append(grants, grant{u, "product_usage", true, before})
	}
	const heavyEvents = 1_000_000
	for i := range heavyEvents {
		evs = append(evs, event{"heavy", day.Add(time.Duration(i) * 80 * time.Millisecond), "phone", 60})
	}
	grants = append(grants, grant{"heavy", "product_usage", true, before})
	for i := range 5 {
		evs = append(evs, event{"solo", at(4 + i), "solo_device", 60})
	}
	grants = append(grants, grant{"solo", "product_usage", true, before})
	// Withdrawn after granting, the withdrawal dated after the run (a
	// clock ahead): never counted.
	for i := range 10 {
		evs = append(evs, event{"withdrawn", at(5 + i), "wd_device", 60})
	}
	grants = append(grants, grant{"withdrawn", "product_usage", true, before}, grant{"withdrawn", "product_usage", false, now.Add(time.Hour)})
	// A grant dated in the future does not count yet.
	for i := range 10 {
		evs = append(evs, event{"future", at(5 + i), "wd_device", 60})
	}
	grants = append(grants, grant{"future", "product_usage", true, now.Add(time.Hour)})
	// Granted at noon: only the event after the grant counts.
	evs = append(evs, event{"late", at(6), "late_device", 60}, event{"late", at(7), "late_device", 60}, event{"late", at(18), "late_device", 60})
	grants = append(grants, grant{"late", "product_usage", true, at(12)})

	events, consent := filepath.Join(dir, "events.parquet"), filepath.Join(dir, "consent.parquet")
	writeEvents(t, events, evs)
	writeConsent(t, consent, grants)
	spec := parseSpec(t, adversarialSpec)
	rel := aggregate(t, beamEngine(t), engineInput(t, spec, []string{events}, []string{consent}))

	value := func(r *dp.Released, part string) (float64, bool) {
		for _, p := range r.Partitions {
			if p.Name == part {
				return p.Value, true
			}
		}
		return 0, false
	}
	counts, users := rel[0], rel[1]
	for part, want := range map[string]float64{
		"tv":          200,    // 100 users × 2 events
		"phone":       20 + 3, // the heavy user's million events count 3
		"solo_device": 3,      // one user's 5 events, bounded
		"wd_device":   0,      // withdrawn and future grants
		"late_device": 1,      // only the event after the grant
		"other":       0,
	} {
		got, ok := value(counts, part)
		if !ok || math.Abs(got-want) >= 0.5 {
			t.Errorf("events_by_device/%s = %v (released %v), want %v", part, got, ok, want)
		}
	}
	for part, want := range map[string]float64{"tv": 100, "phone": 21} {
		if got, ok := value(users, part); !ok || math.Abs(got-want) >= 0.5 {
			t.Errorf("users_by_device/%s = %v (released %v), want %v", part, got, ok, want)
		}
	}
	for _, part := range []string{"solo_device", "wd_device", "late_device"} {
		if _, ok := value(users, part); ok {
			t.Errorf("users_by_device released partition %q, which at most one consenting user has", part)
		}
	}
	// The caps cut the heavy user (and the solo user, with 5 events) and
	// no one else: 2 of the 123 contributing users (100 + 20 + heavy, solo
	// and late).
	if cc := counts.CapsCut; cc == nil || math.Abs(cc.Users-2) >= 0.5 || math.Abs(cc.Contributing-123) >= 1 {
		t.Errorf("caps cut %+v, want 2 of 123 users", cc)
	}
	// The gate counts every user granted product_usage with an event.
	if pop := rel[2]; len(pop.Partitions) != 1 || math.Abs(pop.Partitions[0].Value-123) >= 0.5 {
		t.Errorf("population %+v, want 123", pop.Partitions)
	}
}
