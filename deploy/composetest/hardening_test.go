package composetest

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
	"github.com/nats-io/nkeys"
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
	for _, name := range stages {
		s := p.Services[name]
		if len(s.CapAdd) > 0 {
			t.Errorf("%s: cap_add %v; the stages need no capability", name, s.CapAdd)
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
}

// checkNATSAuth: the server requires a key, and the stages have it.
func checkNATSAuth(t *testing.T, p *types.Project, sc scenario) {
	// The server's config is a secret holding the stages' public key.
	var conf string
	for _, n := range natsNodes(sc) {
		s := p.Services[n]
		a := natsArgs(t, n, s.Command)
		path := a["c"]
		if path == "" {
			t.Errorf("%s: no -c config file: it carries the users", n)
			continue
		}
		f := hostFile(p, s, path)
		if conf != "" && f != conf {
			t.Errorf("%s: config %s differs from the other nodes' %s", n, f, conf)
		}
		conf = f
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatalf("NATS config: %v", err)
	}
	text := string(b)
	if !regexp.MustCompile(`(?m)^\s*authorization\s*\{`).MatchString(text) {
		t.Errorf("%s has no authorization block: NATS would accept anyone", conf)
	}
	if !regexp.MustCompile(`(?m)^\s*sync_interval:\s*always`).MatchString(text) {
		t.Errorf("%s: sync_interval is not always (the single server's acked state would not survive a power loss)", conf)
	}
	for _, name := range stages {
		s := p.Services[name]
		seedFile := hostFile(p, s, envOf(s)["NATS_NKEY"])
		if seedFile == envOf(s)["NATS_NKEY"] {
			t.Errorf("%s: NATS_NKEY %q is not a mounted secret", name, seedFile)
			continue
		}
		seed, err := os.ReadFile(seedFile)
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
