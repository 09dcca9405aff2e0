package composerun

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
)

// TestOneCommand: the image's default entrypoint (the one-command run,
// embedded JetStream) against the compose project's alsim, with volumes for
// OUTPUT_DIR and DATA_DIR, hardened like the compose stages.
func TestOneCommand(t *testing.T) {
	t.Parallel()
	// No late arrivals: a one-shot run collects what has completed when it
	// sweeps, and the demo profile's alsim would otherwise complete (and
	// push) 100 more submissions over the next two minutes.
	p := newProject(t, options{alsim: map[string]string{"ALSIM_FAULT_MISSING_BLOBS": "1", "ALSIM_LATE_ARRIVALS": "0"}})
	p.compose("--profile", "demo", "up", "-d", "alsim") // and secrets-init, whose webhook token it reads
	p.waitHealthy(time.Minute, "alsim")
	want, uncollectable := p.expected()

	dir := t.TempDir()
	out, data := filepath.Join(dir, "collected"), filepath.Join(dir, "data")
	for _, d := range []string{out, data} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 65532, 65532); err != nil {
			t.Skipf("cannot hand %s to the image's user 65532: %v", d, err)
		}
	}
	key := filepath.Join(repoRoot(t), "deploy", "demo-apikey")
	start := time.Now()
	cmd := exec.Command("docker", "run", "--rm", "--network", p.name+"_default",
		"--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
		"-v", out+":/collected", "-v", data+":/data", "-v", key+":/run/secrets/al_apikey:ro",
		"-e", "AL_URL=http://alsim:8980", "-e", "AL_USER=admin", "-e", "AL_APIKEY_FILE=/run/secrets/al_apikey",
		"-e", "AL_ALLOW_HTTP=true",
		imageOf(t, "ALHARVEST_IMAGE"))
	b, err := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	t.Logf("one-command run: exit %d after %v, %d files (+%d uncollectable)", code, time.Since(start).Round(100*time.Millisecond), len(want), len(uncollectable))
	// Exit 3: something was dead-lettered, here the file alsim never serves.
	if code != 3 {
		t.Errorf("exit %d (%v), want 3 for the one uncollectable file; output:\n%s", code, err, tail(string(b), 30))
	}
	alsimtest.CheckCollected(t, out, want)
	if n := p.alsimDownloads(); n != int64(len(want)) {
		t.Errorf("alsim served %d downloads for %d files", n, len(want))
	}
}
