package composetest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/ops/outputinit"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
)

// checkHardening: what every container of a malware pipeline should have.
func checkHardening(t *testing.T, p *types.Project, sc scenario) {
	for name, s := range p.Services {
		if s.Logging == nil || s.Logging.Driver != "json-file" || s.Logging.Options["max-size"] == "" || s.Logging.Options["max-file"] == "" {
			t.Errorf("%s: logs are not bounded (json-file with max-size and max-file): %+v", name, s.Logging)
		}
		if !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("%s: cap_drop %v, want [ALL]", name, s.CapDrop)
		}
		if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: security_opt %v lacks no-new-privileges:true", name, s.SecurityOpt)
		}
		if !s.ReadOnly {
			t.Errorf("%s: root filesystem is writable; want read_only: true", name)
		}
	}
	long := slices.Clone(stages)
	if sc.feed {
		long = append(long, "feed")
	}
	for _, name := range long {
		s := p.Services[name]
		if len(s.CapAdd) > 0 {
			t.Errorf("%s: cap_add %v; the stages and the feed need no capability", name, s.CapAdd)
		}
		if !slices.ContainsFunc(s.Tmpfs, func(m string) bool { return strings.HasPrefix(m, "/tmp") }) {
			t.Errorf("%s: no tmpfs at /tmp on a read-only root: %v", name, s.Tmpfs)
		}
		// GOMEMLIMIT below the container limit, with room for what the Go
		// runtime does not count (stacks, page cache is the kernel's).
		limit := int64(s.MemLimit)
		if limit == 0 {
			t.Errorf("%s: no mem_limit", name)
			continue
		}
		gml := envOf(s)["GOMEMLIMIT"]
		m := regexp.MustCompile(`^([0-9]+)(MiB|GiB)$`).FindStringSubmatch(gml)
		if m == nil {
			t.Errorf("%s: GOMEMLIMIT %q, want <n>MiB or <n>GiB", name, gml)
			continue
		}
		b, err := units.RAMInBytes(m[1] + strings.TrimSuffix(m[2], "iB"))
		if err != nil {
			t.Fatal(err)
		}
		if b >= limit || b < limit/2 {
			t.Errorf("%s: GOMEMLIMIT %s (%d bytes) should be 50-95 %% of mem_limit %d", name, gml, b, limit)
		}
	}
	if init := p.Services["output-init"]; !slices.Equal(init.CapAdd, []string{"CHOWN", "DAC_OVERRIDE"}) {
		t.Errorf("output-init: cap_add %v, want only [CHOWN DAC_OVERRIDE]", init.CapAdd)
	}
	if init, ok := p.Services["feed-init"]; ok && !slices.Equal(init.CapAdd, []string{"CHOWN", "DAC_OVERRIDE"}) {
		t.Errorf("feed-init: cap_add %v, want only [CHOWN DAC_OVERRIDE]", init.CapAdd)
	}
	if init := p.Services["secrets-init"]; !slices.Equal(init.CapAdd, []string{"CHOWN", "DAC_OVERRIDE", "FOWNER"}) {
		t.Errorf("secrets-init: cap_add %v, want only [CHOWN DAC_OVERRIDE FOWNER]", init.CapAdd)
	}
	// NATS is not root, and secrets-init hands its store and its
	// configuration to the user it runs as.
	init := p.Services["secrets-init"]
	initEnv := envOf(init)
	for _, n := range natsNodes(sc) {
		s := p.Services[n]
		if u := s.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root") {
			t.Errorf("%s: user %q, want a non-root uid:gid", n, u)
		} else if initEnv["NATS_OWNER"] != u {
			t.Errorf("%s runs as %q, secrets-init hands the store to NATS_OWNER %q", n, u, initEnv["NATS_OWNER"])
		}
		for _, v := range s.Volumes {
			if v.Target != "/data" {
				continue
			}
			handed := false
			for _, iv := range init.Volumes {
				if iv.Source == v.Source && slices.Contains(strings.Split(initEnv["NATS_DATA"], ","), iv.Target) {
					handed = true
				}
			}
			if !handed {
				t.Errorf("%s: its store %q is not among the directories secrets-init hands over (NATS_DATA %q)", n, v.Source, initEnv["NATS_DATA"])
			}
		}
	}
	if initEnv["OWNER"] != sc.wantUser {
		t.Errorf("secrets-init OWNER = %q, want the stages' user %q", initEnv["OWNER"], sc.wantUser)
	}
}

// checkGenerated: every secret a service reads from the volume `secrets`
// is mounted there read-only, and only secrets-init writes it.
func checkGenerated(t *testing.T, p *types.Project, sc scenario) {
	mounted := func(name string) (bool, bool) {
		for _, v := range p.Services[name].Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source == "secrets" && v.Target+"/" == genDir {
				return true, v.ReadOnly
			}
		}
		return false, false
	}
	if ok, ro := mounted("secrets-init"); !ok || ro {
		t.Errorf("secrets-init: the volume secrets is not mounted writable at %s", genDir)
	}
	if got := envOf(p.Services["secrets-init"])["DIR"]; got != "" && got+"/" != genDir {
		t.Errorf("secrets-init writes to DIR %q, the others read %s", got, genDir)
	}
	readers := append(slices.Clone(stages), natsNodes(sc)...)
	if sc.demo {
		readers = append(readers, "alsim")
	}
	if sc.feed {
		readers = append(readers, "feed")
	}
	for _, name := range readers {
		if ok, ro := mounted(name); !ok || !ro {
			t.Errorf("%s: the volume secrets is not mounted read-only at %s", name, genDir)
		}
	}
	for name := range p.Services {
		if ok, ro := mounted(name); ok && !ro && name != "secrets-init" {
			t.Errorf("%s may write the deployment's secrets", name)
		}
	}
	want := map[string]string{"NATS_NKEY": secretsinit.StagesSeedFile}
	for _, name := range stages {
		env := envOf(p.Services[name])
		for k, file := range want {
			if env[k] != genDir+file {
				t.Errorf("%s: %s=%q, want %s%s (generated)", name, k, env[k], genDir, file)
			}
		}
	}
	if got := envOf(p.Services[config.Searcher])["WEBHOOK_TOKEN_FILE"]; got != genDir+secretsinit.WebhookFile {
		t.Errorf("searcher: WEBHOOK_TOKEN_FILE=%q, want %s%s (generated)", got, genDir, secretsinit.WebhookFile)
	}
}

// generated runs secrets-init's Prepare into a temporary directory: the
// files the services name in the volume, as they will be.
func generated(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	self := outputinit.Owner{UID: os.Getuid(), GID: os.Getgid()}
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self, NATSOwner: self}, io.Discard); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkNATSAuth: the server requires a key, and the stages have it.
func checkNATSAuth(t *testing.T, p *types.Project, sc scenario) {
	dir := generated(t)
	for _, n := range natsNodes(sc) {
		conf, ok := strings.CutPrefix(natsArgs(t, n, p.Services[n].Command)["c"], genDir)
		if !ok {
			t.Errorf("%s: the configuration is not the generated one", n)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, conf))
		if err != nil {
			t.Errorf("%s: secrets-init does not write %s: %v", n, conf, err)
			continue
		}
		text := string(b)
		if sc.cluster {
			inc, err := os.ReadFile(filepath.Join(dir, secretsinit.ServerConfFile))
			if err != nil {
				t.Fatal(err)
			}
			text += string(inc)
			if !regexp.MustCompile(`(?s)cluster\s*\{.*authorization\s*\{\s*user:`).MatchString(text) {
				t.Errorf("%s: the cluster's routes do not authenticate", conf)
			}
		}
		if !regexp.MustCompile(`(?m)^\s*authorization\s*\{`).MatchString(text) {
			t.Errorf("%s has no authorization block: NATS would accept anyone", conf)
		}
		if !regexp.MustCompile(`(?m)^\s*sync_interval:\s*always`).MatchString(text) {
			t.Errorf("%s: sync_interval is not always (the single server's acked state would not survive a power loss)", conf)
		}
		for _, name := range stages {
			seedFile, ok := strings.CutPrefix(envOf(p.Services[name])["NATS_NKEY"], genDir)
			if !ok {
				continue // checkGenerated says why
			}
			seed, err := os.ReadFile(filepath.Join(dir, seedFile))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
			if err != nil {
				t.Errorf("%s: %s is not an nkey seed: %v", name, seedFile, err)
				continue
			}
			pub, _ := kp.PublicKey()
			if !strings.Contains(text, "nkey: "+pub) {
				t.Errorf("%s: the public key of %s is not a user in %s", name, seedFile, conf)
			}
		}
	}
}

// TestProductionNeedsSettings: without AL_URL, AL_USER and the API key
// file, Compose refuses to start and says what to set, instead of running
// on the demo's defaults.
func TestProductionNeedsSettings(t *testing.T) {
	root := repoRoot(t)
	for _, files := range [][]string{{baseFile}, {baseFile, clusterFile}} {
		var paths []string
		for _, f := range files {
			paths = append(paths, filepath.Join(root, f))
		}
		po, err := cli.NewProjectOptions(paths, cli.WithName("alharvest"), cli.WithWorkingDirectory(root),
			cli.WithEnv(nil), cli.WithInterpolation(true))
		if err != nil {
			t.Fatal(err)
		}
		_, err = po.LoadProject(context.Background())
		if err == nil {
			t.Errorf("%v loads without .env", files)
			continue
		}
		for _, want := range []string{"AL_URL", "deploy/env.example", "--env-file deploy/demo.env"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v without .env: %v; want it to mention %s", files, err, want)
			}
		}
	}
	for cli, argv := range composeCLIs() {
		empty := filepath.Join(t.TempDir(), "empty.env")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(argv[0], append(argv[1:], "--env-file", empty, "-f", filepath.Join(root, baseFile), "config", "-q")...)
		cmd.Dir = root
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "deploy/env.example") {
			t.Errorf("%s config without .env: %v\n%s; want a refusal naming deploy/env.example", cli, err, out)
		}
	}
}

// TestNATSImageVersion pins the compose files' default NATS image to the
// nats-server version go.mod requires (the one tests and images.sh use).
func TestNATSImageVersion(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command(goBin, "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "nats:" + strings.TrimPrefix(strings.TrimSpace(string(out)), "v") + "-alpine"
	for _, sc := range scenarios(t) {
		p := load(t, sc)
		for _, n := range natsNodes(sc) {
			if got := p.Services[n].Image; got != want {
				t.Errorf("%s: %s image %q, want %q (go.mod)", sc.name, n, got, want)
			}
		}
	}
}
