package helm_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// pods returns every pod template of a rendered value set, by owner name.
func (r rendered) pods() map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, o := range r.objects {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+o.name] = &v.Spec.Template.Spec
		case *appsv1.StatefulSet:
			out["StatefulSet/"+o.name] = &v.Spec.Template.Spec
		case *corev1.Pod:
			out["Pod/"+o.name] = &v.Spec
		}
	}
	return out
}

// stages returns alharvest's Deployments by binary (the container's command).
func (r rendered) stages(t *testing.T) map[string]*appsv1.Deployment {
	t.Helper()
	out := map[string]*appsv1.Deployment{}
	for _, o := range r.all("Deployment") {
		d := o.obj.(*appsv1.Deployment)
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", o.name, len(d.Spec.Template.Spec.Containers))
		}
		c := d.Spec.Template.Spec.Containers[0]
		if len(c.Command) != 1 {
			t.Fatalf("%s: command %v, want one binary", o.name, c.Command)
		}
		out[path.Base(c.Command[0])] = d
	}
	return out
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

// TestRestrictedPodSecurity checks every pod the chart renders (NATS's
// too, when it is deployed) against the "restricted" Pod Security Standard
// with the Kubernetes project's own evaluator (the one Pod Security
// Admission runs), plus a read-only root file system, which the standard
// does not ask for.
func TestRestrictedPodSecurity(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		for owner, pod := range r.pods() {
			for _, msg := range restrictedViolations(t, pod) {
				t.Errorf("%s: %s: %s", set, owner, msg)
			}
		}
	})
}

// restrictedViolations lists how pod breaks the latest restricted profile
// or leaves a container's root file system writable.
func restrictedViolations(t *testing.T, pod *corev1.PodSpec) []string {
	t.Helper()
	eval, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var v []string
	res := psapolicy.AggregateCheckResults(eval.EvaluatePod(lv, &metav1.ObjectMeta{}, pod))
	for i, reason := range res.ForbiddenReasons {
		v = append(v, fmt.Sprintf("restricted: %s (%s)", reason, res.ForbiddenDetails[i]))
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			v = append(v, "container "+c.Name+" has a writable root file system")
		}
	}
	return v
}

// TestRestrictedCheckFindsViolations proves restrictedViolations can fail.
func TestRestrictedCheckFindsViolations(t *testing.T) {
	pod := &corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}
	if got := restrictedViolations(t, pod); len(got) < 4 {
		t.Errorf("an unhardened pod gave only %v", got)
	}
	// The chart's own pods, with runAsNonRoot and seccomp taken away (null deletes a default).
	files, err := render(loadChart(t), with(base(), "podSecurityContext", map[string]any{"runAsNonRoot": nil, "seccompProfile": nil}))
	if err != nil {
		t.Fatal(err)
	}
	for owner, pod := range (rendered{objects: decode(t, files)}).pods() {
		if got := restrictedViolations(t, pod); len(got) == 0 {
			t.Errorf("%s without runAsNonRoot and seccomp passed", owner)
		}
	}
}

var (
	binaryVarsOnce sync.Once
	binaryVars     map[string]map[string]bool
	binaryVarsErr  error
)

// varsRead returns the environment variables each stage binary reads, as
// the binary itself lists them: `<binary> -h` prints every setting the
// configuration loader declares, each with its variable in [$NAME]. The
// binaries are built from this checkout (../..), so the list is the
// loader's, not a copy of it.
func varsRead(t *testing.T) map[string]map[string]bool {
	t.Helper()
	binaryVarsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "alharvest-helm-bins")
		if err != nil {
			binaryVarsErr = err
			return
		}
		defer os.RemoveAll(dir)
		bins := []string{"searcher", "scorer", "downloader", "alharvest"}
		args := []string{"build", "-o", dir + string(filepath.Separator)}
		for _, b := range bins {
			args = append(args, "./cmd/"+b)
		}
		build := exec.Command("go", args...)
		build.Dir = "../.."
		if out, err := build.CombinedOutput(); err != nil {
			binaryVarsErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		re := regexp.MustCompile(`\[\$([A-Z][A-Z0-9_]*)\]`)
		binaryVars = map[string]map[string]bool{}
		for _, b := range bins {
			// The chart runs the alharvest binary only as the feed.
			help, least := []string{"-h"}, 20
			if b == "alharvest" {
				help, least = []string{"feed", "-h"}, 10
			}
			out, _ := exec.Command(filepath.Join(dir, b), help...).CombinedOutput() // -h may exit 0 or 2
			vars := map[string]bool{}
			for _, m := range re.FindAllStringSubmatch(string(out), -1) {
				vars[m[1]] = true
			}
			if len(vars) < least {
				binaryVarsErr = fmt.Errorf("%s %v listed only %d [$VAR] settings; has its help format changed?\n%s", b, help, len(vars), out)
				return
			}
			binaryVars[b] = vars
		}
	})
	if binaryVarsErr != nil {
		t.Fatal(binaryVarsErr)
	}
	return binaryVars
}

// runtimeVars are read by the Go runtime of every binary, not by its loader.
var runtimeVars = map[string]bool{"GOMEMLIMIT": true}

// TestEnvIsWhatTheBinariesRead checks that every stage sets only
// variables its binary reads, by value and never a secret in the clear, and
// sets HTTP_ADDR (and WEBHOOK_ADDR for the searcher) itself rather than
// relying on a binary's default.
func TestEnvIsWhatTheBinariesRead(t *testing.T) {
	read := varsRead(t)
	// Secrets travel only as files: the variable holding the value itself
	// must never be set.
	inline := []string{"AL_APIKEY", "NATS_PASSWORD", "NATS_TOKEN", "WEBHOOK_PASSWORD", "WEBHOOK_TOKEN"}
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		for bin, d := range r.stages(t) {
			known, ok := read[bin]
			if !ok {
				t.Errorf("%s: Deployment %s runs %q, not a stage binary", set, d.Name, bin)
				continue
			}
			c := d.Spec.Template.Spec.Containers[0]
			for _, e := range c.Env {
				if !known[e.Name] && !runtimeVars[e.Name] {
					t.Errorf("%s: %s sets %s, which it does not read", set, bin, e.Name)
				}
				if e.ValueFrom != nil {
					t.Errorf("%s: %s takes %s from valueFrom; secrets are mounted as files", set, bin, e.Name)
				}
				if slices.Contains(inline, e.Name) {
					t.Errorf("%s: %s sets the secret %s in its environment", set, bin, e.Name)
				}
			}
			env := envOf(c)
			if env["HTTP_ADDR"] == "" {
				t.Errorf("%s: %s leaves HTTP_ADDR to the binary's default", set, bin)
			}
			if bin == "searcher" && r.vals["webhook"].(map[string]any)["enabled"] != false && env["WEBHOOK_ADDR"] == "" {
				t.Errorf("%s: the searcher does not set WEBHOOK_ADDR", set)
			}
		}
	})
}

// TestProbesAndPorts checks that the probes ask /healthz and /readyz on the
// port HTTP_ADDR opens, and that the webhook's Service, container port and
// WEBHOOK_ADDR agree.
func TestProbesAndPorts(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		for bin, d := range r.stages(t) {
			c := d.Spec.Template.Spec.Containers[0]
			env := envOf(c)
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			if want := ":" + strconv.Itoa(int(ports["http"])); env["HTTP_ADDR"] != want {
				t.Errorf("%s: %s HTTP_ADDR=%q, but its http port is %d", set, bin, env["HTTP_ADDR"], ports["http"])
			}
			for probe, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				want := "/healthz"
				if probe == "readiness" {
					want = "/readyz"
				}
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
					t.Errorf("%s: %s %s probe is %+v, want GET %s on port http", set, bin, probe, p, want)
				}
			}
			if bin == "searcher" && env["WEBHOOK_ADDR"] != "" {
				if want := ":" + strconv.Itoa(int(ports["webhook"])); env["WEBHOOK_ADDR"] != want {
					t.Errorf("%s: WEBHOOK_ADDR=%q, but the webhook port is %d", set, env["WEBHOOK_ADDR"], ports["webhook"])
				}
				svc := r.service(t, d)
				found := false
				for _, p := range svc.Spec.Ports {
					found = found || (p.Name == "webhook" && p.TargetPort.String() == "webhook")
				}
				if !found {
					t.Errorf("%s: Service %s does not carry the webhook port", set, svc.Name)
				}
			}
		}
		for _, o := range r.all("Ingress") {
			ing := o.obj.(*networkingv1.Ingress)
			p := ing.Spec.Rules[0].HTTP.Paths[0]
			if p.Path != "/webhooks/assemblyline" || p.Backend.Service.Port.Name != "webhook" || len(ing.Spec.TLS) == 0 {
				t.Errorf("%s: Ingress routes %s to %+v (TLS %v), want /webhooks/assemblyline to the webhook port over TLS", set, p.Path, p.Backend.Service, ing.Spec.TLS)
			}
		}
	})
}

// service returns the Service selecting d's pods.
func (r rendered) service(t *testing.T, d *appsv1.Deployment) *corev1.Service {
	t.Helper()
	for _, o := range r.all("Service") {
		s := o.obj.(*corev1.Service)
		if len(s.Spec.Selector) > 0 && reflect.DeepEqual(s.Spec.Selector, d.Spec.Selector.MatchLabels) {
			return s
		}
	}
	t.Fatalf("no Service selects %s", d.Name)
	return nil
}

// TestGoMemLimit checks GOMEMLIMIT is goMemLimitPercent (80) of the memory limit.
func TestGoMemLimit(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		for bin, d := range r.stages(t) {
			c := d.Spec.Template.Spec.Containers[0]
			limit := c.Resources.Limits.Memory()
			if limit.IsZero() {
				t.Errorf("%s: %s has no memory limit", set, bin)
				continue
			}
			want := strconv.FormatInt(limit.Value()*80/100, 10)
			if got := envOf(c)["GOMEMLIMIT"]; got != want {
				t.Errorf("%s: %s GOMEMLIMIT=%s, want %s (80%% of %s)", set, bin, got, want, limit)
			}
		}
	})
	// Units other than the defaults' Mi.
	for limit, want := range map[string]string{"1Gi": "858993459", "800M": "640000000", "2147483648": "1717986918"} {
		files, err := render(loadChart(t), with(base(), "scorer.resources.limits.memory", limit))
		if err != nil {
			t.Fatalf("limit %s: %v", limit, err)
		}
		r := rendered{objects: decode(t, files)}
		got := envOf(r.stages(t)["scorer"].Spec.Template.Spec.Containers[0])["GOMEMLIMIT"]
		q := resource.MustParse(limit)
		if got != want || strconv.FormatInt(q.Value()*80/100, 10) != want {
			t.Errorf("limit %s: GOMEMLIMIT=%s, want %s", limit, got, want)
		}
	}
}

// consumerBinding is a stage's stream and durable consumer.
type consumerBinding struct{ stream, consumer string }

// stageConsumers reads which stream and durable consumer each stage
// creates from the source: the calls in internal/service that pass
// messages.Stage*, messages.Stream* and messages.Consumer* together, with
// the constants' values from pkg/messages.
func stageConsumers(t *testing.T) map[string]consumerBinding {
	t.Helper()
	consts := map[string]string{}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "messages.go", readFile(t, "pkg/messages/messages.go"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for i, name := range vs.Names {
				if i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
		}
		return true
	})
	out := map[string]consumerBinding{}
	dir := "../../internal/service"
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var stage, stream, consumer string
			for _, a := range call.Args {
				sel, ok := a.(*ast.SelectorExpr)
				if !ok {
					continue
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "messages" {
					continue
				}
				switch name := sel.Sel.Name; {
				case strings.HasPrefix(name, "Stage"):
					stage = consts[name]
				case strings.HasPrefix(name, "Stream"):
					stream = consts[name]
				case strings.HasPrefix(name, "Consumer"):
					consumer = consts[name]
				}
			}
			if stage != "" && stream != "" && consumer != "" {
				out[stage] = consumerBinding{stream, consumer}
			}
			return true
		})
	}
	for _, s := range []string{"scorer", "downloader"} {
		if out[s].stream == "" {
			t.Fatalf("found no call in internal/service binding the %s stage to its stream and consumer (found %v); has the code moved?", s, out)
		}
	}
	return out
}

// TestKEDATriggersNameTheStagesConsumers checks every ScaledObject scales a
// stage on the stream and durable consumer that stage creates, with
// maxReplicaCount at most the Assemblyline quota.
func TestKEDATriggersNameTheStagesConsumers(t *testing.T) {
	want := stageConsumers(t)
	sets := 0
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		scaled := r.all("ScaledObject")
		if len(scaled) == 0 {
			return
		}
		sets++
		stages := r.stages(t)
		byDeployment := map[string]string{}
		for bin, d := range stages {
			byDeployment[d.Name] = bin
		}
		quota := 10
		if q, ok := r.vals["assemblyline"].(map[string]any)["quota"].(int); ok && q > 0 {
			quota = q
		}
		seen := map[string]bool{}
		for _, o := range scaled {
			so := o.obj.(*ScaledObject)
			bin := byDeployment[so.Spec.ScaleTargetRef.Name]
			if bin != "scorer" && bin != "downloader" {
				t.Errorf("%s: ScaledObject %s targets %q, not the scorer or downloader", set, o.name, so.Spec.ScaleTargetRef.Name)
				continue
			}
			seen[bin] = true
			if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "nats-jetstream" {
				t.Errorf("%s: %s triggers %+v, want one nats-jetstream", set, o.name, so.Spec.Triggers)
				continue
			}
			md := so.Spec.Triggers[0].Metadata
			if md["stream"] != want[bin].stream || md["consumer"] != want[bin].consumer {
				t.Errorf("%s: %s scales on %s/%s, but the %s consumes %s/%s", set, o.name, md["stream"], md["consumer"], bin, want[bin].stream, want[bin].consumer)
			}
			if md["natsServerMonitoringEndpoint"] == "" && so.Spec.Triggers[0].AuthenticationRef == nil {
				t.Errorf("%s: %s has no monitoring endpoint", set, o.name)
			}
			if so.Spec.MaxReplicaCount == nil || int(*so.Spec.MaxReplicaCount) != quota {
				t.Errorf("%s: %s maxReplicaCount %v, want the quota %d", set, o.name, so.Spec.MaxReplicaCount, quota)
			}
			if so.Spec.MinReplicaCount == nil || *so.Spec.MinReplicaCount < 1 {
				t.Errorf("%s: %s minReplicaCount %v, want at least 1", set, o.name, so.Spec.MinReplicaCount)
			}
			if stages[bin].Spec.Replicas != nil {
				t.Errorf("%s: the %s Deployment sets replicas while KEDA scales it (every upgrade would reset them)", set, bin)
			}
			if ref := so.Spec.Triggers[0].AuthenticationRef; ref != nil {
				found := false
				for _, a := range r.all("TriggerAuthentication") {
					found = found || a.name == ref.Name
				}
				if !found {
					t.Errorf("%s: %s refers to TriggerAuthentication %s, which is not rendered", set, o.name, ref.Name)
				}
			}
		}
		if !seen["scorer"] || !seen["downloader"] {
			t.Errorf("%s: ScaledObjects for %v, want scorer and downloader", set, seen)
		}
	})
	if sets < 2 {
		t.Fatalf("only %d value sets render ScaledObjects", sets)
	}
}

// TestSecretsOnlyReferenced checks the chart renders no Secret and mounts
// only the Secrets it was given by name.
func TestSecretsOnlyReferenced(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		if s := r.all("Secret"); len(s) > 0 {
			t.Errorf("%s: renders Secret %s", set, s[0].name)
		}
		given := map[string]bool{}
		collectSecretNames(r.vals, given)
		for owner, pod := range r.pods() {
			for _, v := range pod.Volumes {
				if v.Secret != nil && !given[v.Secret.SecretName] {
					t.Errorf("%s: %s mounts Secret %q, which no value named", set, owner, v.Secret.SecretName)
				}
			}
		}
		for _, o := range r.all("TriggerAuthentication") {
			for _, ref := range o.obj.(*TriggerAuthentication).Spec.SecretTargetRef {
				if !given[ref.Name] {
					t.Errorf("%s: %s reads Secret %q, which no value named", set, o.name, ref.Name)
				}
			}
		}
	})
}

// collectSecretNames gathers the values of every key naming a Secret.
func collectSecretNames(v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "existingSecret" || k == "tlsSecret") {
				into[s] = true
			}
			collectSecretNames(x, into)
		}
	case []any:
		for _, x := range v {
			collectSecretNames(x, into)
		}
	}
}

// kedaBase is base with KEDA on and the NATS monitoring endpoint it needs.
func kedaBase() map[string]any {
	return with(with(base(), "keda.enabled", true), "nats.monitoringEndpoint", "nats.nats.svc:8222")
}

// TestRequiredSecretsRefuseToRender checks that leaving out a Secret (or
// where Assemblyline or NATS are) stops the render with a message naming
// the value.
func TestRequiredSecretsRefuseToRender(t *testing.T) {
	for _, path := range []string{"assemblyline.existingSecret", "nats.existingSecret", "webhook.existingSecret", "assemblyline.url", "assemblyline.user", "nats.url"} {
		_, err := render(loadChart(t), without(base(), path))
		if err == nil || !strings.Contains(err.Error(), path+" is required") {
			t.Errorf("without %s: err = %v, want one saying %q", path, err, path+" is required")
		}
	}
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"over quota":        {with(kedaBase(), "scorer.autoscaling.maxReplicaCount", 11), "exceeds the Assemblyline quota (10)"},
		"scale to zero":     {with(kedaBase(), "downloader.autoscaling.minReplicaCount", 0), "minReplicaCount must be at least 1"},
		"keda no endpoint":  {with(base(), "keda.enabled", true), "needs the NATS monitoring endpoint"},
		"shared RWO volume": {with(base(), "output.accessModes", []any{"ReadWriteOnce"}), "must be ReadWriteMany"},
		"open NATS":         {with(without(base(), "nats.url"), "nats.enabled", true), "authorization.users"},
		"ingress no TLS":    {with(with(base(), "webhook.ingress.enabled", true), "webhook.ingress.host", "h.example.org"), "webhook.ingress.tlsSecret is required"},
		"bad memory":        {with(base(), "scorer.resources.limits.memory", "half"), `memory limit "half"`},
		// values.schema.json: a misspelt or mistyped value is refused, not ignored.
		"misspelt value": {with(base(), "keda.enable", true), "additional properties 'enable' not allowed"},
		"mistyped value": {with(base(), "nats.replicas", "three"), "/nats/replicas"},
		"unknown auth":   {with(base(), "nats.auth", "jwt"), "/nats/auth"},
	} {
		_, err := render(loadChart(t), tc.vals)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
}

// TestImageVersion checks the image the chart runs is the one
// deploy/images.sh builds for the chart's appVersion: same name, and the
// tag is the version it stamps into the binaries.
func TestImageVersion(t *testing.T) {
	var meta struct {
		AppVersion string `json:"appVersion"`
	}
	b, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "deploy/images.sh", "--names")
	cmd.Dir = "../.."
	// The default image name, as the chart's default repository is.
	cmd.Env = []string{"VERSION=" + meta.AppVersion}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ALHARVEST_IMAGE_NAME=") && !strings.HasPrefix(kv, "VERSION=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("images.sh --names: %v", err)
	}
	// Exactly the three assignments a build prints, each once: a script
	// evaluates them.
	names := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		if _, dup := names[k]; dup || v == "" || (k != "NATS_IMAGE" && k != "ALHARVEST_IMAGE" && k != "FEED_IMAGE") {
			t.Fatalf("images.sh --names printed %q; want NATS_IMAGE, ALHARVEST_IMAGE and FEED_IMAGE once each:\n%s", line, out)
		}
		names[k] = v
	}
	image, feedImage := names["ALHARVEST_IMAGE"], names["FEED_IMAGE"]
	if len(names) != 3 {
		t.Fatalf("images.sh --names printed %d assignments, want 3:\n%s", len(names), out)
	}
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		for bin, d := range r.stages(t) {
			image := image
			if bin == "alharvest" { // the feed: the example image, the alharvest image plus its program
				image = feedImage
			}
			if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
				t.Errorf("%s: %s runs %s, images.sh builds %s for appVersion %s", set, bin, got, image, meta.AppVersion)
			}
		}
	})
}

// TestPrometheusRuleIsTheShippedAlerts checks the PrometheusRule carries
// deploy/prometheus/alerts.yml unchanged, and that the monitors name the
// scrape job "alharvest" as those rules expect.
func TestPrometheusRuleIsTheShippedAlerts(t *testing.T) {
	var want RuleGroups
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/prometheus/alerts.yml"), &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) == 0 {
		t.Fatal("deploy/prometheus/alerts.yml has no rules")
	}
	r := renderSet(t, "ingress-and-monitoring")
	rules := r.all("PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	pr := rules[0].obj.(*PrometheusRule)
	if !reflect.DeepEqual(pr.Spec, want) {
		t.Errorf("the PrometheusRule differs from deploy/prometheus/alerts.yml:\n got %+v\nwant %+v", pr.Spec, want)
	}
	if pr.Labels["release"] != "prometheus" {
		t.Errorf("PrometheusRule labels %v lack monitoring.prometheusRule.labels", pr.Labels)
	}
	var endpoints []Endpoint
	for _, o := range r.all("ServiceMonitor") {
		endpoints = append(endpoints, o.obj.(*ServiceMonitor).Spec.Endpoints...)
	}
	for _, o := range r.all("PodMonitor") {
		endpoints = append(endpoints, o.obj.(*PodMonitor).Spec.PodMetricsEndpoints...)
	}
	if len(endpoints) != 2 {
		t.Fatalf("%d monitor endpoints, want one ServiceMonitor's and one PodMonitor's", len(endpoints))
	}
	for _, e := range endpoints {
		job := false
		for _, rl := range e.Relabelings {
			job = job || (rl.TargetLabel == "job" && rl.Replacement == "alharvest")
		}
		if e.Port != "http" || e.Path != "/metrics" || !job {
			t.Errorf("monitor endpoint %+v: want port http, /metrics, job=alharvest", e)
		}
	}
}

// TestNetworkPolicies checks that with the policy on, every alharvest pod is
// selected by a policy admitting only the metrics port (and the searcher's
// webhook port), and NATS, when deployed here, only admits alharvest.
func TestNetworkPolicies(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		policies := r.all("NetworkPolicy")
		if r.vals["networkPolicy"] != nil {
			if len(policies) != 0 {
				t.Errorf("%s: networkPolicy.enabled=false still renders %d policies", set, len(policies))
			}
			return
		}
		for bin, d := range r.stages(t) {
			var np *networkingv1.NetworkPolicy
			for _, o := range policies {
				p := o.obj.(*networkingv1.NetworkPolicy)
				if reflect.DeepEqual(p.Spec.PodSelector.MatchLabels, d.Spec.Selector.MatchLabels) {
					np = p
				}
			}
			if np == nil {
				t.Errorf("%s: no NetworkPolicy selects the %s", set, bin)
				continue
			}
			var ports []string
			for _, rule := range np.Spec.Ingress {
				if len(rule.From) == 0 {
					t.Errorf("%s: %s policy admits anyone", set, bin)
				}
				for _, p := range rule.Ports {
					ports = append(ports, p.Port.String())
				}
			}
			want := []string{"http"}
			if bin == "searcher" && envOf(d.Spec.Template.Spec.Containers[0])["WEBHOOK_ADDR"] != "" {
				want = append(want, "webhook")
			}
			if !slices.Equal(ports, want) {
				t.Errorf("%s: %s policy opens %v, want %v", set, bin, ports, want)
			}
		}
		if set == "nats-dependency" {
			found := false
			for _, o := range policies {
				p := o.obj.(*networkingv1.NetworkPolicy)
				if p.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "nats" {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no NetworkPolicy guards the NATS pods", set)
			}
		}
	})
}

// TestNATSDependency checks the official NATS chart, when enabled, renders
// a 3-server cluster with JetStream on a file store, every write synced,
// users required, and the stages pointed at it.
func TestNATSDependency(t *testing.T) {
	r := renderSet(t, "nats-dependency")
	var sts *appsv1.StatefulSet
	for _, o := range r.all("StatefulSet") {
		sts = o.obj.(*appsv1.StatefulSet)
	}
	if sts == nil {
		t.Fatal("no NATS StatefulSet")
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Errorf("NATS replicas %v, want 3", sts.Spec.Replicas)
	}
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		t.Error("NATS has no JetStream volume claim")
	}
	var conf string
	for _, o := range r.all("ConfigMap") {
		for _, v := range o.obj.(*corev1.ConfigMap).Data {
			conf += v
		}
	}
	for _, want := range []string{`"sync_interval": "always"`, `"store_dir": "/data"`, `"nkey": "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"`} {
		if !strings.Contains(conf, want) {
			t.Errorf("NATS config lacks %s:\n%s", want, conf)
		}
	}
	svc := ""
	for _, o := range r.all("Service") {
		if o.obj.(*corev1.Service).Spec.ClusterIP != "None" && strings.HasSuffix(o.name, "-nats") {
			svc = o.name
		}
	}
	// In a cluster KEDA reaches the consumer's leader at <server name>.<endpoint host>:
	// the endpoint must be the headless Service, whose pod names are the server names.
	var headless *corev1.Service
	for _, o := range r.all("Service") {
		if s := o.obj.(*corev1.Service); s.Spec.ClusterIP == "None" {
			headless = s
		}
	}
	if headless == nil {
		t.Fatal("no headless NATS Service")
	}
	monitor := false
	for _, p := range headless.Spec.Ports {
		monitor = monitor || p.Port == 8222
	}
	if !monitor || sts.Spec.ServiceName != headless.Name {
		t.Errorf("headless Service %s (ports %v) is not the StatefulSet's (%s) with the monitoring port", headless.Name, headless.Spec.Ports, sts.Spec.ServiceName)
	}
	for _, o := range r.all("ScaledObject") {
		want := headless.Name + "." + release.Namespace + ".svc:8222"
		if got := o.obj.(*ScaledObject).Spec.Triggers[0].Metadata["natsServerMonitoringEndpoint"]; got != want {
			t.Errorf("%s reads NATS's monitoring at %q, want the headless Service %q", o.name, got, want)
		}
	}
	for bin, d := range r.stages(t) {
		env := envOf(d.Spec.Template.Spec.Containers[0])
		if want := "nats://" + svc + "." + release.Namespace + ".svc:4222"; svc == "" || env["NATS_URL"] != want {
			t.Errorf("%s NATS_URL=%q, want %q", bin, env["NATS_URL"], want)
		}
		if env["NATS_REPLICAS"] != "3" {
			t.Errorf("%s NATS_REPLICAS=%q, want 3", bin, env["NATS_REPLICAS"])
		}
	}
}

// TestNATSNamesFollowTheNATSChart checks the stages and KEDA find this
// release's NATS under the name the NATS chart gives it, also when the
// release's name already contains "nats" (then the chart uses it as is).
func TestNATSNamesFollowTheNATSChart(t *testing.T) {
	skipWithoutNATSChart(t)
	vals := valueSets()["nats-dependency"]
	for _, rel := range []string{"harvest", "nats-harvest"} {
		opts := release
		opts.Name = rel
		files, err := renderAs(loadChart(t), vals, opts)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		r := rendered{objects: decode(t, files)}
		services := map[string]bool{}
		for _, o := range r.all("Service") {
			services[o.name] = true
		}
		for bin, d := range r.stages(t) {
			host := strings.TrimPrefix(envOf(d.Spec.Template.Spec.Containers[0])["NATS_URL"], "nats://")
			if name := strings.Split(host, ".")[0]; !services[name] {
				t.Errorf("release %s: %s NATS_URL names Service %q; rendered %v", rel, bin, name, services)
			}
		}
		for _, o := range r.all("ScaledObject") {
			host := o.obj.(*ScaledObject).Spec.Triggers[0].Metadata["natsServerMonitoringEndpoint"]
			if name := strings.Split(host, ".")[0]; !services[name] {
				t.Errorf("release %s: %s reads Service %q; rendered %v", rel, o.name, name, services)
			}
		}
	}
}

// TestNATSEnabledOwnTemplates checks this chart's own side of
// nats.enabled, which renders without the NATS chart: the stages and KEDA
// point at the Services the NATS chart names for the release (the names
// TestNATSNamesFollowTheNATSChart checks against the NATS chart itself
// once it is fetched), a NetworkPolicy guards the NATS pods, the stages'
// pods stay restricted, and the settings that would deploy an open or
// too small NATS cluster stop the render. The NATS chart is taken out of
// the loaded chart, so the test is the same whether or not it was fetched.
func TestNATSEnabledOwnTemplates(t *testing.T) {
	for rel, natsName := range map[string]string{"harvest": "harvest-nats", "nats-harvest": "nats-harvest"} {
		opts := release
		opts.Name = rel
		ch := loadChart(t)
		ch.SetDependencies()
		files, err := renderAs(ch, valueSets()["nats-dependency"], opts)
		if err != nil {
			t.Fatalf("release %s: %v", rel, err)
		}
		r := rendered{objects: decode(t, files)}
		stages := r.stages(t)
		if len(stages) != 3 {
			t.Fatalf("release %s: stages %v, want searcher, scorer and downloader", rel, slices.Collect(maps.Keys(stages)))
		}
		for bin, d := range stages {
			env := envOf(d.Spec.Template.Spec.Containers[0])
			if want := "nats://" + natsName + "." + release.Namespace + ".svc:4222"; env["NATS_URL"] != want {
				t.Errorf("release %s: %s NATS_URL=%q, want %q", rel, bin, env["NATS_URL"], want)
			}
			if env["NATS_REPLICAS"] != "3" {
				t.Errorf("release %s: %s NATS_REPLICAS=%q, want 3", rel, bin, env["NATS_REPLICAS"])
			}
			for _, msg := range restrictedViolations(t, &d.Spec.Template.Spec) {
				t.Errorf("release %s: %s: %s", rel, bin, msg)
			}
		}
		scaled := r.all("ScaledObject")
		if len(scaled) != 2 {
			t.Errorf("release %s: %d ScaledObjects, want the scorer's and the downloader's", rel, len(scaled))
		}
		for _, o := range scaled {
			want := natsName + "-headless." + release.Namespace + ".svc:8222"
			if got := o.obj.(*ScaledObject).Spec.Triggers[0].Metadata["natsServerMonitoringEndpoint"]; got != want {
				t.Errorf("release %s: %s reads NATS's monitoring at %q, want %q", rel, o.name, got, want)
			}
		}
		guarded := false
		for _, o := range r.all("NetworkPolicy") {
			guarded = guarded || o.obj.(*networkingv1.NetworkPolicy).Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] == "nats"
		}
		if !guarded {
			t.Errorf("release %s: no NetworkPolicy guards the NATS pods", rel)
		}
	}
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"open NATS":          {with(valueSets()["nats-dependency"], "natscluster.config.merge.authorization.users", []any{}), "a NATS without users would accept any client"},
		"replicas > servers": {with(valueSets()["nats-dependency"], "nats.replicas", 5), "nats.replicas=5 exceeds the NATS cluster's 3 servers"},
	} {
		ch := loadChart(t)
		ch.SetDependencies()
		_, err := render(ch, tc.vals)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
}

// TestPackagedChartCarriesTheAlerts packages the chart as `helm package`
// does and installs from the archive: the alert rules, a symbolic link in
// the chart directory, travel as their content, the NATS chart stays
// declared, and it travels inside the archive when it has been fetched.
func TestPackagedChartCarriesTheAlerts(t *testing.T) {
	src := loadChart(t)
	archive, err := chartutil.Save(src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(archive)
	if err != nil {
		t.Fatal(err)
	}
	if d := ch.Metadata.Dependencies; len(d) != 1 || d[0].Name != "nats" || d[0].Alias != "natscluster" {
		t.Errorf("packaged chart declares %v, want the NATS chart as natscluster", d)
	}
	if hasNATSChart(ch) != hasNATSChart(src) {
		t.Errorf("packaged chart carries the NATS chart: %v; the chart directory: %v", hasNATSChart(ch), hasNATSChart(src))
	}
	files, err := render(ch, valueSets()["ingress-and-monitoring"])
	if err != nil {
		t.Fatal(err)
	}
	var want RuleGroups
	if err := yaml.UnmarshalStrict(readFile(t, "deploy/prometheus/alerts.yml"), &want); err != nil {
		t.Fatal(err)
	}
	rules := (rendered{objects: decode(t, files)}).all("PrometheusRule")
	if len(rules) != 1 || !reflect.DeepEqual(rules[0].obj.(*PrometheusRule).Spec, want) {
		t.Errorf("the packaged chart's PrometheusRule differs from deploy/prometheus/alerts.yml")
	}
}
