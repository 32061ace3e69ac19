package dp_test

import (
	"fmt"

	"github.com/dpstats/dpstats/dp"
)

// A device-type share over public partitions. Every user is counted at most
// once (users metric, one partition each); the values printed are noisy, so
// the example prints only what does not depend on the noise.
func Example() {
	budgets, err := dp.SplitBudget(dp.Budget{Epsilon: 1}, []float64{1, 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	agg, err := dp.NewAggregator(dp.MetricOptions{
		Name:          "device_share",
		Kind:          dp.KindUsers,
		Epsilon:       budgets[0].Epsilon,
		MaxPartitions: 1,
		Partitions:    []string{"android_tv", "roku", "web"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for user := uint32(0); user < 30000; user++ {
		agg.Add(user, int32(user%3), 0) // 0 = android_tv, 1 = roku, 2 = web
	}
	rel, err := agg.Release(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range rel.Partitions {
		fmt.Printf("%-10s share ≈ %.1f\n", p.Name, p.Share)
	}
	pe, _ := dp.PlanError(agg.Options(), 30000)
	fmt.Printf("noise sd %.2f users\n", pe.StdDev)
	// Output:
	// android_tv share ≈ 0.3
	// roku       share ≈ 0.3
	// web        share ≈ 0.3
	// other      share ≈ 0.0
	// noise sd 2.83 users
}
