package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dpstats/dpstats/jobs/ledger"
)

// The release protocol's use of the ledger: lock, refuse a period that was
// already released or a release that would cross the cap, record the spend
// durably, and only then publish.
func Example() {
	dir, _ := os.MkdirTemp("", "ledger-example")
	defer os.RemoveAll(dir)
	l, _, err := ledger.Init(filepath.Join(dir, "ledger.jsonl")) // once, on purpose
	if err != nil {
		fmt.Println(err)
		return
	}
	budget := ledger.Cap{Epsilon: 2, Delta: 1e-6, Window: 30 * 24 * time.Hour}
	now := time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)

	release := func(period string, eps float64) {
		tx, err := l.Lock(context.Background())
		if err != nil {
			fmt.Println(err) // ErrLocked: another run holds the ledger
			return
		}
		defer tx.Unlock()
		if _, ok := tx.Released("playback-daily", period); ok {
			fmt.Println(period, "already released, nothing to do")
			return
		}
		if err := ledger.Check(tx, budget, now, eps, 1e-9); err != nil {
			var be *ledger.BudgetError
			if errors.As(err, &be) {
				fmt.Println(period, "refused.", be.Hint)
			}
			return
		}
		// ... compute the report in memory ...
		if err := tx.Append(ledger.Entry{Job: "playback-daily", Period: period, Epsilon: eps, Delta: 1e-9, Time: now}); err != nil {
			fmt.Println(err) // do not publish
			return
		}
		// ... publish the report ...
		spent, _ := tx.Spent(now, budget.Window)
		fmt.Printf("%s released: ε = %g; all releases in the last 30 days ε = %g of %g\n", period, eps, spent, budget.Epsilon)
		now = now.Add(24 * time.Hour)
	}
	release("2024-04-30", 1)
	release("2024-04-30", 1)
	release("2024-05-01", 0.5)
	release("2024-05-02", 1)
	// Output:
	// 2024-04-30 released: ε = 1; all releases in the last 30 days ε = 1 of 2
	// 2024-04-30 already released, nothing to do
	// 2024-05-01 released: ε = 0.5; all releases in the last 30 days ε = 1.5 of 2
	// 2024-05-02 refused. Try: wait until 2024-05-31T02:00:00Z when older releases leave the window, or lower --epsilon to 0.5.
}
