package dp_test

import (
	"fmt"

	"github.com/dpstats/dpstats/dp"
)

// Users per device type over public partitions, and their share of all
// users: every user is counted at most once per partition (users metric,
// one partition each here), and the total of users is released with the
// other half of the budget, so the shares are post-processing. The values
// printed are noisy, so the example prints only what does not depend on
// the noise.
func Example() {
	budgets, err := dp.SplitBudget(dp.Budget{Epsilon: 1}, []float64{1, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	agg, err := dp.NewAggregator(dp.MetricOptions{
		Name:          "device_users",
		Kind:          dp.KindUsers,
		Epsilon:       budgets[0].Epsilon,
		MaxPartitions: 1,
		Partitions:    []string{"android_tv", "roku", "web"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	all, err := dp.NewAggregator(dp.MetricOptions{Name: "users", Kind: dp.KindUsers, Epsilon: budgets[1].Epsilon, MaxPartitions: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for user := uint32(0); user < 30000; user++ {
		agg.Add(user, int32(user%3), 0) // 0 = android_tv, 1 = roku, 2 = web
		all.Add(user, 0, 0)
	}
	rel, err := agg.Release(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	total, err := all.Release(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, p := range rel.Partitions {
		s, err := dp.ShareOfUsers(rel, i, total)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-10s share of users ≈ %.1f\n", p.Name, s.Share)
	}
	pe, _ := dp.PlanError(agg.Options(), 30000)
	fmt.Printf("noise sd %.2f users\n", pe.StdDev)
	// Output:
	// android_tv share of users ≈ 0.3
	// roku       share of users ≈ 0.3
	// web        share of users ≈ 0.3
	// other      share of users ≈ 0.0
	// noise sd 2.83 users
}
