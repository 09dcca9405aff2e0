package composerun

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
)

const (
	threshold       = "7000"
	testImagePrefix = "alharvest-composerun/"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if len(imageEnv) > 0 {
		args := []string{"rmi", "-f"}
		for _, kv := range imageEnv {
			_, v, _ := strings.Cut(kv, "=")
			args = append(args, v)
		}
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "removing the test images: %v\n%s", err, out)
		}
	}
	os.Exit(code)
}

var (
	envOnce    sync.Once
	skipReason string
	composeCmd []string // docker-compose, or docker compose

	imagesOnce sync.Once
	imageEnv   []string // NATS_IMAGE=..., ALHARVEST_IMAGE=...
	imagesErr  error
)

// needDocker skips t, with one line, where the scenarios cannot run.
func needDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("container scenarios skipped in -short mode")
	}
	envOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := exec.LookPath("docker"); err != nil {
			skipReason = "no docker command"
			return
		}
		if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
			skipReason = "no Docker daemon answers (docker info: " + firstLine(out) + ")"
			return
		}
		if p, err := exec.LookPath("docker-compose"); err == nil {
			composeCmd = []string{p}
		} else if exec.CommandContext(ctx, "docker", "compose", "version").Run() == nil {
			composeCmd = []string{"docker", "compose"}
		} else {
			skipReason = "neither docker-compose nor docker compose is installed"
		}
	})
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// images builds the images once (deploy/images.sh) and returns the
// assignments it printed.
func images(t *testing.T) []string {
	t.Helper()
	imagesOnce.Do(func() {
		start := time.Now()
		cmd := exec.Command("sh", filepath.Join(repoRoot(t), "deploy", "images.sh"))
		// Names of their own, removed by TestMain: test runs leave no
		// images behind and never replace an operator's.
		cmd.Env = append(os.Environ(), "ALHARVEST_IMAGE_NAME="+testImagePrefix+"alharvest", "NATS_IMAGE_NAME="+testImagePrefix+"nats",
			"FEED_IMAGE_NAME="+testImagePrefix+"alharvest-feed")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			imagesErr = fmt.Errorf("deploy/images.sh: %v\n%s", err, stderr.String())
			return
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			k, v, ok := strings.Cut(line, "=")
			if !ok || (k != "NATS_IMAGE" && k != "ALHARVEST_IMAGE" && k != "FEED_IMAGE") || v == "" {
				imagesErr = fmt.Errorf("deploy/images.sh printed %q, want NATS_IMAGE=..., ALHARVEST_IMAGE=... and FEED_IMAGE=...", line)
				return
			}
			imageEnv = append(imageEnv, line)
		}
		if len(imageEnv) != 3 {
			imagesErr = fmt.Errorf("deploy/images.sh printed %q", out)
		}
		t.Logf("deploy/images.sh took %v: %v", time.Since(start).Round(time.Second), imageEnv)
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return imageEnv
}

func imageOf(t *testing.T, key string) string {
	for _, kv := range images(t) {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	t.Fatalf("no %s", key)
	return ""
}

// options shape one scenario's project.
type options struct {
	cluster bool
	// production leaves out deploy/demo.env: env must give AL_URL, AL_USER
	// and AL_APIKEY_SECRET_FILE like an operator's .env.
	production bool
	// files are extra override files.
	files []string
	// alsim settings (ALSIM_* variables) added by an override file.
	alsim map[string]string
	// env for Compose's interpolation (.env-style settings).
	env map[string]string
}

// project is one compose project of a scenario.
type project struct {
	t       *testing.T
	name    string
	files   []string
	envFile string // --env-file
	env     []string
	out     string // OUTPUT_HOST_DIR
}

func newProject(t *testing.T, o options) *project {
	t.Helper()
	needDocker(t)
	root := repoRoot(t)
	dir := t.TempDir()
	name := strings.ToLower(fmt.Sprintf("alh%s%d", strings.NewReplacer("/", "", "_", "", "-", "").Replace(t.Name()), time.Now().UnixNano()%100000))
	p := &project{t: t, name: name, out: filepath.Join(dir, "collected")}
	p.files = []string{filepath.Join(root, "docker-compose.yml")}
	if o.cluster {
		p.files = append(p.files, filepath.Join(root, "docker-compose.cluster.yml"))
	}
	p.files = append(p.files, o.files...)
	// The demo's settings, or (production) none: an empty file keeps a
	// developer's own .env out.
	p.envFile = filepath.Join(root, "deploy", "demo.env")
	if o.production {
		p.envFile = filepath.Join(dir, "empty.env")
		if err := os.WriteFile(p.envFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.alsim) > 0 {
		var b strings.Builder
		b.WriteString("services:\n  alsim:\n    environment:\n")
		for k, v := range o.alsim {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
		f := filepath.Join(dir, "alsim.override.yml")
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		p.files = append(p.files, f)
	}
	env := map[string]string{
		"OUTPUT_HOST_DIR":        p.out,
		"NATS_HOST_PORT":         strconv.Itoa(testenv.FreePort(t)),
		"NATS_MONITOR_HOST_PORT": strconv.Itoa(testenv.FreePort(t)),
		"ALSIM_HOST_PORT":        strconv.Itoa(testenv.FreePort(t)),
		"ALSIM_SUBMISSIONS":      "300",
		// The demo's 100 late arrivals come over one minute instead of
		// two: each scenario waits for the last of them, and a minute
		// still puts them in the middle of the run, pushed by the
		// webhook while the stages work through the backlog (and, in
		// the cluster scenarios, while a node is down or cut off).
		"ALSIM_ARRIVAL_WINDOW": "1m",
		"SEARCH_INTERVAL":      "15s",
		"COMPOSE_HTTP_TIMEOUT": "120",
	}
	for k, v := range o.env {
		env[k] = v
	}
	p.env = append(slices.Clone(os.Environ()), images(t)...)
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := p.composeOut("logs", "--no-color", "--tail", "40")
			t.Logf("compose logs (last 40 lines per container):\n%s", out)
		}
		if out, err := p.composeOut("--profile", "demo", "--profile", "feed", "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Logf("down: %v\n%s", err, out)
		}
	})
	return p
}

func (p *project) composeArgs(args ...string) []string {
	a := slices.Clone(composeCmd[1:])
	a = append(a, "-p", p.name, "--env-file", p.envFile)
	for _, f := range p.files {
		a = append(a, "-f", f)
	}
	return append(a, args...)
}

func (p *project) composeOut(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, composeCmd[0], p.composeArgs(args...)...)
	cmd.Env = p.env
	cmd.Dir = repoRoot(p.t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// compose runs a Compose command and fails the test if it fails.
func (p *project) compose(args ...string) string {
	p.t.Helper()
	out, err := p.composeOut(args...)
	if err != nil {
		p.t.Fatalf("%s %s: %v\n%s", strings.Join(composeCmd, " "), strings.Join(args, " "), err, out)
	}
	return out
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// container is what the tests read of `docker inspect`.
type container struct {
	ID    string `json:"Id"`
	Name  string
	State struct {
		Status   string
		Running  bool
		ExitCode int
		Health   *struct{ Status string }
	}
	RestartCount int
	Config       struct {
		Labels map[string]string
	}
	NetworkSettings struct {
		Networks map[string]struct {
			IPAddress string
			Aliases   []string
		}
	}
}

func (c container) ip() string {
	for _, n := range c.NetworkSettings.Networks {
		if n.IPAddress != "" {
			return n.IPAddress
		}
	}
	return ""
}

func (c container) health() string {
	if c.State.Health == nil {
		return c.State.Status
	}
	return c.State.Health.Status
}

// containers inspects the containers of a service (all services if none).
func (p *project) containers(service string) []container {
	p.t.Helper()
	args := []string{"ps", "-aq", "--filter", "label=com.docker.compose.project=" + p.name}
	if service != "" {
		args = append(args, "--filter", "label=com.docker.compose.service="+service)
	}
	ids := strings.Fields(docker(p.t, args...))
	if len(ids) == 0 {
		return nil
	}
	var cs []container
	if err := json.Unmarshal([]byte(docker(p.t, append([]string{"inspect"}, ids...)...)), &cs); err != nil {
		p.t.Fatal(err)
	}
	slices.SortFunc(cs, func(a, b container) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

func (p *project) one(service string) container {
	p.t.Helper()
	cs := p.containers(service)
	if len(cs) != 1 {
		p.t.Fatalf("%d containers of %s, want 1", len(cs), service)
	}
	return cs[0]
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	last := ""
	if !testenv.Eventually(t, timeout, what, func() bool {
		ok, state := cond()
		last = state
		return ok
	}) {
		t.Fatalf("last state: %s", last)
	}
}

// waitHealthy waits until every container of services is running and healthy.
func (p *project) waitHealthy(timeout time.Duration, services ...string) {
	p.t.Helper()
	waitFor(p.t, "healthy "+strings.Join(services, ", "), timeout, func() (bool, string) {
		var bad []string
		for _, s := range services {
			cs := p.containers(s)
			if len(cs) == 0 {
				bad = append(bad, s+": none")
			}
			for _, c := range cs {
				if h := c.health(); h != "healthy" {
					bad = append(bad, c.Name+": "+h)
				}
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return b
}

func (p *project) alsimURL() string { return "http://" + p.one("alsim").ip() + ":8980" }

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// expected is alsim's expected set, uncollectable what it can never serve.
func (p *project) expected() (expected, uncollectable []string) {
	u := p.alsimURL()
	return lines(httpGet(p.t, u+"/_alsim/expected?threshold="+threshold)),
		lines(httpGet(p.t, u+"/_alsim/uncollectable?threshold="+threshold))
}

// alsimDownloads counts alsim's successful downloads.
func (p *project) alsimDownloads() int64 {
	var st struct {
		Calls map[string]map[string]int64 `json:"calls"`
	}
	if err := json.Unmarshal(httpGet(p.t, p.alsimURL()+"/_alsim/stats"), &st); err != nil {
		p.t.Fatal(err)
	}
	return st.Calls["download"]["200"]
}

// lastWrite is when the newest file of OUTPUT_DIR was written.
func (p *project) lastWrite() time.Time {
	entries, _ := os.ReadDir(p.out)
	var last time.Time
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	return last
}

func (p *project) collectedCount() int {
	entries, _ := os.ReadDir(p.out)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cart") {
			n++
		}
	}
	return n
}

// status is `alharvest status --json` run in a stage container (its
// environment has the compose NATS URL and key).
type status struct {
	Stages []struct {
		Stage       string `json:"stage"`
		Queued      uint64 `json:"queued"`
		Pending     uint64 `json:"pending"`
		InFlight    int    `json:"in_flight"`
		Redelivered int    `json:"redelivered"`
		Consumer    bool   `json:"consumer_exists"`
	} `json:"stages"`
	CollectedEvents uint64            `json:"collected_events"`
	DeadLetters     map[string]uint64 `json:"dead_letters"`
}

func (p *project) status() (status, error) {
	var st status
	cs := p.containers("scorer")
	if len(cs) == 0 {
		return st, fmt.Errorf("no scorer container")
	}
	out, err := exec.Command("docker", "exec", cs[0].ID, "alharvest", "status", "--json").Output()
	if err != nil {
		return st, fmt.Errorf("alharvest status: %v: %s", err, out)
	}
	return st, json.Unmarshal(out, &st)
}

func (st status) idle() (bool, string) {
	var busy []string
	for _, s := range st.Stages {
		if !s.Consumer || s.Queued+s.Pending > 0 || s.InFlight > 0 {
			busy = append(busy, fmt.Sprintf("%s queued=%d pending=%d in_flight=%d", s.Stage, s.Queued, s.Pending, s.InFlight))
		}
	}
	return len(busy) == 0 && len(st.Stages) == 2, strings.Join(busy, "; ")
}

// waitCollected waits until OUTPUT_DIR holds as many files as alsim
// expects and the work queues are empty, then checks the set is exact and
// the DLQ holds only the uncollectable files.
func (p *project) waitCollected(timeout time.Duration) {
	p.t.Helper()
	want, uncollectable := p.expected()
	if len(want) == 0 {
		p.t.Fatal("alsim expects nothing: the scenario tests nothing")
	}
	waitFor(p.t, fmt.Sprintf("%d files and empty queues", len(want)), timeout, func() (bool, string) {
		n := p.collectedCount()
		if n < len(want) {
			return false, fmt.Sprintf("%d of %d files", n, len(want))
		}
		st, err := p.status()
		if err != nil {
			return false, err.Error()
		}
		return st.idle()
	})
	alsimtest.CheckCollected(p.t, p.out, want)
	st, err := p.status()
	if err != nil {
		p.t.Fatal(err)
	}
	var dead uint64
	for stage, n := range st.DeadLetters {
		dead += n
		if stage != "downloader" && n > 0 {
			p.t.Errorf("%d dead letters of %s: alsim serves every submission", n, stage)
		}
	}
	if dead != uint64(len(uncollectable)) {
		p.t.Errorf("dead letters %v, want exactly the %d uncollectable files", st.DeadLetters, len(uncollectable))
	}
}

// metric sums the samples of a metric whose labels contain every one of match.
func metric(t *testing.T, url, name string, match ...string) float64 {
	t.Helper()
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(httpGet(t, url)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, m := range match {
			ok = ok && strings.Contains(line, m)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// secretFiles reads the volume `secrets` (through a NATS container, which
// mounts it) as a tar stream: each file's header (mode, owner) and content.
func (p *project) secretFiles() map[string]secretFile {
	p.t.Helper()
	cmd := exec.Command("docker", "cp", p.one("nats").ID+":/secrets/.", "-")
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("docker cp the secrets: %v", err)
	}
	files := map[string]secretFile{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			p.t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			p.t.Fatal(err)
		}
		files[filepath.Base(h.Name)] = secretFile{mode: h.FileInfo().Mode().Perm(), uid: h.Uid, gid: h.Gid, data: b}
	}
	return files
}

type secretFile struct {
	mode     os.FileMode
	uid, gid int
	data     []byte
}

// connectAs connects the test to a NATS container of the project as the
// identity whose seed secrets-init wrote in file (stages.nk, feeder.nk,
// reader.nk); errs, if not nil, receives the server's asynchronous errors.
func (p *project) connectAs(service, file string, errs chan<- error) *nats.Conn {
	p.t.Helper()
	f, ok := p.secretFiles()[file]
	if !ok {
		p.t.Fatalf("secrets-init wrote no %s", file)
	}
	seed := filepath.Join(p.t.TempDir(), file)
	if err := os.WriteFile(seed, f.data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		p.t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+p.one(service).ip()+":4222", opt, nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errs != nil {
				select {
				case errs <- err:
				default:
				}
			}
		}))
	if err != nil {
		p.t.Fatalf("connect to %s as %s: %v", service, file, err)
	}
	p.t.Cleanup(nc.Close)
	return nc
}

// js connects the test to a NATS container of the project with the stages' key.
func (p *project) js(service string) jetstream.JetStream {
	p.t.Helper()
	js, err := jetstream.New(p.connectAs(service, "stages.nk", nil))
	if err != nil {
		p.t.Fatal(err)
	}
	return js
}

// noRestarts checks no container of services was restarted by Docker and
// all of them still run.
func (p *project) noRestarts(services ...string) {
	p.t.Helper()
	for _, s := range services {
		for _, c := range p.containers(s) {
			if c.RestartCount != 0 || !c.State.Running {
				// Its whole log, every run of it: the compose tail shows
				// only the run that replaced the one that ended.
				p.t.Errorf("%s: restarts %d, running %v; its log:\n%s", c.Name, c.RestartCount, c.State.Running,
					problems(docker(p.t, "logs", c.ID), 60))
			}
		}
	}
}

// problems keeps, of a container's log, the lines that say why a run
// ended: warnings, errors and anything not JSON (a panic, the runtime's
// own messages), at most the last n of them.
func problems(log string, n int) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "{") || strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			keep = append(keep, l)
		}
	}
	return tail(strings.Join(keep, "\n"), n)
}
