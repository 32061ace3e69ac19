package main

// extraExitCode maps errors of the release path (ledger locked, budget
// refused) to their exit codes.
func extraExitCode(err error) (int, bool) {
	return 0, false
}
