package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zones without the system's zoneinfo

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const manifestsDir = "kubernetes"

// knownEnv are the environment variables `dpstats run` reads (the CLI
// contract; TestStaticBinary checks them against `dpstats run --help`).
// dpstats ignores any other DPSTATS_* variable, so a typo in the ConfigMap
// would silently fall back to a default: the tests refuse unknown keys.
var knownEnv = []string{
	"DPSTATS_JOB", "DPSTATS_INPUT", "DPSTATS_CONSENT", "DPSTATS_PERIOD", "DPSTATS_OUT",
	"DPSTATS_LEDGER", "DPSTATS_EPSILON", "DPSTATS_DELTA", "DPSTATS_NOISE", "DPSTATS_RERUN",
	"DPSTATS_LOCK_WAIT", "DPSTATS_METRICS_PUSH", "DPSTATS_METRICS_TEXTFILE", "DPSTATS_LOG_FORMAT",
	"DPSTATS_ACCOUNTING", "DPSTATS_RHO", "DPSTATS_RUNS_PER_WINDOW", // zero-concentrated accounting (docs/accounting.md)
	// The engine and the Beam runner's options (docs/beam.md).
	"DPSTATS_ENGINE", "DPSTATS_BEAM_RUNNER", "DPSTATS_BEAM_ENDPOINT", "DPSTATS_BEAM_ENVIRONMENT_TYPE",
	"DPSTATS_BEAM_ENVIRONMENT_CONFIG", "DPSTATS_BEAM_PROJECT", "DPSTATS_BEAM_REGION", "DPSTATS_BEAM_TEMP_LOCATION",
	"DPSTATS_BEAM_STAGING_LOCATION", "DPSTATS_BEAM_OPTIONS",
}

// requiredEnv must be in the ConfigMap: without them the run fails (64) or
// falls back to a default that is wrong in a pod (--out defaults to ./out,
// on the read-only root filesystem).
var requiredEnv = []string{
	"DPSTATS_JOB", "DPSTATS_INPUT", "DPSTATS_CONSENT", "DPSTATS_PERIOD", "DPSTATS_OUT",
	"DPSTATS_LEDGER", "DPSTATS_EPSILON", "DPSTATS_DELTA",
}

// Exit codes retrying cannot fix: the Job must fail at once on them.
var noRetryExitCodes = []int32{64, 65, 66, 69, 74, 77}

// Exit codes of the ledger init step that retrying cannot fix: a ledger
// that does not parse (65), or one that is lost while the reports survive,
// or whose volume cannot be written (73).
var initNoRetryExitCodes = []int32{65, 73}

// Exit codes worth retrying: a failure policy must not fail the Job on them.
var retryExitCodes = []int32{70, 73, 75, 130}

// TestManifestsDecodeStrictly decodes every YAML file under kubernetes/ on
// its own, and checks that each one is used by some kustomization, so that
// no manifest escapes the property tests.
func TestManifestsDecodeStrictly(t *testing.T) {
	roots, components, err := kustomizationRoots(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, r := range roots {
		b, err := buildKustomization(r, components...)
		if err != nil {
			t.Fatalf("build %s with every component: %v", r, err)
		}
		for f := range b.Files {
			used[f] = true
		}
	}
	n := 0
	err = filepath.WalkDir(manifestsDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); ext != ".yaml" {
			if ext == ".yml" || ext == ".json" {
				t.Errorf("%s: name manifests *.yaml so that this test finds them", p)
			}
			return nil
		}
		n++
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if !used[abs] {
			t.Errorf("%s is not used by any kustomization under %s", p, manifestsDir)
		}
		if d.Name() == "kustomization.yaml" {
			return nil // read strictly by readKustomization
		}
		if _, err := decodeFile(p); err != nil {
			t.Error(err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 8 {
		t.Errorf("found %d manifests under %s, want the base, the overlay and the component", n, manifestsDir)
	}
}

// TestManifests builds the base, every overlay, and each of them with every
// component, and checks the deployment's properties on the result.
func TestManifests(t *testing.T) {
	roots, components, err := kustomizationRoots(manifestsDir)
	if err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name       string
		dir        string
		components []string
	}
	var variants []variant
	for _, r := range roots {
		variants = append(variants, variant{name: r, dir: r})
		for _, c := range components {
			variants = append(variants, variant{name: r + "+" + filepath.Base(c), dir: r, components: []string{c}})
		}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			b, err := buildKustomization(v.dir, v.components...)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range deploymentProblems(b.Objects) {
				t.Error(p)
			}
		})
	}
}

// TestManifestsBaseValues pins what the issue and docs/operations.md state
// about the base (an overlay may change these).
func TestManifestsBaseValues(t *testing.T) {
	b, err := buildKustomization(filepath.Join(manifestsDir, "base"))
	if err != nil {
		t.Fatal(err)
	}
	cj := findObject[*batchv1.CronJob](t, b.Objects, "dpstats-playback-daily")
	cm := findObject[*corev1.ConfigMap](t, b.Objects, "dpstats-playback-daily")
	c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	tests := []struct {
		name, got, want string
	}{
		{"schedule", cj.Spec.Schedule, "30 3 * * *"},
		{"timeZone", deref(cj.Spec.TimeZone), "Etc/UTC"},
		{"job", cm.Data["DPSTATS_JOB"], "playback-daily"},
		{"period", cm.Data["DPSTATS_PERIOD"], "yesterday"},
		{"ledger", cm.Data["DPSTATS_LEDGER"], "/var/lib/dpstats/ledger/ledger.jsonl"},
		{"out", cm.Data["DPSTATS_OUT"], "/var/lib/dpstats/reports"},
		{"epsilon", cm.Data["DPSTATS_EPSILON"], "0.3"},
		{"log format", cm.Data["DPSTATS_LOG_FORMAT"], "json"},
		{"cpu request", quantity(c.Resources.Requests, corev1.ResourceCPU), "1"},
		{"memory request", quantity(c.Resources.Requests, corev1.ResourceMemory), "1Gi"},
		{"memory limit", quantity(c.Resources.Limits, corev1.ResourceMemory), "2Gi"},
		{"cpu limit", quantity(c.Resources.Limits, corev1.ResourceCPU), "none"},
		{"args", strings.Join(c.Args, " "), "run"},
		{"user", fmt.Sprint(deref(cj.Spec.JobTemplate.Spec.Template.Spec.SecurityContext.RunAsUser)), "65532"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("base %s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestManifestsOverlayExample checks that the overlay's patches, images and
// namespace reach the built objects (and so that TestManifests checks what
// kustomize would apply, not the base again).
func TestManifestsOverlayExample(t *testing.T) {
	dir := filepath.Join(manifestsDir, "overlays", "example")
	b, err := buildKustomization(dir, filepath.Join(manifestsDir, "components", "pushgateway"))
	if err != nil {
		t.Fatal(err)
	}
	cj := findObject[*batchv1.CronJob](t, b.Objects, "dpstats-playback-daily")
	cm := findObject[*corev1.ConfigMap](t, b.Objects, "dpstats-playback-daily")
	ledger := findObject[*corev1.PersistentVolumeClaim](t, b.Objects, "dpstats-ledger")
	ns := findObject[*corev1.Namespace](t, b.Objects, "dpstats")
	tests := []struct {
		name, got, want string
	}{
		{"schedule", cj.Spec.Schedule, "30 5 * * *"},
		{"timeZone", deref(cj.Spec.TimeZone), "Europe/Berlin"},
		{"concurrencyPolicy kept", string(cj.Spec.ConcurrencyPolicy), "Forbid"},
		{"image", cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image, "registry.example.com/dpstats/dpstats:1.0.0"},
		{"namespace", cj.Namespace, "dpstats"},
		{"ConfigMap namespace", cm.Namespace, "dpstats"},
		{"Namespace has none", ns.Namespace, ""},
		{"input", cm.Data["DPSTATS_INPUT"], "/data/exports/playback/events"},
		{"ledger kept", cm.Data["DPSTATS_LEDGER"], "/var/lib/dpstats/ledger/ledger.jsonl"},
		{"push (component)", cm.Data["DPSTATS_METRICS_PUSH"], "http://pushgateway.monitoring.svc:9091"},
		{"storage class", deref(ledger.Spec.StorageClassName), "retained-ssd"},
		{"ledger access mode kept", fmt.Sprint(ledger.Spec.AccessModes), "[ReadWriteOncePod]"},
		{"pod security", ns.Labels["pod-security.kubernetes.io/enforce"], "restricted"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("overlay %s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	findObject[*networkingv1.NetworkPolicy](t, b.Objects, "dpstats-deny-all")
	findObject[*networkingv1.NetworkPolicy](t, b.Objects, "dpstats-allow-pushgateway")
}

// TestManifestsRejectCarelessEdits makes sure deploymentProblems notices
// each edit the deployment must not survive: every mutation of the valid
// base must produce a problem mentioning want.
func TestManifestsRejectCarelessEdits(t *testing.T) {
	no, yes := false, true
	root := int64(0)
	tests := []struct {
		name string
		edit func(objs []object)
		want string
	}{
		{"no time zone", func(o []object) { cronJob(o).Spec.TimeZone = nil }, "timeZone"},
		{"unknown time zone", func(o []object) { tz := "Mars/Olympus"; cronJob(o).Spec.TimeZone = &tz }, "timeZone"},
		{"hourly schedule", func(o []object) { cronJob(o).Spec.Schedule = "0 * * * *" }, "schedule"},
		{"just before UTC midnight", func(o []object) { cronJob(o).Spec.Schedule = "50 23 * * *" }, "UTC"},
		{"local time before UTC midnight", func(o []object) {
			tz := "America/New_York"
			cronJob(o).Spec.Schedule, cronJob(o).Spec.TimeZone = "0 19 * * *", &tz
		}, "UTC"},
		{"allow concurrency", func(o []object) { cronJob(o).Spec.ConcurrencyPolicy = batchv1.AllowConcurrent }, "concurrencyPolicy"},
		{"no starting deadline", func(o []object) { cronJob(o).Spec.StartingDeadlineSeconds = nil }, "startingDeadlineSeconds"},
		{"day-long starting deadline", func(o []object) { d := int64(86400); cronJob(o).Spec.StartingDeadlineSeconds = &d }, "midnight"},
		{"no backoffLimit", func(o []object) { cronJob(o).Spec.JobTemplate.Spec.BackoffLimit = nil }, "backoffLimit"},
		{"backoffLimit 20", func(o []object) { b := int32(20); cronJob(o).Spec.JobTemplate.Spec.BackoffLimit = &b }, "backoffLimit"},
		{"no podFailurePolicy", func(o []object) { cronJob(o).Spec.JobTemplate.Spec.PodFailurePolicy = nil }, "exit code 77"},
		{"fail on locked", func(o []object) {
			r := &cronJob(o).Spec.JobTemplate.Spec.PodFailurePolicy.Rules[0]
			r.OnExitCodes.Values = append(r.OnExitCodes.Values, 75)
		}, "exit code 75"},
		{"restartPolicy OnFailure", func(o []object) { podSpec(o).RestartPolicy = corev1.RestartPolicyOnFailure }, "restartPolicy"},
		{"service account token", func(o []object) { podSpec(o).AutomountServiceAccountToken = &yes }, "automountServiceAccountToken"},
		{"token unset", func(o []object) { podSpec(o).AutomountServiceAccountToken = nil }, "automountServiceAccountToken"},
		{"root user", func(o []object) { podSpec(o).SecurityContext.RunAsUser = &root }, "runAsUser"},
		{"runAsNonRoot off", func(o []object) {
			podSpec(o).SecurityContext.RunAsNonRoot = &no
			container(o).SecurityContext.RunAsNonRoot = nil
		}, "runAsNonRoot"},
		{"writable root", func(o []object) { container(o).SecurityContext.ReadOnlyRootFilesystem = &no }, "readOnlyRootFilesystem"},
		{"privilege escalation", func(o []object) { container(o).SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
		{"privileged", func(o []object) { container(o).SecurityContext.Privileged = &yes }, "privileged"},
		{"capabilities kept", func(o []object) { container(o).SecurityContext.Capabilities.Drop = nil }, "capabilities"},
		{"capability added", func(o []object) {
			container(o).SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
		}, "capabilities"},
		{"no memory limit", func(o []object) { delete(container(o).Resources.Limits, corev1.ResourceMemory) }, "memory limit"},
		{"no cpu request", func(o []object) { delete(container(o).Resources.Requests, corev1.ResourceCPU) }, "cpu request"},
		{"limit below request", func(o []object) {
			container(o).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("512Mi")
		}, "memory limit"},
		{"literal env", func(o []object) {
			container(o).Env = append(container(o).Env, corev1.EnvVar{Name: "DPSTATS_EPSILON", Value: "1"})
		}, "ConfigMap"},
		{"no envFrom", func(o []object) { container(o).EnvFrom = nil }, "envFrom"},
		{"typo in ConfigMap", func(o []object) { configMap(o).Data["DPSTATS_EPSILOM"] = "0.3" }, "DPSTATS_EPSILOM"},
		{"missing ledger", func(o []object) { delete(configMap(o).Data, "DPSTATS_LEDGER") }, "DPSTATS_LEDGER"},
		{"scheduled rerun", func(o []object) { configMap(o).Data["DPSTATS_RERUN"] = "true" }, "DPSTATS_RERUN"},
		{"fixed period", func(o []object) { configMap(o).Data["DPSTATS_PERIOD"] = "2026-11-01" }, "DPSTATS_PERIOD"},
		{"ledger on the root filesystem", func(o []object) { configMap(o).Data["DPSTATS_LEDGER"] = "/ledger.jsonl" }, "DPSTATS_LEDGER"},
		{"reports outside the volume", func(o []object) { configMap(o).Data["DPSTATS_OUT"] = "/out" }, "DPSTATS_OUT"},
		{"input on a writable volume", func(o []object) {
			configMap(o).Data["DPSTATS_INPUT"] = "/var/lib/dpstats/reports/events"
		}, "DPSTATS_INPUT"},
		{"zero epsilon", func(o []object) { configMap(o).Data["DPSTATS_EPSILON"] = "0" }, "DPSTATS_EPSILON"},
		{"ledger on emptyDir", func(o []object) {
			podSpec(o).Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}, "ledger"},
		{"ledger claim not in the build", func(o []object) {
			podSpec(o).Volumes[0].PersistentVolumeClaim.ClaimName = "elsewhere"
		}, "elsewhere"},
		{"exports writable", func(o []object) {
			container(o).VolumeMounts[2].ReadOnly = false
			podSpec(o).Volumes[2].PersistentVolumeClaim.ReadOnly = false
		}, "read-only"},
		{"ledger on NFS-style storage", func(o []object) {
			pvc(o, "dpstats-ledger").Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, "flock"},
		{"hostPath", func(o []object) {
			podSpec(o).Volumes = append(podSpec(o).Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, "hostPath"},
		{"egress allowed", func(o []object) {
			np(o).Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
		}, "denies all egress"},
		{"policy selects other pods", func(o []object) {
			np(o).Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}
		}, "denies all egress"},
		{"no Egress policy type", func(o []object) { np(o).Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress} }, "denies all egress"},
		{"latest image", func(o []object) { container(o).Image = "dpstats:latest" }, "image"},
		{"host network", func(o []object) { podSpec(o).HostNetwork = true }, "host"},
		{"service links", func(o []object) { podSpec(o).EnableServiceLinks = nil }, "enableServiceLinks"},
		{"no seccomp", func(o []object) { podSpec(o).SecurityContext.SeccompProfile = nil }, "seccomp"},
		{"no ledger init", func(o []object) { podSpec(o).InitContainers = nil }, "ledger init"},
		{"ledger init on another image", func(o []object) { podSpec(o).InitContainers[0].Image = "other:1.0" }, "image"},
		{"ledger init without the settings", func(o []object) { podSpec(o).InitContainers[0].EnvFrom = nil }, "envFrom"},
		{"ledger init without the reports", func(o []object) {
			podSpec(o).InitContainers[0].VolumeMounts = podSpec(o).InitContainers[0].VolumeMounts[:1]
		}, "reports volume read-only"},
		{"ledger init may write the reports", func(o []object) { podSpec(o).InitContainers[0].VolumeMounts[1].ReadOnly = false }, "reports volume read-only"},
		{"ledger init as root", func(o []object) { podSpec(o).InitContainers[0].SecurityContext.RunAsUser = &root }, "runAsUser 0"},
		{"ledger init lost ledger retried", func(o []object) {
			rules := cronJob(o).Spec.JobTemplate.Spec.PodFailurePolicy.Rules
			cronJob(o).Spec.JobTemplate.Spec.PodFailurePolicy.Rules = slices.DeleteFunc(rules, func(r batchv1.PodFailurePolicyRule) bool {
				return r.OnExitCodes != nil && deref(r.OnExitCodes.ContainerName) == "ledger-init"
			})
		}, "ledger init container must fail"},
		{"missing report retried", func(o []object) {
			r := &cronJob(o).Spec.JobTemplate.Spec.PodFailurePolicy.Rules[0]
			r.OnExitCodes.Values = slices.DeleteFunc(r.OnExitCodes.Values, func(v int32) bool { return v == 74 })
		}, "exit code 74"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := buildKustomization(filepath.Join(manifestsDir, "base"))
			if err != nil {
				t.Fatal(err)
			}
			if p := deploymentProblems(b.Objects); len(p) > 0 {
				t.Fatalf("the base itself has problems: %v", p)
			}
			tt.edit(b.Objects)
			problems := deploymentProblems(b.Objects)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("after %q: problems %q, want one mentioning %q", tt.name, problems, tt.want)
			}
		})
	}
}

// TestManifestsRejectUnknownFields: strict decoding is what makes a misspelt
// security field an error instead of a silently dropped key.
func TestManifestsRejectUnknownFields(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{"misspelt field", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountTokens: false\n"},
		{"field at the wrong level", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nreadOnly: true\n"},
		{"duplicate key", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountToken: false\nautomountServiceAccountToken: true\n"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
		{"no name", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m.yaml")
			if err := os.WriteFile(p, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := decodeFile(p); err == nil {
				t.Errorf("decodeFile(%q) = nil error, want one", tt.doc)
			}
		})
	}
}

func TestSplitImage(t *testing.T) {
	tests := []struct{ image, name, tag, digest string }{
		{"dpstats", "dpstats", "", ""},
		{"dpstats:1.0", "dpstats", "1.0", ""},
		{"registry:5000/dpstats", "registry:5000/dpstats", "", ""},
		{"registry:5000/dpstats:1.0@sha256:ab", "registry:5000/dpstats", "1.0", "sha256:ab"},
	}
	for _, tt := range tests {
		name, tag, digest := splitImage(tt.image)
		if name != tt.name || tag != tt.tag || digest != tt.digest {
			t.Errorf("splitImage(%q) = %q, %q, %q; want %q, %q, %q", tt.image, name, tag, digest, tt.name, tt.tag, tt.digest)
		}
	}
}

// deploymentProblems checks every CronJob of a build, with the objects it
// refers to, against what docs/operations.md promises. It returns one line
// per problem, naming the object and the property.
func deploymentProblems(objs []object) []string {
	var out []string
	bad := func(o object, format string, args ...any) {
		out = append(out, o.String()+": "+fmt.Sprintf(format, args...))
	}
	n := 0
	for _, o := range objs {
		cj, ok := o.Obj.(*batchv1.CronJob)
		if !ok {
			continue
		}
		n++
		checkSchedule(o, cj, bad)
		checkJob(o, cj, bad)
		checkPod(o, objs, &cj.Spec.JobTemplate.Spec.Template, bad)
	}
	if n == 0 {
		out = append(out, "no CronJob in the build")
	}
	for _, o := range objs {
		if sa, ok := o.Obj.(*corev1.ServiceAccount); ok && !isFalse(sa.AutomountServiceAccountToken) {
			bad(o, "automountServiceAccountToken must be false: dpstats never calls the Kubernetes API")
		}
	}
	return out
}

type reporter func(o object, format string, args ...any)

// checkSchedule: daily, in an explicit time zone, firing after UTC midnight
// every day of the year, and never late enough for "yesterday" (a UTC day,
// computed when the pod starts) to change meaning.
func checkSchedule(o object, cj *batchv1.CronJob, bad reporter) {
	if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone == "" {
		bad(o, "spec.timeZone is not set: the schedule would follow the controller's local time")
		return
	}
	loc, err := time.LoadLocation(*cj.Spec.TimeZone)
	if err != nil {
		bad(o, "spec.timeZone %q: %v", *cj.Spec.TimeZone, err)
		return
	}
	minute, hour, err := parseDaily(cj.Spec.Schedule)
	if err != nil {
		bad(o, "spec.schedule %q: %v", cj.Spec.Schedule, err)
		return
	}
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		bad(o, "spec.concurrencyPolicy is %q, want Forbid", cj.Spec.ConcurrencyPolicy)
	}
	if cj.Spec.StartingDeadlineSeconds == nil || *cj.Spec.StartingDeadlineSeconds <= 0 {
		bad(o, "spec.startingDeadlineSeconds must be set (> 0): without it a long controller outage starts the job at any time")
		return
	}
	active := cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds
	if active == nil || *active <= 0 {
		bad(o, "jobTemplate.spec.activeDeadlineSeconds must be set: it bounds when the last retry can start")
		return
	}
	latest := time.Duration(*cj.Spec.StartingDeadlineSeconds+*active) * time.Second
	// Every day of a year, DST changes included.
	for d := time.Date(2027, 1, 1, 0, 0, 0, 0, loc); d.Year() == 2027; d = d.AddDate(0, 0, 1) {
		fire := time.Date(d.Year(), d.Month(), d.Day(), hour, minute, 0, 0, loc).UTC()
		midnight := time.Date(fire.Year(), fire.Month(), fire.Day(), 0, 0, 0, 0, time.UTC)
		since := fire.Sub(midnight)
		if since < time.Hour {
			bad(o, "spec.schedule %q %s fires at %s UTC on %s: want at least an hour after UTC midnight, so that yesterday's exports are complete",
				cj.Spec.Schedule, *cj.Spec.TimeZone, fire.Format("15:04"), d.Format(time.DateOnly))
			return
		}
		if since+latest >= 24*time.Hour {
			bad(o, "spec.schedule %q %s fires at %s UTC on %s; with startingDeadlineSeconds + activeDeadlineSeconds (%v) a run could start after the next UTC midnight, where \"yesterday\" is another day",
				cj.Spec.Schedule, *cj.Spec.TimeZone, fire.Format("15:04"), d.Format(time.DateOnly), latest)
			return
		}
	}
}

// parseDaily accepts "M H * * *" with numbers: the one shape this job
// needs, since a run releases exactly one day.
func parseDaily(s string) (minute, hour int, err error) {
	f := strings.Fields(s)
	if len(f) != 5 || f[2] != "*" || f[3] != "*" || f[4] != "*" {
		return 0, 0, fmt.Errorf(`want a daily schedule "M H * * *" (one run releases one day)`)
	}
	minute, err1 := strconv.Atoi(f[0])
	hour, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || minute < 0 || minute > 59 || hour < 0 || hour > 23 {
		return 0, 0, fmt.Errorf("want a numeric minute (0-59) and hour (0-23)")
	}
	return minute, hour, nil
}

// checkJob: a few safe retries, none for what retrying cannot fix.
func checkJob(o object, cj *batchv1.CronJob, bad reporter) {
	js := cj.Spec.JobTemplate.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit < 1 || *js.BackoffLimit > 5 {
		bad(o, "jobTemplate.spec.backoffLimit must be set to 1-5 (retries are safe, the ledger prevents re-releases; more only delays the alert)")
	}
	ps := &js.Template.Spec
	main := ""
	if len(ps.Containers) > 0 {
		main = ps.Containers[0].Name
	}
	failMain, failInit := failJobCodes(js.PodFailurePolicy, main), map[int32]bool{}
	if init := ledgerInitContainer(ps); init != nil {
		failInit = failJobCodes(js.PodFailurePolicy, init.Name)
	}
	for _, c := range noRetryExitCodes {
		if !failMain[c] {
			bad(o, "exit code %d must fail the Job at once (podFailurePolicy FailJob): retrying cannot fix it", c)
		}
	}
	for _, c := range retryExitCodes {
		if failMain[c] {
			bad(o, "exit code %d must not fail the Job at once: it may be transient and a retry is safe", c)
		}
	}
	for _, c := range initNoRetryExitCodes {
		if !failInit[c] {
			bad(o, "exit code %d of the ledger init container must fail the Job at once (podFailurePolicy FailJob): the ledger is corrupt or lost, a human must look", c)
		}
	}
}

// failJobCodes returns the exit codes of container that fail the Job at
// once under p (rules naming the container, or naming none).
func failJobCodes(p *batchv1.PodFailurePolicy, container string) map[int32]bool {
	fail := map[int32]bool{}
	if p == nil {
		return fail
	}
	for _, r := range p.Rules {
		oc := r.OnExitCodes
		if r.Action != batchv1.PodFailurePolicyActionFailJob || oc == nil || oc.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn {
			continue
		}
		if oc.ContainerName != nil && *oc.ContainerName != container {
			continue
		}
		for _, v := range oc.Values {
			fail[v] = true
		}
	}
	return fail
}

// ledgerInitContainer returns the init container that runs `dpstats ledger
// init`, or nil.
func ledgerInitContainer(ps *corev1.PodSpec) *corev1.Container {
	for i := range ps.InitContainers {
		if c := &ps.InitContainers[i]; slices.Equal(c.Args, []string{"ledger", "init"}) {
			return c
		}
	}
	return nil
}

// checkLedgerInit: `dpstats run` never creates the ledger, so the pod runs
// `dpstats ledger init` first, with the run's image and settings, on the
// run's ledger volume (writable, same path) and with the reports volume
// read-only at the same path (so that init refuses to create a lost ledger
// while reports survive), and nothing else.
func checkLedgerInit(o object, ps *corev1.PodSpec, c *corev1.Container, bad reporter) {
	init := ledgerInitContainer(ps)
	if init == nil {
		bad(o, "no init container runs `dpstats ledger init` (args [ledger, init]): `dpstats run` never creates the ledger")
		return
	}
	if len(ps.InitContainers) != 1 {
		bad(o, "want exactly one init container (ledger init), got %d", len(ps.InitContainers))
	}
	if init.Image != c.Image {
		bad(o, "init container %s: image %q differs from the run's %q", init.Name, init.Image, c.Image)
	}
	if len(init.Command) > 0 {
		bad(o, "init container %s: command %q replaces the image's dpstats entrypoint", init.Name, init.Command)
	}
	sameEnv := len(init.EnvFrom) == len(c.EnvFrom)
	for i := 0; sameEnv && i < len(c.EnvFrom); i++ {
		a, b := init.EnvFrom[i].ConfigMapRef, c.EnvFrom[i].ConfigMapRef
		sameEnv = a != nil && b != nil && a.Name == b.Name && init.EnvFrom[i].Prefix == c.EnvFrom[i].Prefix
	}
	if !sameEnv {
		bad(o, "init container %s: envFrom must be the run's (its DPSTATS_LEDGER and DPSTATS_OUT)", init.Name)
	}
	for _, e := range init.Env {
		if strings.HasPrefix(e.Name, "DPSTATS_") {
			bad(o, "init container %s: env %s: keep every DPSTATS_* setting in the ConfigMap", init.Name, e.Name)
		}
	}
	runMounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		runMounts[m.Name] = m
	}
	var ledgerOK, reportsOK bool
	for _, m := range init.VolumeMounts {
		rm, ok := runMounts[m.Name]
		switch {
		case !ok || rm.MountPath != m.MountPath:
			bad(o, "init container %s: mount %s (%s) is not the run's", init.Name, m.MountPath, m.Name)
		case m.Name == "ledger":
			ledgerOK = !m.ReadOnly
		case m.Name == "reports":
			reportsOK = m.ReadOnly
		default:
			bad(o, "init container %s: mounts %s (%s): it needs only the ledger and, read-only, the reports", init.Name, m.MountPath, m.Name)
		}
	}
	if !ledgerOK {
		bad(o, "init container %s: must mount the ledger volume writable at the run's path", init.Name)
	}
	if !reportsOK {
		bad(o, "init container %s: must mount the reports volume read-only at the run's path (to refuse creating a lost ledger)", init.Name)
	}
}

// checkPod: the locked-down pod, its configuration and its volumes.
func checkPod(o object, objs []object, tpl *corev1.PodTemplateSpec, bad reporter) {
	ps := &tpl.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		bad(o, "restartPolicy is %q, want Never (podFailurePolicy needs it; a retry is a new pod)", ps.RestartPolicy)
	}
	if !isFalse(ps.AutomountServiceAccountToken) {
		bad(o, "pod automountServiceAccountToken must be false")
	}
	if ps.ServiceAccountName == "" || ps.ServiceAccountName == "default" {
		bad(o, "serviceAccountName must name dpstats' own service account")
	} else if _, ok := find[*corev1.ServiceAccount](objs, ps.ServiceAccountName); !ok {
		bad(o, "serviceAccountName %q: no such ServiceAccount in the build", ps.ServiceAccountName)
	}
	if !isFalse(ps.EnableServiceLinks) {
		bad(o, "enableServiceLinks must be false: the environment must be exactly what the manifest says")
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		bad(o, "hostNetwork, hostPID and hostIPC must be off")
	}
	psc := ps.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		bad(o, "pod securityContext.runAsUser must be set to a non-zero uid (65532, distroless nonroot)")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad(o, "pod securityContext.seccompProfile must be RuntimeDefault")
	}
	if len(ps.Containers) != 1 {
		bad(o, "want exactly one container, got %d", len(ps.Containers))
		return
	}
	checkNetworkPolicies(o, objs, tpl.Labels, bad)
	for i := range ps.InitContainers {
		checkContainer(o, &ps.InitContainers[i], psc, bad)
	}
	c := &ps.Containers[0]
	checkContainer(o, c, psc, bad)
	checkConfig(o, objs, ps, c, bad)
	checkLedgerInit(o, ps, c, bad)
}

func checkContainer(o object, c *corev1.Container, psc *corev1.PodSecurityContext, bad reporter) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		bad(o, "container %s: runAsNonRoot must be true", c.Name)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		bad(o, "container %s: runAsUser 0", c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		bad(o, "container %s: readOnlyRootFilesystem must be true (dpstats writes only to its volumes)", c.Name)
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		bad(o, "container %s: allowPrivilegeEscalation must be false", c.Name)
	}
	if sc.Privileged != nil && *sc.Privileged {
		bad(o, "container %s: privileged", c.Name)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		bad(o, "container %s: capabilities must drop ALL and add none", c.Name)
	}
	if _, tag, digest := splitImage(c.Image); (tag == "" && digest == "") || tag == "latest" {
		bad(o, "container %s: image %q must name a version (tag or digest), not latest", c.Name, c.Image)
	}
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := req[r]; !ok || q.Sign() <= 0 {
			bad(o, "container %s: no %s request (size it from `make bench`)", c.Name, r)
		}
	}
	if l, ok := lim[corev1.ResourceMemory]; !ok {
		bad(o, "container %s: no memory limit", c.Name)
	} else if r := req[corev1.ResourceMemory]; l.Cmp(r) < 0 {
		bad(o, "container %s: memory limit %s below the request %s", c.Name, l.String(), r.String())
	}
	if l, ok := lim[corev1.ResourceCPU]; ok {
		if r := req[corev1.ResourceCPU]; l.Cmp(r) < 0 {
			bad(o, "container %s: cpu limit %s below the request %s", c.Name, l.String(), r.String())
		}
	}
}

// checkConfig: all DPSTATS_* settings from one ConfigMap, known keys only,
// paths on the right volumes.
func checkConfig(o object, objs []object, ps *corev1.PodSpec, c *corev1.Container, bad reporter) {
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "DPSTATS_") {
			bad(o, "env %s is set in the CronJob: keep every DPSTATS_* setting in the ConfigMap", e.Name)
		}
	}
	var cm *corev1.ConfigMap
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef == nil {
			continue
		}
		if ef.Prefix != "" {
			bad(o, "envFrom prefix %q would rename the DPSTATS_* keys", ef.Prefix)
		}
		got, ok := find[*corev1.ConfigMap](objs, ef.ConfigMapRef.Name)
		if !ok {
			bad(o, "envFrom ConfigMap %q is not in the build", ef.ConfigMapRef.Name)
			continue
		}
		if cm != nil {
			bad(o, "envFrom names more than one ConfigMap: keep the settings in one")
		}
		cm = got
	}
	if cm == nil {
		bad(o, "container %s: no envFrom ConfigMap: the settings (ε, δ, paths) must come from one", c.Name)
		return
	}
	cmObj := object{File: o.File, Kind: "ConfigMap", Name: cm.Name}
	for k := range cm.Data {
		if !slices.Contains(knownEnv, k) {
			bad(cmObj, "key %s is not a dpstats setting (known: %s); dpstats would ignore it", k, strings.Join(knownEnv, ", "))
		}
	}
	for _, k := range requiredEnv {
		if strings.TrimSpace(cm.Data[k]) == "" {
			bad(cmObj, "%s must be set", k)
		}
	}
	if v, ok := cm.Data["DPSTATS_RERUN"]; ok && v != "false" {
		bad(cmObj, "DPSTATS_RERUN=%q: a scheduled job must never re-release (fresh noise, charged again); rerun by hand", v)
	}
	if v := cm.Data["DPSTATS_PERIOD"]; v != "yesterday" {
		bad(cmObj, "DPSTATS_PERIOD=%q, want yesterday: a schedule releases the day that just ended", v)
	}
	if v, err := strconv.ParseFloat(cm.Data["DPSTATS_EPSILON"], 64); err != nil || !(v > 0) {
		bad(cmObj, "DPSTATS_EPSILON=%q, want a number > 0", cm.Data["DPSTATS_EPSILON"])
	}
	if v, err := strconv.ParseFloat(cm.Data["DPSTATS_DELTA"], 64); err != nil || !(v >= 0 && v < 1) {
		bad(cmObj, "DPSTATS_DELTA=%q, want a number in [0, 1)", cm.Data["DPSTATS_DELTA"])
	}

	mounts := mountTable(o, objs, ps, c, bad)
	ledgerMount := mounts.under(cm.Data["DPSTATS_LEDGER"])
	switch {
	case ledgerMount == nil:
		bad(cmObj, "DPSTATS_LEDGER=%q is not on a volume: on the read-only root filesystem it cannot be written, and it must outlive the pod", cm.Data["DPSTATS_LEDGER"])
	case ledgerMount.ReadOnly || ledgerMount.Claim == "":
		bad(cmObj, "DPSTATS_LEDGER=%q: the ledger volume %q must be a writable PersistentVolumeClaim", cm.Data["DPSTATS_LEDGER"], ledgerMount.Volume)
	case path.Dir(cm.Data["DPSTATS_LEDGER"]) != ledgerMount.Path:
		bad(cmObj, "DPSTATS_LEDGER=%q: put the ledger at the top of its volume (%s), beside its lock file", cm.Data["DPSTATS_LEDGER"], ledgerMount.Path)
	default:
		if p, ok := find[*corev1.PersistentVolumeClaim](objs, ledgerMount.Claim); ok {
			for _, m := range p.Spec.AccessModes {
				if m != corev1.ReadWriteOncePod && m != corev1.ReadWriteOnce {
					bad(object{File: o.File, Kind: "PersistentVolumeClaim", Name: p.Name},
						"ledger accessMode %s: the ledger lock is flock(2), which does not serialize writers across nodes or NFS clients; use ReadWriteOncePod or ReadWriteOnce", m)
				}
			}
		}
	}
	outMount := mounts.under(cm.Data["DPSTATS_OUT"])
	if outMount == nil || outMount.ReadOnly || outMount.Claim == "" {
		bad(cmObj, "DPSTATS_OUT=%q must be on a writable PersistentVolumeClaim mount", cm.Data["DPSTATS_OUT"])
	} else if ledgerMount != nil && outMount.Volume == ledgerMount.Volume {
		bad(cmObj, "DPSTATS_OUT and DPSTATS_LEDGER share volume %q: keep the ledger on its own volume (its backups and lifetime differ)", outMount.Volume)
	}
	for _, key := range []string{"DPSTATS_INPUT", "DPSTATS_CONSENT"} {
		for _, p := range strings.Split(cm.Data[key], ",") {
			p = strings.TrimSpace(p)
			if m := mounts.under(p); m == nil || !m.ReadOnly {
				bad(cmObj, "%s path %q must be on a read-only mount: dpstats never writes to its inputs", key, p)
			}
		}
	}
	if p := cm.Data["DPSTATS_METRICS_TEXTFILE"]; p != "" {
		if m := mounts.under(p); m == nil || m.ReadOnly {
			bad(cmObj, "DPSTATS_METRICS_TEXTFILE=%q must be on a writable mount", p)
		}
	}
	// Writable mounts are exactly the ledger and the reports.
	for _, m := range mounts {
		if !m.ReadOnly && m != ledgerMount && m != outMount {
			bad(o, "mount %s (%s) is writable but holds neither the ledger nor the reports: make it read-only", m.Path, m.Volume)
		}
	}
}

// mount is a container's volume mount with its volume's claim.
type mount struct {
	Path, Volume, Claim string
	ReadOnly            bool
}

type mounts []*mount

// under returns the mount holding the absolute path p, or nil.
func (ms mounts) under(p string) *mount {
	if !path.IsAbs(p) {
		return nil
	}
	p = path.Clean(p)
	var best *mount
	for _, m := range ms {
		if (p == m.Path || strings.HasPrefix(p, m.Path+"/")) && (best == nil || len(m.Path) > len(best.Path)) {
			best = m
		}
	}
	return best
}

// mountTable checks the pod's volumes (persistent claims, or read-only
// ConfigMaps and Secrets; nothing from the host, no scratch space) and
// returns the container's mounts.
func mountTable(o object, objs []object, ps *corev1.PodSpec, c *corev1.Container, bad reporter) mounts {
	vols := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		vols[v.Name] = v
		switch {
		case v.PersistentVolumeClaim != nil:
			if _, ok := find[*corev1.PersistentVolumeClaim](objs, v.PersistentVolumeClaim.ClaimName); !ok && !v.PersistentVolumeClaim.ReadOnly {
				bad(o, "volume %s: claim %q is not in the build (only the read-only exports claim may come from elsewhere)", v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		case v.ConfigMap != nil, v.Secret != nil:
		case v.HostPath != nil:
			bad(o, "volume %s: hostPath gives the pod the node's files", v.Name)
		default:
			bad(o, "volume %s: only PersistentVolumeClaims (ledger, reports, exports) and ConfigMaps/Secrets are expected", v.Name)
		}
	}
	var ms mounts
	for _, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			bad(o, "mount %s: no volume %q", vm.MountPath, vm.Name)
			continue
		}
		m := &mount{Path: path.Clean(vm.MountPath), Volume: vm.Name, ReadOnly: vm.ReadOnly}
		switch {
		case v.PersistentVolumeClaim != nil:
			m.Claim = v.PersistentVolumeClaim.ClaimName
			m.ReadOnly = m.ReadOnly || v.PersistentVolumeClaim.ReadOnly
		case v.ConfigMap != nil, v.Secret != nil:
			if !vm.ReadOnly {
				bad(o, "mount %s of %s must be read-only", vm.MountPath, vm.Name)
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// checkNetworkPolicies: some policy selecting the pod denies all egress;
// no policy selecting it allows egress to everywhere.
func checkNetworkPolicies(o object, objs []object, podLabels map[string]string, bad reporter) {
	denyAll := false
	for _, po := range objs {
		np, ok := po.Obj.(*networkingv1.NetworkPolicy)
		if !ok {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil {
			bad(po, "podSelector: %v", err)
			continue
		}
		if !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		if slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) && len(np.Spec.Egress) == 0 {
			denyAll = true
		}
		for i, r := range np.Spec.Egress {
			if len(r.To) == 0 || len(r.Ports) == 0 {
				bad(po, "egress rule %d allows all destinations or all ports: allow one service and port", i)
			}
			for _, peer := range r.To {
				if peer.IPBlock != nil {
					bad(po, "egress rule %d: ipBlock %s; allow pods by label instead", i, peer.IPBlock.CIDR)
				}
			}
		}
	}
	if !denyAll {
		bad(o, "no NetworkPolicy selecting the pod (labels %v) denies all egress (policyTypes [Egress], no egress rules)", podLabels)
	}
}

func isFalse(b *bool) bool { return b != nil && !*b }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func quantity(rl corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := rl[name]
	if !ok {
		return "none"
	}
	return q.String()
}

// find returns the object of type T called name.
func find[T any](objs []object, name string) (T, bool) {
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok && o.Name == name {
			return v, true
		}
	}
	var zero T
	return zero, false
}

func findObject[T any](t *testing.T, objs []object, name string) T {
	t.Helper()
	v, ok := find[T](objs, name)
	if !ok {
		var zero T
		t.Fatalf("no %T %q in the build", zero, name)
	}
	return v
}

// Accessors for the mutation tests, on the base's objects.

func cronJob(objs []object) *batchv1.CronJob {
	v, _ := find[*batchv1.CronJob](objs, "dpstats-playback-daily")
	return v
}

func podSpec(objs []object) *corev1.PodSpec {
	return &cronJob(objs).Spec.JobTemplate.Spec.Template.Spec
}

func container(objs []object) *corev1.Container { return &podSpec(objs).Containers[0] }

func configMap(objs []object) *corev1.ConfigMap {
	v, _ := find[*corev1.ConfigMap](objs, "dpstats-playback-daily")
	return v
}

func pvc(objs []object, name string) *corev1.PersistentVolumeClaim {
	v, _ := find[*corev1.PersistentVolumeClaim](objs, name)
	return v
}

func np(objs []object) *networkingv1.NetworkPolicy {
	v, _ := find[*networkingv1.NetworkPolicy](objs, "dpstats-deny-all")
	return v
}
