package composetest

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

const (
	baseFile    = "docker-compose.yml"
	clusterFile = "docker-compose.cluster.yml"
	envExample  = "deploy/env.example"
	demoEnv     = "deploy/demo.env"
	demoKeyFile = "deploy/demo-apikey"
	binDir      = "/usr/local/bin/"
	secretsDir  = "/run/secrets/"
	natsPort    = "4222"
	// genDir is where the volume `secrets`, which secrets-init fills, is
	// mounted in every container.
	genDir = "/secrets/"
)

// stages are the compose services that run a stage binary of the same name;
// each of them must stay scalable with `docker compose up --scale`.
var stages = []string{config.Searcher, config.Scorer, config.Downloader}

// scenario is one way of running the compose files.
type scenario struct {
	name     string
	files    []string
	profiles []string
	// env is the shell environment of `docker compose` (wins over envFiles).
	env      map[string]string
	envFiles []string

	cluster bool // three NATS nodes expected
	demo    bool // alsim expected, and the stages pointed at it
	feed    bool // the feed profile: feed and feed-init expected

	wantALURL string // AL_ALLOW_HTTP must be true exactly when it is http://
	wantUser  string // user: of the stage containers
}

func scenarios(t *testing.T) []scenario {
	key := filepath.Join(t.TempDir(), "al_apikey")
	if err := os.WriteFile(key, []byte("prodkey:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	real := map[string]string{"AL_APIKEY_SECRET_FILE": key}
	demo := []string{demoEnv}
	return []scenario{
		{
			name: "demo", files: []string{baseFile}, envFiles: demo, profiles: []string{"demo"}, demo: true,
			wantALURL: "http://alsim:8980", wantUser: "65532:65532",
		},
		{
			name: "real deployment from env.example", files: []string{baseFile}, envFiles: []string{envExample}, env: real,
			wantALURL: "https://al.example.org", wantUser: "65532:65532",
		},
		{
			name: "real deployment, own uid", files: []string{baseFile}, envFiles: []string{envExample},
			env:       map[string]string{"AL_APIKEY_SECRET_FILE": key, "ALHARVEST_UID": "1000", "ALHARVEST_GID": "1000", "AL_URL": "https://al.corp:8443"},
			wantALURL: "https://al.corp:8443", wantUser: "1000:1000",
		},
		{
			name: "cluster demo", files: []string{baseFile, clusterFile}, envFiles: demo, profiles: []string{"demo"}, cluster: true, demo: true,
			wantALURL: "http://alsim:8980", wantUser: "65532:65532",
		},
		{
			name: "cluster real", files: []string{baseFile, clusterFile}, envFiles: []string{envExample}, env: real, cluster: true,
			wantALURL: "https://al.example.org", wantUser: "65532:65532",
		},
		{
			name: "demo with the feed", files: []string{baseFile}, envFiles: demo, profiles: []string{"demo", "feed"}, demo: true, feed: true,
			wantALURL: "http://alsim:8980", wantUser: "65532:65532",
		},
		{
			name: "cluster real with the feed, own uid", files: []string{baseFile, clusterFile}, envFiles: []string{envExample},
			env:      map[string]string{"AL_APIKEY_SECRET_FILE": key, "ALHARVEST_UID": "1000", "ALHARVEST_GID": "1000"},
			profiles: []string{"feed"}, cluster: true, feed: true,
			wantALURL: "https://al.example.org", wantUser: "1000:1000",
		},
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	return root
}

// load reads a project the way `docker compose` does (cli.ProjectOptions:
// interpolation, env files, profiles, normalization, consistency checks),
// but from a controlled environment instead of the test's own.
func load(t *testing.T, sc scenario) *types.Project {
	t.Helper()
	root := repoRoot(t)
	var files []string
	for _, f := range sc.files {
		files = append(files, filepath.Join(root, f))
	}
	var env []string
	for k, v := range sc.env {
		env = append(env, k+"="+v)
	}
	opts := []cli.ProjectOptionsFn{
		cli.WithName("alharvest"),
		cli.WithWorkingDirectory(root),
		cli.WithEnv(env),
	}
	if len(sc.envFiles) > 0 {
		var envFiles []string
		for _, f := range sc.envFiles {
			envFiles = append(envFiles, filepath.Join(root, f))
		}
		opts = append(opts, cli.WithEnvFiles(envFiles...), cli.WithDotEnv)
	}
	opts = append(opts,
		cli.WithProfiles(sc.profiles),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	po, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		t.Fatalf("project options: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := po.LoadProject(ctx)
	if err != nil {
		t.Fatalf("load %v (profiles %v): %v", sc.files, sc.profiles, err)
	}
	return p
}

// envOf returns a service's resolved environment; a variable listed
// without a value is absent.
func envOf(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func natsNodes(sc scenario) []string {
	if sc.cluster {
		return []string{"nats", "nats2", "nats3"}
	}
	return []string{"nats"}
}

// hosts maps every name a container can be reached by (service names and
// network aliases) to its service.
func hosts(p *types.Project) map[string]string {
	h := map[string]string{}
	for name, s := range p.Services {
		h[name] = name
		for _, n := range s.Networks {
			if n == nil {
				continue
			}
			for _, a := range n.Aliases {
				h[a] = name
			}
		}
	}
	return h
}

func TestCompose(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			p := load(t, sc)
			t.Run("services", func(t *testing.T) { checkServices(t, p, sc) })
			t.Run("scaling", func(t *testing.T) { checkScaling(t, p) })
			t.Run("healthchecks", func(t *testing.T) { checkHealthchecks(t, p, sc) })
			t.Run("images", func(t *testing.T) { checkImages(t, p, sc) })
			t.Run("volumes", func(t *testing.T) { checkVolumes(t, p, sc) })
			t.Run("depends_on", func(t *testing.T) { checkDependsOn(t, p, sc) })
			t.Run("stop_grace_period", func(t *testing.T) { checkStopGrace(t, p) })
			t.Run("secret", func(t *testing.T) { checkSecret(t, p, sc) })
			t.Run("environment", func(t *testing.T) { checkEnvironment(t, p, sc) })
			t.Run("nats", func(t *testing.T) { checkNATS(t, p, sc) })
			t.Run("nats auth", func(t *testing.T) { checkNATSAuth(t, p, sc) })
			t.Run("generated secrets", func(t *testing.T) { checkGenerated(t, p, sc) })
			t.Run("hardening", func(t *testing.T) { checkHardening(t, p, sc) })
			if sc.demo {
				t.Run("alsim", func(t *testing.T) { checkAlsim(t, p) })
			}
			if sc.feed {
				t.Run("feed", func(t *testing.T) { checkFeed(t, p, sc) })
			}
		})
	}
}

func checkServices(t *testing.T, p *types.Project, sc scenario) {
	want := append([]string{"output-init", "secrets-init"}, stages...)
	want = append(want, natsNodes(sc)...)
	if sc.demo {
		want = append(want, "alsim")
	}
	if sc.feed {
		want = append(want, feedServices...)
	}
	got := p.ServiceNames()
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("services = %v, want %v", got, want)
	}
	// alsim exists only behind the demo profile, the feed behind its own;
	// nothing else needs one.
	profileOf := map[string]string{"alsim": "demo"}
	for _, name := range feedServices {
		profileOf[name] = "feed"
	}
	for name, profile := range profileOf {
		s, ok := p.Services[name]
		if !ok {
			if s, ok = p.DisabledServices[name]; !ok {
				t.Errorf("%s is neither enabled nor disabled", name)
				continue
			}
		}
		if !slices.Equal(s.Profiles, []string{profile}) {
			t.Errorf("%s profiles = %v, want [%s]", name, s.Profiles, profile)
		}
	}
	for name, s := range p.Services {
		if _, ok := profileOf[name]; !ok && len(s.Profiles) > 0 {
			t.Errorf("%s has profiles %v: only %v may need one", name, s.Profiles, slices.Sorted(maps.Keys(profileOf)))
		}
	}
}

func checkScaling(t *testing.T, p *types.Project) {
	for name, s := range p.Services {
		if s.ContainerName != "" {
			t.Errorf("%s: container_name %q stops it from scaling and clashes between projects", name, s.ContainerName)
		}
	}
	for _, name := range stages {
		s := p.Services[name]
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes host ports %v: replicas would collide; metrics stay on the compose network", name, s.Ports)
		}
		if s.Scale != nil || (s.Deploy != nil && s.Deploy.Replicas != nil) {
			t.Errorf("%s fixes its replica count; leave it to --scale", name)
		}
	}
	// Host ports that are published are on loopback only: NATS and alsim
	// run without authentication.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s publishes %s:%s on %q; want 127.0.0.1", name, port.Published, fmt.Sprint(port.Target), port.HostIP)
			}
		}
	}
}

func checkHealthchecks(t *testing.T, p *types.Project, sc scenario) {
	need := append(slices.Clone(stages), natsNodes(sc)...)
	if sc.demo {
		need = append(need, "alsim")
	}
	for _, name := range need {
		s := p.Services[name]
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s: no healthcheck", name)
			continue
		}
		// The alharvest image has no shell: the test must be exec form.
		if hc.Test[0] != "CMD" {
			t.Errorf("%s: healthcheck %v is not exec form [\"CMD\", ...]", name, hc.Test)
		}
		if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil {
			t.Errorf("%s: healthcheck without interval, timeout or retries", name)
		}
		if hc.Timeout != nil && hc.Interval != nil && *hc.Timeout > *hc.Interval {
			t.Errorf("%s: healthcheck timeout %v exceeds its interval %v", name, *hc.Timeout, *hc.Interval)
		}
	}
	for _, name := range stages {
		s := p.Services[name]
		if s.HealthCheck == nil {
			continue
		}
		want := []string{"CMD", binDir + "alharvest", "healthcheck"}
		if got := []string(s.HealthCheck.Test); !slices.Equal(got, want) {
			t.Errorf("%s: healthcheck %v, want the self-probe %v", name, got, want)
		}
		// The self-probe finds the port in HTTP_ADDR.
		addr := envOf(s)["HTTP_ADDR"]
		_, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			t.Errorf("%s: HTTP_ADDR %q has no port to probe: %v", name, addr, err)
			continue
		}
		if !slices.Contains([]string(s.Expose), port) {
			t.Errorf("%s: HTTP_ADDR port %s not in expose %v", name, port, s.Expose)
		}
		if hc := s.HealthCheck; hc.StartPeriod == nil || time.Duration(*hc.StartPeriod) < 30*time.Second {
			t.Errorf("%s: start_period should cover waiting for NATS and provisioning (>= 30s)", name)
		}
	}
	for _, name := range natsNodes(sc) {
		hc := p.Services[name].HealthCheck
		if hc == nil {
			continue
		}
		if !strings.Contains(strings.Join(hc.Test, " "), "http://127.0.0.1:8222/healthz") {
			t.Errorf("%s: healthcheck %v does not probe the monitoring port's /healthz", name, hc.Test)
		}
	}
}

func checkImages(t *testing.T, p *types.Project, sc scenario) {
	root := repoRoot(t)
	built := slices.Clone(stages)
	if sc.demo {
		built = append(built, "alsim")
	}
	image := ""
	for _, name := range built {
		s := p.Services[name]
		if s.Build == nil || s.Build.Context != root {
			t.Errorf("%s: build context %v, want the module root %s", name, s.Build, root)
		}
		if image == "" {
			image = s.Image
		}
		if s.Image == "" || s.Image != image {
			t.Errorf("%s: image %q, want one shared image name (%q)", name, s.Image, image)
		}
		// Each service runs its own binary, which the image builds from cmd/<name>.
		if len(s.Entrypoint) != 1 || s.Entrypoint[0] != binDir+name {
			t.Errorf("%s: entrypoint %v, want [%s%s]", name, s.Entrypoint, binDir, name)
		}
		if _, err := os.Stat(filepath.Join(root, "cmd", name, "main.go")); err != nil {
			t.Errorf("%s: no cmd/%s to build it from: %v", name, name, err)
		}
	}
	for _, name := range stages {
		if u := p.Services[name].User; u != sc.wantUser {
			t.Errorf("%s: user %q, want %q", name, u, sc.wantUser)
		}
	}
}

func checkVolumes(t *testing.T, p *types.Project, sc scenario) {
	seen := map[string]string{}
	for _, name := range natsNodes(sc) {
		s := p.Services[name]
		var data *types.ServiceVolumeConfig
		for i, v := range s.Volumes {
			if v.Target == "/data" {
				data = &s.Volumes[i]
			}
		}
		if data == nil || data.Type != types.VolumeTypeVolume {
			t.Errorf("%s: no named volume at /data: %+v", name, s.Volumes)
			continue
		}
		if _, ok := p.Volumes[data.Source]; !ok {
			t.Errorf("%s: volume %q is not declared", name, data.Source)
		}
		if other, dup := seen[data.Source]; dup {
			t.Errorf("%s and %s share volume %q", name, other, data.Source)
		}
		seen[data.Source] = name
	}

	dl := p.Services[config.Downloader]
	out := envOf(dl)["OUTPUT_DIR"]
	var bind *types.ServiceVolumeConfig
	for i, v := range dl.Volumes {
		if v.Target == out {
			bind = &dl.Volumes[i]
		}
	}
	if bind == nil || bind.Type != types.VolumeTypeBind || bind.ReadOnly {
		t.Fatalf("downloader: OUTPUT_DIR %q is not a writable bind mount: %+v", out, dl.Volumes)
	}
	if !filepath.IsAbs(bind.Source) {
		t.Errorf("downloader: bind source %q not resolved", bind.Source)
	}
	// output-init prepares the same host directory.
	init := p.Services["output-init"]
	found := false
	for _, v := range init.Volumes {
		found = found || (v.Type == types.VolumeTypeBind && v.Source == bind.Source)
	}
	if !found {
		t.Errorf("output-init does not mount the downloader's output directory %s", bind.Source)
	}
	if init.Restart != "no" {
		t.Errorf("output-init restart = %q, want \"no\" (it runs once)", init.Restart)
	}
	if got := envOf(init)["OWNER"]; got != sc.wantUser {
		t.Errorf("output-init OWNER = %q, want the stages' user %q", got, sc.wantUser)
	}
}

func checkDependsOn(t *testing.T, p *types.Project, sc scenario) {
	for _, name := range stages {
		deps := p.Services[name].DependsOn
		for _, n := range natsNodes(sc) {
			d, ok := deps[n]
			if !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: depends_on %s = %+v, want condition service_healthy", name, n, d)
			}
		}
		if _, ok := deps["alsim"]; ok {
			t.Errorf("%s depends on alsim, which runs only in the demo profile (deploy/demo.env)", name)
		}
	}
	d, ok := p.Services[config.Downloader].DependsOn["output-init"]
	if !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("downloader: depends_on output-init = %+v, want service_completed_successfully", d)
	}
	// Nothing that reads a generated secret starts before it exists.
	readers := append(slices.Clone(stages), natsNodes(sc)...)
	if sc.demo {
		readers = append(readers, "alsim")
	}
	if sc.feed {
		readers = append(readers, "feed")
	}
	for _, name := range readers {
		d, ok := p.Services[name].DependsOn["secrets-init"]
		if !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: depends_on secrets-init = %+v, want service_completed_successfully", name, d)
		}
	}
}

// varsOf indexes config.Vars(binary) by environment variable.
func varsOf(binary string) map[string]config.Var {
	m := map[string]config.Var{}
	for _, v := range config.Vars(binary) {
		m[v.Env] = v
	}
	return m
}

func checkStopGrace(t *testing.T, p *types.Project) {
	// After SHUTDOWN_GRACE the worker hands back what is left, then the NATS
	// connection drains for up to 10 s (service.Env.Close): Docker must not
	// SIGKILL before both are done.
	const drain = 10 * time.Second
	for _, name := range stages {
		s := p.Services[name]
		grace := 0 * time.Second
		if v, ok := varsOf(name)["SHUTDOWN_GRACE"]; ok {
			val := v.Default
			if e, ok := envOf(s)["SHUTDOWN_GRACE"]; ok && e != "" {
				val = e
			}
			d, err := time.ParseDuration(val)
			if err != nil {
				t.Errorf("%s: SHUTDOWN_GRACE %q: %v", name, val, err)
				continue
			}
			grace = d
		}
		if s.StopGracePeriod == nil {
			t.Errorf("%s: no stop_grace_period (Docker's default is 10s)", name)
			continue
		}
		if got := time.Duration(*s.StopGracePeriod); got <= grace+drain {
			t.Errorf("%s: stop_grace_period %v, want more than SHUTDOWN_GRACE %v + drain %v", name, got, grace, drain)
		}
	}
}

func checkSecret(t *testing.T, p *types.Project, sc scenario) {
	for _, name := range stages {
		s := p.Services[name]
		keyFile := envOf(s)["AL_APIKEY_FILE"]
		if _, inline := envOf(s)["AL_APIKEY"]; inline {
			t.Errorf("%s: the API key is in the environment; use the secret", name)
		}
		var ref *types.ServiceSecretConfig
		for i, r := range s.Secrets {
			if secretTarget(r) == keyFile {
				ref = &s.Secrets[i]
			}
		}
		if ref == nil {
			t.Errorf("%s: AL_APIKEY_FILE=%q is not where any of its secrets %v is mounted", name, keyFile, s.Secrets)
			continue
		}
		sec, ok := p.Secrets[ref.Source]
		if !ok || sec.File == "" {
			t.Errorf("%s: secret %q is not a declared file secret", name, ref.Source)
			continue
		}
		b, err := os.ReadFile(sec.File)
		if err != nil {
			t.Errorf("secret %q: %v", ref.Source, err)
			continue
		}
		if k := strings.TrimSpace(string(b)); !strings.Contains(k, ":") {
			t.Errorf("secret %q in %s is not <key_name>:<password>", ref.Source, sec.File)
		}
	}
}

// secretTarget is the container path compose mounts a service secret at:
// its target, or its source name, relative to /run/secrets/.
func secretTarget(r types.ServiceSecretConfig) string {
	target := r.Target
	if target == "" {
		target = r.Source
	}
	if !strings.HasPrefix(target, "/") {
		target = secretsDir + target
	}
	return target
}

// hostFile maps a container path to the host file compose mounts there (the
// API key secret), so config.Load can read it.
func hostFile(p *types.Project, s types.ServiceConfig, path string) string {
	for _, r := range s.Secrets {
		if secretTarget(r) == path {
			return p.Secrets[r.Source].File
		}
	}
	return path
}

func checkEnvironment(t *testing.T, p *types.Project, sc scenario) {
	hostOf := hosts(p)
	nodes := natsNodes(sc)
	// Plain http is allowed exactly when the expected AL_URL needs it.
	wantAllowHTTP := strconv.FormatBool(strings.HasPrefix(sc.wantALURL, "http://"))
	for _, name := range stages {
		s := p.Services[name]
		env := envOf(s)
		known := varsOf(name)

		// Only variables the binary (or the Go runtime) reads: anything
		// else is a typo or a setting that silently does nothing.
		for k := range s.Environment {
			if _, ok := known[k]; !ok && !runtimeVars[k] {
				t.Errorf("%s sets %s, which %s does not read", name, k, name)
			}
		}

		// Every required one is set.
		for _, alt := range [][]string{{"AL_URL", "AL_HOST"}, {"AL_USER"}, {"AL_APIKEY", "AL_APIKEY_FILE"}, {"NATS_URL"}, {"HTTP_ADDR"}} {
			if !slices.ContainsFunc(alt, func(k string) bool { return env[k] != "" }) {
				t.Errorf("%s: none of %v is set", name, alt)
			}
		}
		if name == config.Downloader && env["OUTPUT_DIR"] == "" {
			t.Errorf("downloader: OUTPUT_DIR is not set")
		}
		if env["LOG_FORMAT"] != "json" {
			t.Errorf("%s: LOG_FORMAT=%q, want json for log collectors", name, env["LOG_FORMAT"])
		}

		if got := env["AL_URL"]; got != sc.wantALURL {
			t.Errorf("%s: AL_URL=%q, want %q", name, got, sc.wantALURL)
		}
		if got := env["AL_ALLOW_HTTP"]; got != wantAllowHTTP {
			t.Errorf("%s: AL_ALLOW_HTTP=%q, want %q", name, got, wantAllowHTTP)
		}
		if u, err := url.Parse(env["AL_URL"]); err == nil && u.Scheme == "http" && env["AL_ALLOW_HTTP"] != "true" {
			t.Errorf("%s: AL_URL %s is plain http to another container but AL_ALLOW_HTTP is not true: the stage would refuse it", name, u)
		}
		if sc.demo {
			u, _ := url.Parse(env["AL_URL"])
			if hostOf[u.Hostname()] != "alsim" {
				t.Errorf("%s: demo AL_URL %s does not point at the alsim service", name, env["AL_URL"])
			}
		}

		// NATS_URL lists the compose NATS node(s), every one of them.
		var got []string
		for _, raw := range strings.Split(env["NATS_URL"], ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Scheme != "nats" || u.Port() != natsPort {
				t.Errorf("%s: NATS_URL entry %q is not nats://<host>:%s", name, raw, natsPort)
				continue
			}
			svc, ok := hostOf[u.Hostname()]
			if !ok || !slices.Contains(nodes, svc) {
				t.Errorf("%s: NATS_URL host %q is not a NATS service of the project", name, u.Hostname())
				continue
			}
			got = append(got, svc)
		}
		sort.Strings(got)
		if !slices.Equal(got, nodes) {
			t.Errorf("%s: NATS_URL %q reaches %v, want every node %v", name, env["NATS_URL"], got, nodes)
		}
		wantReplicas := "1"
		if sc.cluster {
			wantReplicas = "3"
		}
		if env["NATS_REPLICAS"] != wantReplicas {
			t.Errorf("%s: NATS_REPLICAS=%q, want %s", name, env["NATS_REPLICAS"], wantReplicas)
		}

		// The binary accepts the configuration as compose resolves it, with
		// the secret file where compose would mount it.
		lookup := func(k string) (string, bool) {
			v, ok := env[k]
			if gen, ok := strings.CutPrefix(v, genDir); ok {
				return filepath.Join(generated(t), gen), true
			}
			if (k == "AL_APIKEY_FILE" || k == "WEBHOOK_TOKEN_FILE") && v != "" {
				return hostFile(p, s, v), true
			}
			return v, ok
		}
		if _, _, err := config.Load(name, nil, lookup, extraFlags(name)); err != nil {
			t.Errorf("%s rejects its compose configuration: %v", name, err)
		}
	}
}

// runtimeVars are read by the Go runtime of every binary, not by config.
var runtimeVars = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true}

// extraFlags declares the flags a binary adds to its configuration.
func extraFlags(binary string) func(*flag.FlagSet) {
	if binary == config.Searcher {
		return func(fs *flag.FlagSet) { fs.Bool("once", false, "") }
	}
	return nil
}

var natsFlag = regexp.MustCompile(`^-{1,2}[a-z_]+$`)

// natsArgs parses a nats-server command line into flag values.
func natsArgs(t *testing.T, name string, cmd []string) map[string]string {
	t.Helper()
	args := slices.Clone(cmd)
	if len(args) > 0 && args[0] == "nats-server" {
		args = args[1:]
	}
	out := map[string]string{}
	bools := map[string]bool{"js": true, "jetstream": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !natsFlag.MatchString(a) {
			t.Errorf("%s: unexpected nats-server argument %q in %v", name, a, cmd)
			continue
		}
		k := strings.TrimLeft(a, "-")
		if bools[k] {
			out[k] = "true"
			continue
		}
		if i+1 >= len(args) {
			t.Errorf("%s: %s has no value", name, a)
			break
		}
		out[k] = args[i+1]
		i++
	}
	alias := map[string]string{"jetstream": "js", "store_dir": "sd", "http_port": "m", "n": "name", "server_name": "name", "cluster_listen": "cluster"}
	for long, short := range alias {
		if v, ok := out[long]; ok {
			out[short] = v
		}
	}
	return out
}

func checkNATS(t *testing.T, p *types.Project, sc scenario) {
	hostOf := hosts(p)
	nodes := natsNodes(sc)
	names := map[string]string{}
	for _, n := range nodes {
		s := p.Services[n]
		if !strings.Contains(s.Image, "alpine") {
			t.Errorf("%s: image %q: want an -alpine tag (the official scratch image has no wget for the healthcheck; deploy/images.sh's has a probe)", n, s.Image)
		}
		a := natsArgs(t, n, s.Command)
		if a["js"] != "true" || a["sd"] != "/data" {
			t.Errorf("%s: JetStream must be on with its store on the /data volume: %v", n, s.Command)
		}
		if a["m"] != "8222" {
			t.Errorf("%s: monitoring port (-m) %q, want 8222 for the healthcheck", n, a["m"])
		}
		if a["name"] == "" {
			t.Errorf("%s: no server name", n)
		} else if other, dup := names[a["name"]]; dup {
			t.Errorf("%s and %s share server name %q", n, other, a["name"])
		}
		names[a["name"]] = n

		// The cluster's settings, with the routes' credentials, are in the
		// configuration secrets-init writes, never on the command line
		// (docker inspect shows it).
		if a["cluster"] != "" || a["routes"] != "" || a["cluster_name"] != "" {
			t.Errorf("%s: cluster flags on the command line: %v", n, s.Command)
		}
		want := genDir + secretsinit.ServerConfFile
		if sc.cluster {
			want = genDir + secretsinit.ClusterConfFile
		}
		if a["c"] != want {
			t.Errorf("%s: -c %q, want %s", n, a["c"], want)
		}
	}
	if sc.cluster {
		// The generated routes reach every node.
		var routed []string
		for _, r := range secretsinit.DefaultClusterNodes {
			routed = append(routed, hostOf[r])
		}
		sort.Strings(routed)
		if !slices.Equal(routed, nodes) {
			t.Errorf("secrets-init's routes %v reach %v, want all of %v", secretsinit.DefaultClusterNodes, routed, nodes)
		}
		// The stages' URLs name the nodes nats1..3.
		for i, n := range nodes {
			if hostOf[fmt.Sprintf("nats%d", i+1)] != n {
				t.Errorf("host nats%d does not reach %s", i+1, n)
			}
		}
	}
}

var (
	alsimEnvOnce  sync.Once
	alsimEnvNames map[string]bool
	alsimEnvErr   error
)

// alsimEnv lists the ALSIM_* variables alsim reads, from its own help.
func alsimEnv(t *testing.T) map[string]bool {
	t.Helper()
	alsimEnvOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			alsimEnvErr = err
			return
		}
		cmd := exec.Command(goBin, "run", "./cmd/alsim", "help", "serve")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			alsimEnvErr = fmt.Errorf("alsim help serve: %v\n%s", err, out)
			return
		}
		alsimEnvNames = map[string]bool{}
		for _, m := range regexp.MustCompile(`\[\$(ALSIM_[A-Z0-9_]+)\]`).FindAllStringSubmatch(string(out), -1) {
			alsimEnvNames[m[1]] = true
		}
	})
	if alsimEnvErr != nil {
		t.Skipf("cannot list alsim's variables: %v", alsimEnvErr)
	}
	return alsimEnvNames
}

func checkAlsim(t *testing.T, p *types.Project) {
	s := p.Services["alsim"]
	if !slices.Equal(s.Profiles, []string{"demo"}) {
		t.Errorf("alsim profiles = %v, want [demo]", s.Profiles)
	}
	env := envOf(s)

	// It pushes with the token the searcher requires, as the user that may
	// read it.
	if got, want := env["ALSIM_WEBHOOK_TOKEN_FILE"], envOf(p.Services[config.Searcher])["WEBHOOK_TOKEN_FILE"]; got != want || want == "" {
		t.Errorf("alsim: ALSIM_WEBHOOK_TOKEN_FILE %q, the searcher's WEBHOOK_TOKEN_FILE %q", got, want)
	}
	if s.User != p.Services[config.Searcher].User {
		t.Errorf("alsim: user %q, want the stages' %q (it reads their webhook token)", s.User, p.Services[config.Searcher].User)
	}

	// It must listen beyond its own loopback for the stages to reach it, on
	// the port the stages' AL_URL names.
	host, port, err := net.SplitHostPort(env["ALSIM_ADDR"])
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("alsim: ALSIM_ADDR=%q must listen on all interfaces", env["ALSIM_ADDR"])
	}
	for _, name := range stages {
		u, _ := url.Parse(envOf(p.Services[name])["AL_URL"])
		if u.Port() != port {
			t.Errorf("%s: AL_URL port %q, alsim listens on %q", name, u.Port(), port)
		}
	}

	// The demo's credentials are the ones alsim accepts.
	user, key := alsim.DefaultUser, alsim.DefaultAPIKey
	if v := env[alsim.EnvName("user")]; v != "" {
		user = v
	}
	if v := env[alsim.EnvName("apikey")]; v != "" {
		key = v
	}
	for _, name := range stages {
		st := p.Services[name]
		e := envOf(st)
		if e["AL_USER"] != user {
			t.Errorf("%s: AL_USER %q, alsim accepts %q", name, e["AL_USER"], user)
		}
		b, err := os.ReadFile(hostFile(p, st, e["AL_APIKEY_FILE"]))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if strings.TrimSpace(string(b)) != key {
			t.Errorf("%s: the demo key file does not hold alsim's key", name)
		}
	}

	// Only variables alsim reads, with values its flags accept.
	fs := flag.NewFlagSet("alsim", flag.ContinueOnError)
	alsim.BindFlags(fs)
	if err := alsim.ApplyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Errorf("alsim rejects its environment: %v", err)
	}
	known := alsimEnv(t)
	for k := range s.Environment {
		if !known[k] {
			t.Errorf("alsim sets %s, which alsim does not read", k)
		}
	}
}

// TestDemoKeyIsAlsimDefault pins deploy/demo-apikey to alsim's default key.
func TestDemoKeyIsAlsimDefault(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), demoKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(b)); got != alsim.DefaultAPIKey {
		t.Errorf("%s = %q, want alsim's default %q", demoKeyFile, got, alsim.DefaultAPIKey)
	}
}

// TestEnvExample checks that deploy/env.example and deploy/demo.env set only variables the
// compose files interpolate (or Compose itself reads).
func TestEnvExample(t *testing.T) {
	root := repoRoot(t)
	used := map[string]bool{"COMPOSE_PROJECT_NAME": true, "COMPOSE_FILE": true, "COMPOSE_PROFILES": true}
	ref := regexp.MustCompile(`\$\{([A-Z0-9_]+)`)
	for _, f := range []string{baseFile, clusterFile} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = true
		}
	}
	for _, f := range []string{envExample, demoEnv} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		assign := regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=`)
		for i, line := range strings.Split(string(b), "\n") {
			m := assign.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if !used[m[1]] {
				t.Errorf("%s:%d: %s is not used by the compose files", f, i+1, m[1])
			}
		}
	}
}
