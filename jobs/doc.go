// Package jobs is the job stage of dpstats: it reads a job spec (YAML), and
// runs it — plan → read → bound → aggregate → release → publish — wiring
// the datasets, dp and reports packages together. This file documents the
// spec; the runner documents itself.
//
// # The job spec
//
// A job spec names the statistics a job releases and the privacy budget it
// may spend. It is the single place where an operator decides what is
// collected, so it is strict: [ParseSpec] rejects unknown keys, wrong types
// and invalid values, and every error names the file, line and field:
//
//	job.yaml:12: metrics[3].weight: must be > 0, got -1
//
// (metrics count from 0). The shipped spec, playback-daily.yaml (see
// [BuiltinSpec]), is commented key by key and is the one to copy. The keys:
//
//	version            1 (required)
//	name               [a-z0-9-], starting with a letter; used in paths (required)
//	description        what the job is for
//	period             daily (default): events with event_time in
//	                   [day 00:00 UTC, next day 00:00 UTC)
//	input              {user, time}: the privacy unit column (default user_id)
//	                   and the event time column (default event_time)
//	consent            {user, category, granted, updated_at}: columns of the
//	                   consent export (defaults: those names, user_id for user)
//	forbidden_columns  added to BuiltinForbiddenColumns; never read
//	privacy            epsilon (required, > 0), delta (default 0, in [0, 1)),
//	                   max_epsilon (required, ≥ epsilon), max_delta (default
//	                   delta), noise (laplace | gaussian; gaussian needs
//	                   delta > 0), confidence (default 0.95); accounting
//	                   (pure | zcdp, default pure): under zcdp a run spends
//	                   rho (> 0; default: the ledger cap's ρ over
//	                   runs_per_window runs, default window_days) within
//	                   max_rho (default max_epsilon²/2), epsilon is not used,
//	                   noise defaults to gaussian and needs no delta
//	                   (docs/accounting.md)
//	ledger             cap_epsilon (required, ≥ max_epsilon), cap_delta
//	                   (default max_delta, ≥ max_delta), window_days (default 30)
//	quality_gate       {weight, min_users}: the quality gate (see
//	                   QualityGate): weight > 0 is its share of ε beside
//	                   the metrics' weights (default 1); a run whose noisy
//	                   count of contributing users of any consent category
//	                   is below min_users ≥ 0 publishes nothing (default
//	                   2000; 0 never withholds)
//	metrics            the statistics, in report order (at least one):
//	  name               [a-z0-9_], unique; names the CSV file (required)
//	  title              default: name
//	  description        plain words, shown in the privacy tab (required)
//	  kind               count | users | sum | mean | quantiles (required)
//	  consent            consent category, [a-z0-9_] (required)
//	  dimension          column; omit for a single total (partition "total")
//	  partitions         public list of the dimension's values; others go
//	                     to the implicit partition "other"
//	  select_partitions  true: partitions from the data, via DP partition
//	                     selection (needs delta > 0)
//	  buckets            {edges, unit}: a numeric dimension becomes ranges
//	                     [edges[i], edges[i+1]) and "≥ last edge" (edges are
//	                     whole numbers); values below edges[0] count in the
//	                     first range
//	  value              numeric column (sum, mean, quantiles)
//	  generalize         {step, unit}: value rounded to the nearest multiple
//	                     of step (a whole number; lower and upper then whole)
//	  lower, upper       value clamp, lower < upper (sum, mean, quantiles)
//	  ranks              quantiles, each in (0, 1), increasing (quantiles)
//	  max_partitions     partitions per user, ≥ 1 (default 1; 1 without a dimension)
//	  max_per_partition  contributions per user and partition, ≥ 1 (default
//	                     1; must be 1 for users)
//	  weight             relative share of epsilon, > 0 (default 1); the
//	                     quality gate's weight is counted beside them
//
// Exactly one of partitions, select_partitions and buckets goes with a
// dimension. The numeric dimension of a bucketed metric is replaced by its
// bucket label at read time; a value is rounded (generalize) and then
// clamped to [lower, upper].
//
// # Promises
//
//   - Only the columns [Spec.AllColumns] lists are read; no metric may name a
//     forbidden column (built-in or the spec's, compared ignoring case and
//     '-', ' ' vs '_', and by the last element of a dotted name), the
//     privacy unit, or the raw event time.
//   - The run's ε and δ come from the spec and may be overridden
//     ([Spec.WithOverrides]) but never above privacy.max_epsilon and
//     privacy.max_delta; such an override is refused with [ErrCeiling] and
//     says how to change the ceiling. The ledger cap is never below the
//     per-run ceiling, so one run at the ceiling can always be released
//     into an empty window.
//   - The budget split is fixed by the spec ([Spec.Shares]): ε_i =
//     ε·w_i/Σw; δ is split by weight among the metrics that need it (all
//     with Gaussian noise, the ones selecting partitions with Laplace), and
//     the others get none. The shares never add up to more than ε and δ.
//     [Spec.Spend], what the ledger is charged, is the run's whole ε and δ.
//     Inside its share, each metric spends [CapsCutFraction] on the DP
//     estimate of how many of its users the per-user caps cut
//     (reports.CapsCut), and a quantiles metric a further part on the noisy
//     count of values its intervals are derived from ([Explain] lists both).
//   - Every published partition is public: listed in the spec plus "other",
//     bucket labels (they cover every value, so no "other"), or "total"
//     ([Metric.PublishedPartitions]) — unless a metric opts into DP
//     partition selection. "other" holds only non-null values outside the
//     list: an event whose dimension or value is null is not part of the
//     metric at all.
//   - [Explain] prints every statistic a job releases without reading data:
//     the "privacy tab" promised to users.
//
// Not protected by this package: the meaning of a column. A spec that names
// a column holding identifying data under an innocent name is accepted;
// reviewing a spec (and its explain output) is part of deploying it.
package jobs
