// Package deploy holds what runs dpstats where it lives, and the tests that
// keep it honest. It has no Go API: its content is the files beside this one.
//
//	kubernetes/base/          a Kustomize base: CronJob, ConfigMap, PVCs,
//	                          ServiceAccount, a deny-all NetworkPolicy
//	kubernetes/overlays/example/  an overlay to copy (namespace with the
//	                          restricted Pod Security Standard, image, time zone)
//	kubernetes/components/pushgateway/  opt-in egress for the metrics push
//	Dockerfile                static binary on distroless, non-root
//	cron/                     crontab example and wrapper for a single host
//
// The operations guide is ../docs/operations.md.
//
// What the tests promise, so that a careless edit fails CI rather than
// production:
//
//   - manifests_test.go decodes every manifest strictly with the Kubernetes
//     API types (an unknown or misspelt field is an error), builds the base
//     and every overlay the way kustomize would for the features they use,
//     and checks what docs/operations.md promises: a daily schedule with a
//     time zone that fires after UTC midnight all year, Forbid, a starting
//     deadline that cannot let "yesterday" change meaning, a small
//     backoffLimit with no retries for errors retrying cannot fix, all
//     settings from one ConfigMap with known keys only, ledger and reports on
//     PersistentVolumeClaims, a locked-down pod (non-root, read-only root
//     filesystem, no privilege escalation, no capabilities, no service
//     account token), resource requests and limits, and a NetworkPolicy that
//     denies all egress.
//   - static_test.go builds the same static binary as the Dockerfile and
//     runs it with an empty environment from a read-only working directory
//     and, where the machine allows it, on a read-only root filesystem as
//     user 65532, as the pod does: `dpstats demo` must release its report
//     there and write nothing outside its output directory.
//   - dockerfile_test.go checks the Dockerfile's promises (CGO off,
//     -trimpath, version stamp, distroless or scratch, non-root USER,
//     exec-form ENTRYPOINT), since no container engine runs in CI.
//   - cron_test.go runs the cron wrapper against a fake dpstats (silent on
//     success, a diagnosis and the exit code on failure) and checks the
//     crontab and settings examples.
//   - docs_test.go keeps ../docs/operations.md in step with the exit codes,
//     the exported metrics and the settings.
package deploy
