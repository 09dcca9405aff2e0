package helm_test

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this module.
const chartDir = "alharvest"

// kubeVersion is the cluster version the chart is rendered for.
const kubeVersion = "v1.33.0"

// release names the test release and its namespace.
var release = common.ReleaseOptions{Name: "harvest", Namespace: "alharvest", IsInstall: true, Revision: 1}

// base is the least a user must give: where Assemblyline and NATS are and
// the names of the three Secrets.
func base() map[string]any {
	return map[string]any{
		"assemblyline": map[string]any{
			"url":            "https://assemblyline-ui.assemblyline.svc",
			"user":           "alharvest",
			"existingSecret": "alharvest-apikey",
		},
		"nats": map[string]any{
			"url":            "nats://nats.nats.svc:4222",
			"existingSecret": "alharvest-nats",
		},
		"webhook": map[string]any{
			"existingSecret": "alharvest-webhook",
		},
	}
}

// with returns v with the value at the dotted path set, creating maps on
// the way.
func with(v map[string]any, path string, val any) map[string]any {
	keys := strings.Split(path, ".")
	m := v
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = val
	return v
}

// without returns v with the value at the dotted path removed.
func without(v map[string]any, path string) map[string]any {
	keys := strings.Split(path, ".")
	m := v
	for _, k := range keys[:len(keys)-1] {
		m = m[k].(map[string]any)
	}
	delete(m, keys[len(keys)-1])
	return v
}

// valueSets are the configurations every invariant is checked on.
func valueSets() map[string]map[string]any {
	keda := with(base(), "keda.enabled", true)
	with(keda, "nats.monitoringEndpoint", "nats.nats.svc:8222")
	with(keda, "assemblyline.quota", 6)

	kedaSecret := with(base(), "keda.enabled", true)
	with(kedaSecret, "keda.monitoring.existingSecret", "nats-monitoring")

	full := base()
	with(full, "webhook.ingress.enabled", true)
	with(full, "webhook.ingress.host", "harvest.example.org")
	with(full, "webhook.ingress.tlsSecret", "harvest-tls")
	with(full, "webhook.ingress.className", "nginx")
	with(full, "webhook.tlsSecret", "harvest-webhook-tls")
	with(full, "monitoring.serviceMonitor.enabled", true)
	with(full, "monitoring.podMonitor.enabled", true)
	with(full, "monitoring.prometheusRule.enabled", true)
	with(full, "monitoring.prometheusRule.labels", map[string]any{"release": "prometheus"})
	with(full, "assemblyline.caConfigMap", "cluster-ca")
	with(full, "nats.caConfigMap", "cluster-ca")
	with(full, "nats.auth", "creds")
	with(full, "output.existingClaim", "malware-share")

	basic := base()
	with(basic, "webhook.auth", "basic")
	with(basic, "webhook.user", "assemblyline")
	with(basic, "nats.auth", "password")
	with(basic, "nats.user", "alharvest")
	with(basic, "networkPolicy.enabled", false)
	with(basic, "serviceAccount.create", false)

	dep := without(base(), "nats.url")
	with(dep, "nats.enabled", true)
	with(dep, "nats.replicas", 3)
	with(dep, "keda.enabled", true)
	with(dep, "identities.feeder.publicKey", feederKey)
	with(dep, "identities.reader.publicKey", readerKey)
	with(dep, "natscluster.config.merge.authorization.users", append(
		[]any{map[string]any{"nkey": "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}},
		identityUsers()...))

	return map[string]map[string]any{
		"feed":                   feedValues(),
		"minimal":                base(),
		"keda":                   keda,
		"keda-endpoint-secret":   kedaSecret,
		"ingress-and-monitoring": full,
		"basic-auth-no-policy":   basic,
		"nats-dependency":        dep,
		"webhook-off":            with(without(base(), "webhook.existingSecret"), "webhook.enabled", false),
	}
}

// loadChart loads the chart from its directory, as `helm install ./alharvest` does.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// render renders the chart with vals the way `helm install --dry-run`
// does once its dependency check has passed: dependencies enabled or
// pruned by their conditions, the Kubernetes version checked against the
// chart's, values validated, templates run. Helm's check itself (every
// declared dependency under charts/, whatever its condition) is left out,
// so that this chart's own templates are tested where the NATS chart could
// not be fetched; a disabled dependency is pruned before anything renders,
// so with nats.enabled=false the output is the same with or without it.
func render(ch *chart.Chart, vals map[string]any) (map[string]string, error) {
	return renderAs(ch, vals, release)
}

// renderAs is render for the release rel.
func renderAs(ch *chart.Chart, vals map[string]any, rel common.ReleaseOptions) (map[string]string, error) {
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, kv.String()) {
		return nil, fmt.Errorf("chart needs Kubernetes %s", ch.Metadata.KubeVersion)
	}
	if err := chartutil.ProcessDependencies(ch, vals); err != nil {
		return nil, err
	}
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals, rel, caps, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, top)
}

// object is one rendered Kubernetes object, decoded strictly into its Go
// type.
type object struct {
	file string // template that produced it
	kind string
	name string
	obj  any
}

// decoders maps apiVersion/kind to a new value of the Go type the object
// must decode into: the Kubernetes API's types, or for the CRDs this
// chart uses, the structs in crds_test.go.
var decoders = map[string]func() any{
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/PersistentVolumeClaim":                func() any { return new(corev1.PersistentVolumeClaim) },
	"v1/Pod":                                  func() any { return new(corev1.Pod) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                     func() any { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return new(networkingv1.NetworkPolicy) },
	"networking.k8s.io/v1/Ingress":            func() any { return new(networkingv1.Ingress) },
	"keda.sh/v1alpha1/ScaledObject":           func() any { return new(ScaledObject) },
	"keda.sh/v1alpha1/TriggerAuthentication":  func() any { return new(TriggerAuthentication) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(ServiceMonitor) },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return new(PodMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(PrometheusRule) },
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits the rendered manifests into objects and decodes each
// strictly: an unknown or misspelt field, a duplicate field or a value of
// the wrong type fails, as does a kind the chart is not expected to make.
func decode(t *testing.T, files map[string]string) []object {
	t.Helper()
	var out []object
	for _, file := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(file, "NOTES.txt") {
			continue
		}
		for _, doc := range docSep.Split(files[file], -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var head struct {
				APIVersion string            `json:"apiVersion"`
				Kind       string            `json:"kind"`
				Metadata   metav1.ObjectMeta `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", file, err, doc)
			}
			if head.Kind == "" { // only comments
				continue
			}
			newObj := decoders[head.APIVersion+"/"+head.Kind]
			if newObj == nil {
				t.Errorf("%s: unexpected object %s/%s %q", file, head.APIVersion, head.Kind, head.Metadata.Name)
				continue
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s: %s %q does not decode strictly: %v", file, head.Kind, head.Metadata.Name, err)
				continue
			}
			out = append(out, object{file: file, kind: head.Kind, name: head.Metadata.Name, obj: obj})
		}
	}
	return out
}

// rendered is one value set's objects.
type rendered struct {
	vals    map[string]any
	objects []object
}

// feedEnabled reports whether the value set turns the feed on.
func (r rendered) feedEnabled() bool {
	f, _ := r.vals["feed"].(map[string]any)
	return f != nil && f["enabled"] == true
}

func (r rendered) all(kind string) []object {
	var out []object
	for _, o := range r.objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// natsChartMissing is why a test needing the official NATS chart skips:
// the chart declares it in Chart.yaml, but only `helm dependency build`
// puts it under alharvest/charts (never committed), and no chart
// repository may be reachable where the tests run.
const natsChartMissing = "the official NATS chart is not present: run `helm dependency build deploy/helm/alharvest`"

// needsNATSChart names the value sets that deploy the NATS chart.
var needsNATSChart = map[string]bool{"nats-dependency": true}

// hasNATSChart reports whether Helm loaded the NATS chart as ch's
// dependency, from alharvest/charts/nats or a nats-*.tgz there.
func hasNATSChart(ch *chart.Chart) bool {
	for _, d := range ch.Dependencies() {
		if d.Name() == "nats" {
			return true
		}
	}
	return false
}

// skipWithoutNATSChart skips t when the NATS chart is not under alharvest/charts.
func skipWithoutNATSChart(t *testing.T) {
	t.Helper()
	if !hasNATSChart(loadChart(t)) {
		t.Skip(natsChartMissing)
	}
}

// renderSet renders and decodes the value set named set; a set that
// deploys the NATS chart skips without it.
func renderSet(t *testing.T, set string) rendered {
	t.Helper()
	if needsNATSChart[set] {
		skipWithoutNATSChart(t)
	}
	vals := valueSets()[set]
	files, err := render(loadChart(t), vals)
	if err != nil {
		t.Fatalf("%s: render: %v", set, err)
	}
	r := rendered{vals: vals, objects: decode(t, files)}
	want := 3
	if r.feedEnabled() {
		want = 4
	}
	if len(r.all("Deployment")) != want {
		t.Fatalf("%s: rendered %d Deployments, want searcher, scorer and downloader (and the feed when enabled)", set, len(r.all("Deployment")))
	}
	return r
}

// forEachSet runs check on every value set, rendered and decoded, each in
// a subtest named for the set.
func forEachSet(t *testing.T, check func(t *testing.T, set string, r rendered)) {
	for _, set := range slices.Sorted(maps.Keys(valueSets())) {
		t.Run(set, func(t *testing.T) { check(t, set, renderSet(t, set)) })
	}
}

// TestRenderDecodesStrictly renders every value set and decodes every object
// into its Kubernetes API type with unknown fields refused.
func TestRenderDecodesStrictly(t *testing.T) {
	forEachSet(t, func(t *testing.T, set string, r rendered) {
		kinds := map[string]int{}
		for _, o := range r.objects {
			kinds[o.kind]++
		}
		t.Logf("%s: %v", set, kinds)
	})
}

// TestDecodeRefusesUnknownField proves the strict decoding test can fail:
// a misspelt field in an otherwise valid Deployment is refused.
func TestDecodeRefusesUnknownField(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n"
	if err := yaml.UnmarshalStrict([]byte(doc), new(appsv1.Deployment)); err == nil {
		t.Fatal("a misspelt field (replica) decoded without error")
	}
	doc = "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata:\n  name: x\nspec:\n  maxReplicas: 2\n"
	if err := yaml.UnmarshalStrict([]byte(doc), new(ScaledObject)); err == nil {
		t.Fatal("a misspelt ScaledObject field (maxReplicas) decoded without error")
	}
}

// missingNATSChartLint is the one finding helm lint makes when the NATS
// chart has not been fetched (its dependency rule, at warning severity).
const missingNATSChartLint = "chart directory is missing these dependencies: nats"

// TestLint runs helm lint's rules on every value set: no warning, no
// error, except that without the fetched NATS chart the dependency rule
// must say exactly that it is missing.
func TestLint(t *testing.T) {
	fetched := hasNATSChart(loadChart(t))
	for name, vals := range valueSets() {
		missingReported := false
		for _, m := range lintMessages(vals) {
			if m.Severity < support.WarningSev {
				continue
			}
			if !fetched && !missingReported && m.Severity == support.WarningSev && m.Err != nil && m.Err.Error() == missingNATSChartLint {
				missingReported = true
				continue
			}
			t.Errorf("%s: lint: %v", name, m)
		}
		if !fetched && !missingReported {
			t.Errorf("%s: lint did not report the missing NATS chart (%q)", name, missingNATSChartLint)
		}
	}
}

// readFile reads a file of the alharvest module, relative to this module.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
