package composetest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
)

// feedServices run only with the feed profile.
var feedServices = []string{"feed", "feed-init"}

// feedExample is the example program deploy/feed.Dockerfile installs.
const feedExample = binDir + "feed-example"

// checkFeed: the feed runs `alharvest feed` as the least-privilege reader,
// reads the downloader's output read-only, and writes only the inbox
// feed-init prepared.
func checkFeed(t *testing.T, p *types.Project, sc scenario) {
	s := p.Services["feed"]
	env := envOf(s)
	if want := []string{binDir + "alharvest", "feed"}; !slices.Equal(s.Entrypoint, want) {
		t.Errorf("feed: entrypoint %v, want %v", s.Entrypoint, want)
	}
	if s.User != sc.wantUser {
		t.Errorf("feed: user %q, want the stages' %q (the owner of reader.nk and of the collected files)", s.User, sc.wantUser)
	}
	if len(s.Secrets) > 0 || len(s.Ports) > 0 {
		t.Errorf("feed: secrets %v, ports %v; it needs no Assemblyline key and publishes nothing on the host", s.Secrets, s.Ports)
	}

	// Only what alharvest feed reads; no Assemblyline setting.
	known := varsOf(config.Feed)
	for k := range s.Environment {
		if _, ok := known[k]; !ok && !runtimeVars[k] {
			t.Errorf("feed sets %s, which alharvest feed does not read", k)
		}
	}
	if got, want := env["NATS_NKEY"], genDir+secretsinit.ReaderSeedFile; got != want {
		t.Errorf("feed: NATS_NKEY=%q, want the reader's %s", got, want)
	}
	if env["LOG_FORMAT"] != "json" {
		t.Errorf("feed: LOG_FORMAT=%q, want json for log collectors", env["LOG_FORMAT"])
	}
	var reached []string
	for _, raw := range strings.Split(env["NATS_URL"], ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Scheme != "nats" || u.Port() != natsPort {
			t.Errorf("feed: NATS_URL entry %q is not nats://<host>:%s", raw, natsPort)
			continue
		}
		reached = append(reached, hosts(p)[u.Hostname()])
	}
	sort.Strings(reached)
	if !slices.Equal(reached, natsNodes(sc)) {
		t.Errorf("feed: NATS_URL %q reaches %v, want every node %v", env["NATS_URL"], reached, natsNodes(sc))
	}

	// The reader's key is one the server admits, and not the stages'.
	dir := generated(t)
	pub := func(file string) string {
		seed, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		k, _ := kp.PublicKey()
		return k
	}
	reader := pub(secretsinit.ReaderSeedFile)
	if reader == pub(secretsinit.StagesSeedFile) {
		t.Errorf("the reader's key is the stages'")
	}
	conf, err := os.ReadFile(filepath.Join(dir, secretsinit.ServerConfFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(conf), "nkey: "+reader) {
		t.Errorf("the reader's public key is not a user in %s", secretsinit.ServerConfFile)
	}

	// Probes and shutdown as the stages have them.
	_, port, err := net.SplitHostPort(env["HTTP_ADDR"])
	if err != nil || port == "" {
		t.Errorf("feed: HTTP_ADDR %q has no port (healthcheck, /readyz, metrics): %v", env["HTTP_ADDR"], err)
	} else if !slices.Contains([]string(s.Expose), port) {
		t.Errorf("feed: HTTP_ADDR port %s not in expose %v", port, s.Expose)
	}
	hc := s.HealthCheck
	if want := []string{"CMD", binDir + "alharvest", "healthcheck"}; hc == nil || !slices.Equal([]string(hc.Test), want) {
		t.Errorf("feed: healthcheck %+v, want the self-probe %v", hc, want)
	} else if hc.Interval == nil || hc.Timeout == nil || hc.Retries == nil || hc.StartPeriod == nil || time.Duration(*hc.StartPeriod) < 30*time.Second {
		t.Errorf("feed: healthcheck needs interval, timeout, retries and a start_period >= 30s: %+v", hc)
	}
	grace := 20 * time.Second
	if v, ok := env["SHUTDOWN_GRACE"]; ok {
		if grace, err = time.ParseDuration(v); err != nil {
			t.Errorf("feed: SHUTDOWN_GRACE %q: %v", v, err)
		}
	}
	if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= grace+10*time.Second {
		t.Errorf("feed: stop_grace_period %v, want more than SHUTDOWN_GRACE %v + 10s drain", s.StopGracePeriod, grace)
	}

	// The command: the downloader's output at --output-dir, read-only; a
	// program after --.
	args := []string(s.Command)
	flagValue := func(name string) string {
		for i, a := range args {
			if a == "--" {
				break
			}
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
		return ""
	}
	dash := slices.Index(args, "--")
	if dash < 0 || dash == len(args)-1 {
		t.Fatalf("feed: command %q has no program after --", args)
	}
	if d := flagValue("--durable"); !regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`).MatchString(d) {
		t.Errorf("feed: --durable %q is not a consumer name", d)
	}
	outDir := flagValue("--output-dir")
	if outDir == "" {
		t.Errorf("feed: command %q has no --output-dir: the events name the downloader's paths", args)
	}
	var dlOut string
	dl := p.Services[config.Downloader]
	for _, v := range dl.Volumes {
		if v.Target == envOf(dl)["OUTPUT_DIR"] {
			dlOut = v.Source
		}
	}
	init := p.Services["feed-init"]
	prepared := map[string]bool{}
	for _, v := range init.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == envOf(init)["DIR"] {
			prepared[v.Source] = true
		}
	}
	foundOut := false
	for _, v := range s.Volumes {
		switch {
		case v.Target == outDir:
			foundOut = true
			if v.Type != types.VolumeTypeBind || v.Source != dlOut || !v.ReadOnly {
				t.Errorf("feed: %s is %+v, want the downloader's output %s, read-only", outDir, v, dlOut)
			}
		case v.ReadOnly:
		case v.Type == types.VolumeTypeBind && prepared[v.Source]:
		default:
			t.Errorf("feed: writable mount %s -> %s is not the inbox feed-init prepares", v.Source, v.Target)
		}
	}
	if !foundOut {
		t.Errorf("feed: nothing mounted at --output-dir %s", outDir)
	}
	if len(prepared) == 0 {
		t.Errorf("feed-init: DIR %q is not one of its bind mounts %+v", envOf(init)["DIR"], init.Volumes)
	}
	if init.Restart != "no" || !slices.Equal(init.Entrypoint, []string{binDir + "output-init"}) {
		t.Errorf("feed-init: restart %q entrypoint %v, want a one-shot output-init", init.Restart, init.Entrypoint)
	}
	if got := envOf(init)["OWNER"]; got != sc.wantUser {
		t.Errorf("feed-init OWNER = %q, want the feed's user %q", got, sc.wantUser)
	}

	// Starts after its secrets, its inbox and NATS.
	deps := s.DependsOn
	for _, n := range []string{"secrets-init", "feed-init"} {
		if d, ok := deps[n]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("feed: depends_on %s = %+v, want service_completed_successfully", n, d)
		}
	}
	for _, n := range natsNodes(sc) {
		if d, ok := deps[n]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("feed: depends_on %s = %+v, want service_healthy", n, d)
		}
	}

	// The default program is the one the example image installs.
	if args[dash+1] == feedExample {
		root := repoRoot(t)
		installed := false
		for _, in := range parseDockerfile(t, filepath.Join(root, "deploy/feed.Dockerfile")) {
			installed = installed || (in.cmd == "COPY" && strings.HasSuffix(in.args, " "+feedExample))
		}
		if !installed {
			t.Errorf("deploy/feed.Dockerfile does not install %s", feedExample)
		}
		b, err := os.ReadFile(filepath.Join(root, "deploy/images.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "./deploy/feedexample") || !strings.Contains(string(b), "deploy/feed.Dockerfile") {
			t.Errorf("deploy/images.sh does not build the example program into the feed's image")
		}
	}
}

// TestPrometheusScrapesEveryProbe: Prometheus (--profile monitoring)
// scrapes each service that serves metrics on HTTP_ADDR, the feed included,
// on that port.
func TestPrometheusScrapesEveryProbe(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/prometheus/prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	scraped := map[string]string{}
	for _, m := range regexp.MustCompile(`\{names: \[([a-z-]+)\], type: A, port: ([0-9]+)\}`).FindAllStringSubmatch(string(b), -1) {
		scraped[m[1]] = m[2]
	}
	for _, sc := range scenarios(t) {
		if !sc.feed {
			continue
		}
		p := load(t, sc)
		for _, name := range append(slices.Clone(stages), "feed") {
			_, port, err := net.SplitHostPort(envOf(p.Services[name])["HTTP_ADDR"])
			if err != nil {
				t.Errorf("%s: HTTP_ADDR: %v", name, err)
				continue
			}
			if scraped[name] != port {
				t.Errorf("%s: prometheus.yml scrapes port %q, HTTP_ADDR serves %s", name, scraped[name], port)
			}
		}
	}
}
