// Package ledger is the privacy budget ledger of dpstats: the record of every
// release, consulted and appended to by the release protocol of the runner
// (package jobs) under an exclusive lock.
//
// Stage: release. The runner locks the ledger (Ledger.Lock), refuses the run
// if the job and period were already released (Tx.Released) or if the rolling
// window cap would be crossed (Check), computes the report in memory, records
// the spend durably (Tx.Append) and only then publishes the report. A crash at
// any point therefore leaves either no report, or a report whose spend is
// recorded.
//
// The embedded ledger, File, is one append-only JSON-lines file on local disk
// (mode 0600) next to a lock file "<path>.lock" that is never deleted. It is
// created on purpose, once, by Init (dpstats ledger init); Open and Lock never
// create it, so a lost or misplaced ledger stops releases (ErrNoLedger)
// instead of silently restarting empty:
//
//	{"time":"2024-05-01T02:00:00Z","job":"playback-daily","period":"2024-04-30","epsilon":1,"delta":1e-09,"run_id":"r1","rerun":false,"metrics":["codec_share"]}
//	{"time":"2024-05-02T02:00:00Z","job":"playback-daily","period":"2024-05-01","rho":0.0594,"delta":0,"run_id":"r2","rerun":false,"metrics":["codec_share"]}
//
// The second line is a release accounted in zero-concentrated DP (privacy
// accounting zcdp): it records "rho" in place of "epsilon" (never both), and
// its δ is that of its approximate-DP parts. Ledgers written before zCDP
// existed read unchanged; a dpstats that predates it refuses a ledger with
// "rho" as corrupt instead of miscounting it. How pure and zCDP releases add
// up in the window is in zcdp.go and docs/accounting.md: while all are pure,
// ε's and δ's are summed exactly; once any is zCDP, every pure release
// counts as ε²/2 and the window's total ρ is converted to (ε, δ) at the
// cap's δ.
//
// Promises:
//
//   - Exclusive: Lock takes flock(LOCK_EX|LOCK_NB) on the lock file and holds
//     it until Unlock. Another holder means ErrLocked, immediately or after the
//     bounded wait of the context's deadline. The kernel drops the lock when
//     the holder dies, even by SIGKILL, so a crashed run never wedges the
//     ledger.
//   - Durable: Append writes the whole line in one write(2) on an O_APPEND
//     descriptor and fsyncs the file before it returns; Open fsyncs the parent
//     directory when it creates the file. An Append that returns an error may
//     or may not have recorded the spend: the transaction then counts it as
//     spent (over-counting is safe; under-counting never happens).
//   - Human-readable and exact: one JSON object per line, keys always in the
//     order time, job, period, epsilon (or rho), delta, run_id, rerun,
//     withheld (only when true), engine, submitted and outcome (only when
//     set: see "Engines that charge at submit" below), metrics; floats
//     printed with strconv 'g', -1 (the shortest text that reads back as the
//     same float64); times in RFC 3339, UTC. Spend is summed as the decimal
//     numbers written in the file, so ten releases of ε = 0.1 reach a cap of
//     ε = 1 exactly instead of 1.0000000000000002.
//   - Never under-counts. Entries dated after "now" (a clock stepped back) are
//     counted as inside the window. A torn record (see below) is counted as a
//     release that happened.
//   - Refuses on corruption: a line that is neither a record nor a torn record
//     makes reading fail with a *CorruptError (errors.Is ErrCorrupt) naming the
//     line, and the runner must refuse to release until a human looks.
//
// # Torn records
//
// A crash or power loss in the middle of Append can leave a torn record: a
// strict prefix of a record line, possibly followed by NUL bytes where the
// file system extended the file but never wrote the data. Because Append only
// returns after fsync and the report is only published after Append returns,
// a torn record belongs to a run whose report was never published. It is
// nevertheless charged, so that no failure mode can make spend disappear:
//
//   - The fields that were written completely are salvaged. A field counts as
//     complete only when the byte after its value (',' or '}') is present, so a
//     cut number such as "epsilon":1.2 from 1.25 is never read as 1.2.
//   - ε (or ρ) and δ that cannot be salvaged are charged as +Inf: Check then refuses
//     every release until the record leaves the window (its hint says why).
//   - A time that cannot be salvaged is the time of the next record written
//     after it, or, for the last line, the ledger file's modification time.
//     Both are no earlier than the crash, so the record stays in the window at
//     least as long as the lost one would have.
//   - If job and period were salvaged, Released reports them as released: a
//     retry does not publish with fresh noise; a deliberate rerun is charged
//     again.
//
// The next Append after a torn final line first writes the missing newline,
// so the torn record stays where it is (the file is append-only) and later
// records are whole lines. Anything else that fails to parse, anywhere in the
// file, is corruption.
//
// # Engines that charge at submit
//
// An engine whose noisy output can outlive a failed run (the Privacy on
// Beam engine writes per-partition results to a staging location) has its
// spend recorded before its pipeline is submitted, so that the ledger never
// under-counts:
//
//	{"time":"2024-05-03T02:00:00Z","job":"playback-daily","period":"2024-05-02","epsilon":1,"delta":1e-09,"run_id":"r3","rerun":false,"engine":"beam","submitted":true,"metrics":["codec_share"]}
//	{"time":"2024-05-03T02:00:00Z","job":"playback-daily","period":"2024-05-02","epsilon":0,"delta":0,"run_id":"r3","rerun":false,"withheld":true,"engine":"beam","outcome":true,"metrics":["population:playback_stats"]}
//
// The first line is the spend ("submitted"). If the quality gate then
// withholds the period, the second line, an outcome record of the same run
// id, says so: it charges nothing (ε, ρ and δ are 0; Append refuses an
// outcome record that charges) and summaries leave it out of the releases.
// A published report, or none, tells the other outcomes. Ledgers without
// these keys read unchanged; a dpstats that predates them refuses such a
// ledger as corrupt instead of miscounting it.
//
// What the ledger does not protect: it trusts the local clock and the file
// system (a disk that acknowledges fsync without persisting can lose spend),
// and it cannot stop someone who edits or deletes the file by hand.
package ledger
