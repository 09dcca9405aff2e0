package helm_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Public nkeys of the feeder and the reader in the tests' values (not secrets).
const (
	feederKey = "UCO3XQDBL5VWGYDO5YP6JCVUVP2HNRQTU3ZZUHQSFRAO7EKOKB5MNR2O"
	readerKey = "UDLK75S2G752IYDSA3H255QTLDWH5ABSEQSSBRGNBUTPM2YEOC4F4KSS"
)

// permissions is a NATS user's permissions block.
type permissions struct {
	Publish   allow `json:"publish"`
	Subscribe allow `json:"subscribe"`
}

type allow struct {
	Allow []string `json:"allow"`
}

// natsUser is one authorization.users entry.
type natsUser struct {
	NKey        string      `json:"nkey"`
	Permissions permissions `json:"permissions"`
}

// secretsInitPermissions reads what the compose deployment's secrets step
// grants the feeder and the reader: the string lists FeederPublish,
// FeederSubscribe, ReaderPublish and ReaderSubscribe in
// internal/ops/secretsinit, parsed from the source (the main module's internal
// packages cannot be imported from this module).
func secretsInitPermissions() (map[string]permissions, error) {
	const file = "../../internal/ops/secretsinit/secretsinit.go"
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseFile(token.NewFileSet(), file, src, 0)
	if err != nil {
		return nil, err
	}
	lists := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.CompositeLit)
			if !ok {
				continue
			}
			var ss []string
			for _, e := range lit.Elts {
				b, ok := e.(*ast.BasicLit)
				if !ok || b.Kind != token.STRING {
					return true
				}
				s, _ := strconv.Unquote(b.Value)
				ss = append(ss, s)
			}
			lists[name.Name] = ss
		}
		return true
	})
	out := map[string]permissions{}
	for id, prefix := range map[string]string{"feeder": "Feeder", "reader": "Reader"} {
		pub, sub := lists[prefix+"Publish"], lists[prefix+"Subscribe"]
		if len(pub) == 0 || len(sub) == 0 {
			return nil, fmt.Errorf("%s: no string-literal lists %sPublish and %sSubscribe (found %v); has the code moved?", file, prefix, prefix, lists)
		}
		out[id] = permissions{allow{pub}, allow{sub}}
	}
	return out, nil
}

// identityUsers is the feeder's and the reader's authorization.users
// entries (in that order) as the secrets step grants them, as chart values.
func identityUsers() []any {
	perms, err := secretsInitPermissions()
	if err != nil {
		panic(err)
	}
	var out []any
	for _, u := range []struct{ id, key string }{{"feeder", feederKey}, {"reader", readerKey}} {
		b, _ := yaml.Marshal(natsUser{NKey: u.key, Permissions: perms[u.id]})
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	return out
}

// feedValues is base with the feed on, as the reader, and both identities
// given, scraped by a ServiceMonitor, with a TLS NATS.
func feedValues() map[string]any {
	v := base()
	with(v, "feed.enabled", true)
	with(v, "feed.existingSecret", "alharvest-reader")
	with(v, "identities.feeder.publicKey", feederKey)
	with(v, "identities.reader.publicKey", readerKey)
	with(v, "monitoring.serviceMonitor.enabled", true)
	with(v, "nats.caConfigMap", "cluster-ca")
	return v
}

// TestIdentityPermissionsAreSecretsInits renders the chart's
// alharvest.identityUsers helper and checks each entry grants exactly what
// the compose deployment's secrets step grants that identity.
func TestIdentityPermissionsAreSecretsInits(t *testing.T) {
	want, err := secretsInitPermissions()
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		keys map[string]string
	}{
		"both":        {map[string]string{"feeder": feederKey, "reader": readerKey}},
		"reader only": {map[string]string{"reader": readerKey}},
		"none":        {map[string]string{}},
	} {
		ch := loadChart(t)
		ch.Templates = append(ch.Templates, &common.File{Name: "templates/identity-users-under-test.yaml", Data: []byte(`{{ include "alharvest.identityUsers" . }}`)})
		vals := base()
		for id, key := range tc.keys {
			with(vals, "identities."+id+".publicKey", key)
		}
		files, err := render(ch, vals)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var users []natsUser
		if err := yaml.UnmarshalStrict([]byte(files["alharvest/templates/identity-users-under-test.yaml"]), &users); err != nil {
			t.Fatalf("%s: the users the helper renders do not decode: %v", name, err)
		}
		got := map[string]natsUser{}
		for _, u := range users {
			got[u.NKey] = u
		}
		if len(users) != len(tc.keys) || len(got) != len(tc.keys) {
			t.Errorf("%s: rendered users %+v, want one per key %v", name, users, tc.keys)
		}
		for id, key := range tc.keys {
			if u, ok := got[key]; !ok || !reflect.DeepEqual(u.Permissions, want[id]) {
				t.Errorf("%s: the %s's entry is %+v, secrets-init grants %+v", name, id, u.Permissions, want[id])
			}
		}
	}
}

// TestNATSIdentitiesRequired checks that with the bundled NATS and an
// identity's public key given, the render stops until the NATS users hold
// that identity's entry with exactly its permissions, and prints the entry
// to add.
func TestNATSIdentitiesRequired(t *testing.T) {
	dep := func() map[string]any { return valueSets()["nats-dependency"] }
	stagesOnly := []any{map[string]any{"nkey": "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"}}
	users := identityUsers()
	widened := identityUsers()
	for _, u := range widened {
		m := u.(map[string]any)
		if m["nkey"] == readerKey {
			pub := m["permissions"].(map[string]any)["publish"].(map[string]any)
			pub["allow"] = append(pub["allow"].([]any), "alharvest.files")
		}
	}
	for name, tc := range map[string]struct {
		vals map[string]any
		want []string
	}{
		"no identity entries": {with(dep(), "natscluster.config.merge.authorization.users", stagesOnly), []string{"identities.feeder.publicKey", feederKey, readerKey, "alharvest.sids", "$JS.ACK.ALHARVEST_COLLECTED.>"}},
		"reader missing":      {with(dep(), "natscluster.config.merge.authorization.users", append(slices.Clone(stagesOnly), users[0:1]...)), []string{"identities.reader.publicKey"}},
		"reader widened":      {with(dep(), "natscluster.config.merge.authorization.users", append(slices.Clone(stagesOnly), widened...)), []string{"identities.reader.publicKey"}},
	} {
		ch := loadChart(t)
		ch.SetDependencies()
		_, err := render(ch, tc.vals)
		if err == nil {
			t.Errorf("%s: rendered", name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want one containing %q", name, err, w)
			}
		}
	}
	ch := loadChart(t)
	ch.SetDependencies()
	if _, err := render(ch, dep()); err != nil {
		t.Errorf("with both entries: %v", err)
	}
}

// feedDeployment returns the feed's Deployment of a rendered value set.
func (r rendered) feedDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	d, ok := r.stages(t)["alharvest"]
	if !ok {
		t.Fatal("no Deployment runs alharvest feed")
	}
	return d
}

// TestFeed checks the feed's Deployment: alharvest feed with the values'
// flags and the user's program after --, the reader's Secret as its only
// credential, the output volume read-only, and a Service the
// ServiceMonitor selects. Pod security, env names, probes, image and
// network policy are checked with every value set.
func TestFeed(t *testing.T) {
	r := renderSet(t, "feed")
	d := r.feedDeployment(t)
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	wantArgs := []string{"feed", "--durable=inbox", "--from=all", "--jobs=1", "--max-attempts=5", "--timeout=10m",
		"--output-dir=/collected", "--", "/usr/local/bin/feed-example", "/inbox"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("feed args %q, want %q", c.Args, wantArgs)
	}
	env := envOf(c)
	for name := range env {
		if strings.HasPrefix(name, "AL_") {
			t.Errorf("the feed sets %s: it never calls Assemblyline", name)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
		if v.Secret != nil && v.Secret.SecretName != "alharvest-reader" {
			t.Errorf("the feed mounts Secret %q; its only credential is feed.existingSecret", v.Secret.SecretName)
		}
	}
	nkey, ok := env["NATS_NKEY"]
	if !ok || len(env["NATS_URL"]) == 0 {
		t.Fatalf("the feed's NATS settings: %v", env)
	}
	var fromSecret bool
	for name, m := range mounts {
		if strings.HasPrefix(nkey, m.MountPath+"/") && volumes[name].Secret != nil {
			fromSecret = m.ReadOnly && volumes[name].Secret.SecretName == "alharvest-reader" &&
				len(volumes[name].Secret.Items) == 1 && m.MountPath+"/"+volumes[name].Secret.Items[0].Path == nkey
		}
	}
	if !fromSecret {
		t.Errorf("NATS_NKEY=%s is not the reader's seed from Secret alharvest-reader, mounted read-only", nkey)
	}
	out, ok := mounts["output"]
	if !ok || out.MountPath != "/collected" || !out.ReadOnly {
		t.Errorf("output mount %+v, want /collected read-only", out)
	}
	if pvc := volumes["output"].PersistentVolumeClaim; pvc == nil || !pvc.ReadOnly || pvc.ClaimName != "harvest-alharvest-output" {
		t.Errorf("output volume %+v, want the downloader's claim, read-only", volumes["output"])
	}
	svc := r.service(t, d)
	var sm *ServiceMonitor
	for _, o := range r.all("ServiceMonitor") {
		sm = o.obj.(*ServiceMonitor)
	}
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("the ServiceMonitor (%v) does not select the feed's Service %s (%v)", sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
		}
	}
}

// TestFeedRefusals checks the feed refuses to render without the reader's
// Secret, or with the stages' Secret in its place.
func TestFeedRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		vals map[string]any
		want string
	}{
		"no secret":      {without(feedValues(), "feed.existingSecret"), "feed.existingSecret is required"},
		"stages' secret": {with(feedValues(), "feed.existingSecret", "alharvest-nats"), "feed.existingSecret names the stages' Secret"},
		"RWO output":     {with(feedValues(), "output.accessModes", []any{"ReadWriteOnce"}), "must be ReadWriteMany"},
	} {
		_, err := render(loadChart(t), tc.vals)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tc.want)
		}
	}
	// Off by default: no feed without feed.enabled.
	files, err := render(loadChart(t), base())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := (rendered{objects: decode(t, files)}).stages(t)["alharvest"]; ok {
		t.Error("the feed renders without feed.enabled")
	}
}

// TestNotesPrintIdentityUsers checks that for an external NATS the
// install notes print the feeder's and the reader's users entries, which
// decode as NATS users granting what secrets-init grants.
func TestNotesPrintIdentityUsers(t *testing.T) {
	want, err := secretsInitPermissions()
	if err != nil {
		t.Fatal(err)
	}
	files, err := render(loadChart(t), feedValues())
	if err != nil {
		t.Fatal(err)
	}
	notes := files["alharvest/templates/NOTES.txt"]
	_, block, ok := strings.Cut(notes, "(NATS reads JSON):\n")
	if !ok {
		t.Fatalf("the notes print no users entries:\n%s", notes)
	}
	block, _, _ = strings.Cut(block, "\n\n")
	if !strings.Contains(block, `"_INBOX.>"`) {
		t.Errorf("the notes escape the subjects (NATS's parser wants them as is):\n%s", block)
	}
	var users []natsUser
	for _, line := range strings.Split(block, "\n") {
		var u natsUser
		if err := yaml.UnmarshalStrict([]byte(line), &u); err != nil {
			t.Fatalf("the notes' users entry does not decode: %v\n%s", err, line)
		}
		users = append(users, u)
	}
	got := map[string]permissions{}
	for _, u := range users {
		got[u.NKey] = u.Permissions
	}
	if len(users) != 2 || !reflect.DeepEqual(got[feederKey], want["feeder"]) || !reflect.DeepEqual(got[readerKey], want["reader"]) {
		t.Errorf("the notes print %+v, want the feeder's and reader's entries %+v", users, want)
	}
	if !strings.Contains(notes, "/usr/local/bin/feed-example /inbox <path>") {
		t.Errorf("the notes do not say what the feed runs:\n%s", notes)
	}
}

// TestDocsIdentityUsers checks the users block docs/kubernetes.md shows
// for the bundled NATS grants the feeder and the reader what secrets-init
// grants them, so the example a reader pastes is the one the render accepts.
func TestDocsIdentityUsers(t *testing.T) {
	want, err := secretsInitPermissions()
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readFile(t, "docs/kubernetes.md"))
	_, section, ok := strings.Cut(doc, "## Feeder, reader and the feed\n")
	if !ok {
		t.Fatal(`docs/kubernetes.md has no section "Feeder, reader and the feed"`)
	}
	_, block, ok := strings.Cut(section, "```yaml\nnatscluster:\n")
	if !ok {
		t.Fatal("the section shows no natscluster users block")
	}
	block, _, _ = strings.Cut("natscluster:\n"+block, "```")
	var v struct {
		NATSCluster struct {
			Config struct {
				Merge struct {
					Authorization struct {
						Users []natsUser `json:"users"`
					} `json:"authorization"`
				} `json:"merge"`
			} `json:"config"`
		} `json:"natscluster"`
	}
	if err := yaml.UnmarshalStrict([]byte(block), &v); err != nil {
		t.Fatalf("the docs' users block does not decode: %v\n%s", err, block)
	}
	users := v.NATSCluster.Config.Merge.Authorization.Users
	if len(users) != 3 {
		t.Fatalf("the docs show %d users, want the stages', the feeder's and the reader's", len(users))
	}
	for i, id := range map[int]string{1: "feeder", 2: "reader"} {
		if !reflect.DeepEqual(users[i].Permissions, want[id]) {
			t.Errorf("the docs grant the %s %+v, secrets-init grants %+v", id, users[i].Permissions, want[id])
		}
	}
}
