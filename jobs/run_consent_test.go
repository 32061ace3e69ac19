package jobs

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"
)

// TestRunConsentLooksForward runs the whole pipeline at a huge ε (see
// exactSpec: every count is exact to within 0.01, with false-failure
// probability below e⁻⁶⁰⁰ per value) over users whose consent histories
// are adversarial: each user has one "tv" event at 06:00 and one "phone"
// event at 18:00 of the period's day, so device_users counts, per device,
// the users whose event at that time may count.
func TestRunConsentLooksForward(t *testing.T) {
	week := day.Add(-7 * 24 * time.Hour)
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	type history struct {
		name      string
		records   func(user string) []grant // product_usage records, in file order
		tv, phone bool                      // may the 06:00 / 18:00 event count?
	}
	pu := "product_usage"
	histories := []history{
		{"granted a week before", func(u string) []grant { return []grant{{u, pu, true, week}} }, true, true},
		{"granted at 12:00", func(u string) []grant { return []grant{{u, pu, true, at(12)}} }, false, true},
		{"withdrawal dated after the run", func(u string) []grant {
			return []grant{{u, pu, true, week}, {u, pu, false, afterDay.Add(48 * time.Hour)}}
		}, false, false},
		{"grant dated after the run", func(u string) []grant { return []grant{{u, pu, true, afterDay.Add(time.Hour)}} }, false, false},
		{"granted after the period, before the run", func(u string) []grant { return []grant{{u, pu, true, at(30)}} }, false, false},
		{"withdrew at 12:00", func(u string) []grant { return []grant{{u, pu, true, week}, {u, pu, false, at(12)}} }, false, false},
		// Grant, withdraw, grant again: the first grant was revoked; the
		// records come out of time order, the withdrawal last.
		{"grant, withdrawal at 03:00, grant again at 12:00", func(u string) []grant {
			return []grant{{u, pu, true, at(12)}, {u, pu, true, week}, {u, pu, true, at(1)}, {u, pu, false, at(3)}}
		}, false, true},
		{"grant, withdrawal at 12:00, grant again at 20:00", func(u string) []grant {
			return []grant{{u, pu, true, at(20)}, {u, pu, true, week}, {u, pu, false, at(12)}}
		}, false, false},
	}
	const perHistory = 3
	var evs []event
	var gs []grant
	wantTV, wantPhone := 0.0, 0.0
	for i, h := range histories {
		for k := range perHistory {
			u := fmt.Sprintf("h%d-%d", i, k)
			evs = append(evs, event{user: u, at: at(6), device: "tv", codec: "h264", bitrate: 100, durSec: 60},
				event{user: u, at: at(18), device: "phone", codec: "h264", bitrate: 100, durSec: 60})
			gs = append(gs, h.records(u)...)
			if h.tv {
				wantTV++
			}
			if h.phone {
				wantPhone++
			}
		}
	}
	// Rows sorted by time (all 06:00 events first), so that sorting each
	// batch by user reorders them: the event times must travel with
	// their rows.
	var sorted []event
	for _, hour := range []int{6, 18} {
		for _, e := range evs {
			if e.at.Equal(at(hour)) {
				sorted = append(sorted, e)
			}
		}
	}
	for _, tc := range []struct {
		workers, batch int
	}{{1, 0}, {2, 5}, {3, 1}} {
		t.Run(fmt.Sprintf("workers %d batch %d", tc.workers, tc.batch), func(t *testing.T) {
			h := newHarness(t)
			cfg := h.with(exactSpec(t), sorted, gs)
			cfg.Workers, cfg.batchSize = tc.workers, tc.batch
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, values := readReport(t, res.Dir)
			for p, want := range map[string]float64{"tv": wantTV, "phone": wantPhone, "other": 0} {
				if got := values["device_users"][p]; math.Abs(got-want) > 0.01 {
					t.Errorf("device_users[%s] = %v, want %v ± 0.01", p, got, want)
				}
			}
			// device_share: max_partitions 1, so each counted user adds
			// one event, to tv or phone.
			total := values["device_share"]["tv"] + values["device_share"]["phone"] + values["device_share"]["other"]
			if want := float64(perHistory * 3); math.Abs(total-want) > 0.03 {
				t.Errorf("device_share total = %v, want %v ± 0.03 (the users with a countable event)", total, want)
			}
			if got := values["device_share"]["tv"]; got > wantTV+0.01 {
				t.Errorf("device_share[tv] = %v, more than the %v users whose 06:00 event may count", got, wantTV)
			}
		})
	}
}
