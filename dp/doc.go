// Package dp is the privacy core of dpstats: the "bound → aggregate →
// release" stage of a run. It receives (user, partition, value)
// contributions that are already consent-filtered and generalized, and
// returns only noisy, releasable values.
//
// # Stage and boundaries
//
// dp never opens files, never sees a column name and never logs. Its input
// is a dense user index (the privacy unit), a partition index and a value;
// its output is a Released, which is everything a report may show. Raw
// counts leave the package only through the library's noise.
//
// # Promises
//
//   - Contribution bounding (our own code, bound.go): a user contributes to
//     at most MaxPartitions partitions, chosen uniformly at random among the
//     partitions they touch (keyed hash priorities with a random key per
//     aggregator; the lowest MaxPartitions are kept), and at most
//     MaxPerPartition to each: count clamps the user's event total, sum
//     clamps the user's sum of clamped values to MaxPerPartition×[Lower,
//     Upper], mean and quantiles keep a uniform reservoir sample of
//     MaxPerPartition values. Memory grows with users × MaxPartitions
//     (for mean and quantiles with public partitions, plus MaxPerPartition
//     values for each (user, partition) pair actually kept), never with
//     events. The layouts (1-byte, 4-byte, 8-byte slots; values as 16-bit
//     whole numbers, float32 or float64) are chosen per metric and keep
//     exactly the same state; none rounds a value.
//   - Noise, confidence intervals and partition selection come from
//     github.com/google/differential-privacy/go/v3 (dpagg, noise) and its
//     secure samplers; there is no hand-made noise and no way to turn it off.
//     count is a dpagg.BoundedSumInt64 of per-user totals in [0, l∞]; users a
//     dpagg.Count; sum a dpagg.BoundedSumFloat64; mean a dpagg.BoundedMean;
//     quantiles a dpagg.BoundedQuantiles.
//   - Public partitions (plus "other", unless MetricOptions.NoOther says
//     the list covers every value) are always all released, even when
//     empty. Discovered partitions pass dpagg.PreAggSelectPartition; the
//     metric's budget is then split: ε/2 for selection and ε/2 for noise;
//     with Laplace noise all of δ goes to selection, with Gaussian noise δ/2
//     to each. Discovered partitions are published in name order, never in
//     order of appearance.
//   - Each metric is (ε, δ)-DP with its own share; SplitBudget splits the run's
//     budget by weights so that the metrics sum to at most the total (basic
//     composition). With Laplace noise and no selection a metric is pure ε-DP
//     and its δ share is charged but unused.
//   - Under zero-concentrated accounting (MetricOptions.Rho > 0, see
//     zcdp.go and docs/accounting.md) a metric's share is ρ instead of ε:
//     its Gaussian noise gets σ = √l0·l∞/√(2ρ) (the library is given an
//     (ε, δ) pair for which it uses at least that σ, checked before any data
//     is read), Laplace noise ε = √(2ρ), partition selection ε = √(2ρ/2)
//     and all of δ. EpsilonForRho and RhoForEpsilon convert between ρ and
//     (ε, δ) (Canonne, Kamath and Steinke 2020).
//   - Shares are post-processing of the noisy counts (clamped at 0 and
//     normalized); they spend no budget. Their interval is a delta-method
//     approximation, see ReleasedPartition.
//   - Every released quantile carries an interval for the bounded quantile
//     (of the values the tree received), or none and the reason. It is
//     post-processing of the released quantile tree and of a noisy count of
//     the partition's values (QuantileCountFraction of the metric's noise
//     budget): the tree's noise turns into a rank error Δ, and the interval
//     is [Q̂(r−Δ), Q̂(r+Δ)] widened to the tree's level-2 grid. quantci.go
//     derives Δ (first-order noise of the two top levels plus the bias of
//     the library's small-node filter). It is conservative (coverage
//     measured at 0.99–1.0 for 95% intervals) under one documented
//     assumption about sparse tails; see quantci.go. Below 20 node standard
//     deviations of values no interval is given.
//   - What the caps cut (MetricOptions.CapsCutFraction): users who
//     contributed are split into those the caps cut (more partitions than
//     MaxPartitions, more than MaxPerPartition in one) and the others, and
//     each group is counted with dpagg.Count; the groups are disjoint, so
//     the two counts spend the slice once. Released.CapsCut gives the number
//     and share of users cut with intervals (the share's by a union bound).
//   - A NaN value (a null in the data) is dropped before bounding: it takes
//     none of a user's MaxPartitions.
//   - An Aggregator is released once: a second release with fresh noise would
//     let an observer average it away.
//   - PlanError gives the data-independent expected error used by
//     `dpstats plan`, given the users and the events (or values) per user
//     (PlanInput); the tests check it against the spread of real releases.
//
// # What is not protected
//
// The privacy unit is one user index: a person with several accounts gets
// the protection once per account. The number of metrics, their options and
// the public partition names are public. Budgets compose across runs; the
// ledger (jobs/ledger) tracks that, not this package. Timing and memory use of
// a run depend on the data size.
//
// # Logging
//
// The library logs through github.com/golang/glog, which by default writes
// files into the temp directory; the command sets it to log to stderr.
package dp
