package dp

import (
	"math"
	"strings"
	"testing"
)

// usersOverlap returns events of 60 users: users 0–44 in partition 0,
// users 30–59 in partition 1 (15 users in both), none in partition 2.
func usersOverlap() (ev []event, perPartition []float64, total float64) {
	for u := uint32(0); u < 60; u++ {
		if u < 45 {
			ev = append(ev, event{u, 0, 0})
		}
		if u >= 30 {
			ev = append(ev, event{u, 1, 0})
		}
	}
	return ev, []float64{45, 30, 0, 0}, 60
}

// TestShareOfUsersCoverage: over many releases of a users metric and of
// the total of its users, the interval of ShareOfUsers holds the true
// share x/t at least at the nominal level. The union bound makes it
// conservative, so the check is one-sided: with n releases, the observed
// coverage of an interval whose true coverage is ≥ 0.95 falls below
// 0.95 − 4.5·√(0.95·0.05/n) with probability < 4e-6 per partition and
// case (12 checks: < 1e-4). The observed coverage is logged; at n = 20000
// it was 0.976–0.996.
func TestShareOfUsersCoverage(t *testing.T) {
	ev, x, tot := usersOverlap()
	n := trials(5000, 2000)
	for _, tc := range []struct {
		name  string
		noise NoiseKind
		delta float64
		eps   float64
	}{
		{"laplace", NoiseLaplace, 0, 0.5},
		{"laplace, little noise", NoiseLaplace, 0, 5},
		{"gaussian", NoiseGaussian, 1e-6, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			part := MetricOptions{Name: "device_users", Kind: KindUsers, Epsilon: tc.eps, Delta: tc.delta, Noise: tc.noise,
				MaxPartitions: 2, Partitions: []string{"a", "b", "c"}}
			total := MetricOptions{Name: "population:usage", Kind: KindUsers, Epsilon: tc.eps, Delta: tc.delta, Noise: tc.noise, MaxPartitions: 1}
			var totalEv []event
			for _, e := range ev {
				totalEv = append(totalEv, event{e.user, 0, 0})
			}
			parts := releaseMany(t, feed(t, part, ev), nil, n)
			totals := releaseMany(t, feed(t, total, totalEv), nil, n)
			for j := range x {
				covered, ok := 0, 0
				for i := range parts {
					s, err := ShareOfUsers(parts[i], j, totals[i])
					if err != nil {
						t.Fatal(err)
					}
					if !s.OK {
						continue
					}
					ok++
					if !(s.Lower <= s.Share && s.Share <= s.Upper && s.Lower >= 0 && s.Upper <= 1) {
						t.Fatalf("partition %d: share %v outside its interval [%v, %v] or [0, 1]", j, s.Share, s.Lower, s.Upper)
					}
					if want := x[j] / tot; s.Lower <= want && want <= s.Upper {
						covered++
					}
				}
				if ok < n*99/100 {
					t.Fatalf("partition %d: only %d of %d releases had a positive total", j, ok, n)
				}
				cov := float64(covered) / float64(ok)
				t.Logf("partition %d (true share %.3f): coverage %.4f over %d releases", j, x[j]/tot, cov, ok)
				if min := 0.95 - 4.5*math.Sqrt(0.95*0.05/float64(ok)); cov < min {
					t.Errorf("partition %d: coverage %.4f < %.4f", j, cov, min)
				}
			}
		})
	}
}

// TestShareOfUsersNotNormalized: the shares of a users metric are of the
// total of users; they add up to more than 1 when users are in several
// partitions. With little noise (ε = 50) the estimate is the exact ratio
// within 0.01.
func TestShareOfUsersNotNormalized(t *testing.T) {
	ev, x, tot := usersOverlap()
	part := MetricOptions{Name: "device_users", Kind: KindUsers, Epsilon: 50, MaxPartitions: 2, Partitions: []string{"a", "b", "c"}}
	total := MetricOptions{Name: "population:usage", Kind: KindUsers, Epsilon: 50, MaxPartitions: 1}
	var totalEv []event
	for _, e := range ev {
		totalEv = append(totalEv, event{e.user, 0, 0})
	}
	pr, err := feed(t, part, ev).Release(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := feed(t, total, totalEv).Release(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for j, p := range pr.Partitions {
		if p.Share != 0 || p.ShareLower != 0 || p.ShareUpper != 0 {
			t.Errorf("users release %s carries a normalized share %v", p.Name, p.Share)
		}
		s, err := ShareOfUsers(pr, j, tr)
		if err != nil || !s.OK {
			t.Fatalf("ShareOfUsers(%d) = %+v, %v", j, s, err)
		}
		if math.Abs(s.Share-x[j]/tot) > 0.01 {
			t.Errorf("%s: share %v, want %v", p.Name, s.Share, x[j]/tot)
		}
		sum += s.Share
	}
	if math.Abs(sum-75.0/60) > 0.03 {
		t.Errorf("shares add up to %v, want 75/60 (15 users in two partitions)", sum)
	}
}

func TestShareOfUsersErrors(t *testing.T) {
	users := MetricOptions{Name: "u", Kind: KindUsers, Epsilon: 1, MaxPartitions: 1, Partitions: []string{"a"}}
	count := MetricOptions{Name: "c", Kind: KindCount, Epsilon: 1, MaxPartitions: 1, MaxPerPartition: 1}
	total := MetricOptions{Name: "t", Kind: KindUsers, Epsilon: 1, MaxPartitions: 1}
	ur, _ := feed(t, users, []event{{0, 0, 0}}).Release(nil)
	cr, _ := feed(t, count, []event{{0, 0, 0}}).Release(nil)
	tr, _ := feed(t, total, []event{{0, 0, 0}}).Release(nil)
	for name, f := range map[string]func() (UserShare, error){
		"count partition":     func() (UserShare, error) { return ShareOfUsers(cr, 0, tr) },
		"two-partition total": func() (UserShare, error) { return ShareOfUsers(ur, 0, ur) },
		"no such partition":   func() (UserShare, error) { return ShareOfUsers(ur, 5, tr) },
		"nil":                 func() (UserShare, error) { return ShareOfUsers(nil, 0, tr) },
	} {
		if _, err := f(); err == nil || !strings.HasPrefix(err.Error(), "ShareOfUsers: ") {
			t.Errorf("%s: error %v, want a ShareOfUsers error", name, err)
		}
	}
	// A total of 0 (or less) has no share to give.
	tr.Partitions[0].Value = 0
	if s, err := ShareOfUsers(ur, 0, tr); err != nil || s.OK {
		t.Errorf("share over a zero total = %+v, %v; want not OK, no error", s, err)
	}
}
