package composetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// composeCLIs are the Compose implementations that can validate the files
// without a Docker engine, when installed: the Go plugin (v2) and the
// Python docker-compose (v1, `apt-get install docker-compose`).
func composeCLIs() map[string][]string {
	clis := map[string][]string{}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		clis["docker-compose"] = []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.Command(p, "compose", "version").Run() == nil {
			clis["docker compose"] = []string{p, "compose"}
		}
	}
	return clis
}

// TestComposeConfigCLI runs `config -q` of every installed Compose on every
// scenario: the files must be valid for Docker's own tools, not only for
// the Go loader.
func TestComposeConfigCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every installed Compose CLI on every scenario (about a minute)")
	}
	clis := composeCLIs()
	if len(clis) == 0 {
		t.Skip("neither docker-compose nor the docker compose plugin is installed")
	}
	root := repoRoot(t)
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The scenarios only read the key file scenarios writes: one set is
	// enough for every CLI.
	scs := scenarios(t)
	for cli, argv := range clis {
		for _, sc := range scs {
			t.Run(cli+"/"+sc.name, func(t *testing.T) {
				// An explicit env file keeps a developer's own .env out of it.
				envFile := empty
				if len(sc.envFiles) > 0 {
					envFile = filepath.Join(root, sc.envFiles[0])
				}
				args := append(argv[1:], "--env-file", envFile)
				for _, f := range sc.files {
					args = append(args, "-f", filepath.Join(root, f))
				}
				for _, p := range sc.profiles {
					args = append(args, "--profile", p)
				}
				args = append(args, "config", "-q")
				cmd := exec.Command(argv[0], args...)
				cmd.Dir = root
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
				for k, v := range sc.env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
				}
				if s := strings.TrimSpace(string(out)); s != "" {
					t.Logf("%s says:\n%s", cli, s)
				}
			})
		}
	}
}
