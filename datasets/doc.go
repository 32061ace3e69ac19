// Package datasets is dpstats' read stage: it brings consented telemetry
// exports in, and nothing private leaves it except through the columns a
// job asks for.
//
// This part of the package holds the input readers:
//
//   - [ExpandInputs] turns files, directories and globs into a file list,
//     each file once however it is named (identity: device and inode).
//   - [DetectFormat] tells Parquet, Arrow IPC files and Arrow IPC streams
//     apart by their magic bytes, never by their names.
//   - [Open] / [OpenReaderAt] return a [Scanner] that reads one file record
//     batch by record batch (never the whole table), projecting only the
//     requested top-level columns.
//   - [NewStringColumn], [NewIntColumn] and [NewTimeColumn] read a column
//     whatever type the exporting tool chose (string, large_string,
//     dictionary strings, string_view; int8…int64, uint8…uint32;
//     timestamps in any unit including Parquet INT96, date32/date64).
//   - [Inspect] reads a whole file for an operator (`dpstats inspect`).
//
// # Promises
//
// Bad input never panics and never passes silently. Every problem with a
// file's content is an [*InputError] naming the file and, where known, the
// column and Parquet row group; its Err wraps one of the sentinel errors
// ([ErrFormat], [ErrColumnMissing], [ErrColumnType], [ErrRowCount],
// [ErrCorrupt], [ErrBudget], [ErrInputMissing], [ErrInputUnreadable]). In
// particular:
//
//   - Panics inside arrow-go are recovered at the file boundary. The
//     Parquet path runs with Parallel=false and validates each row group's
//     column chunks on the caller's goroutine first, because arrow-go
//     v18.8.0 builds struct column readers in goroutines of its own, where
//     a panic could not be recovered.
//   - The rows read from a Parquet file must equal the footer's row count,
//     per row group and in total (arrow-go silently short-reads some files).
//   - Each file is read under a memory budget (ScanOptions.MemoryLimit,
//     MaxAllocation): a forged length asks the allocator for GiBs and gets an
//     error wrapping ErrBudget instead of killing the process.
//   - Column accessors check buffers once per batch, so their Value methods
//     cannot panic on malformed data.
//   - An error about a malformed file carries no counts: our messages say
//     what is inconsistent in words ("the rows read differ from the
//     footer's row count"), and the numbers in the Parquet and Arrow
//     libraries' messages are redacted to "N" (InputError.Error). Counts
//     derived from the data never reach a log; `dpstats inspect` prints
//     the exact ones to an operator.
//
// What is not promised: string values are passed through as stored (invalid
// UTF-8 is not repaired; sanitize before rendering), CRCs are not checked,
// and a corrupted byte the format does not protect can still read "ok".
// Exact row counts ([FileInfo.Rows]) are not differentially private: they
// are for operators, never for reports or logs.
package datasets
