package version_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestLinkedVersion builds a real binary the way deploy/release.sh does and
// checks what its --version says.
func TestLinkedVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "sbom")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=auto",
		"-ldflags", "-X github.com/alharvest/alharvest/internal/version.Version=v7.7.7",
		"-o", bin, "../../cmd/sbom")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`^sbom v7\.7\.7 \((rev [0-9a-f]{12}(-dirty)?, \d{4}-\d\d-\d\dT[^,]+, )?go1\.\d+[^)]*\)\n$`)
	if !re.Match(out) {
		t.Errorf("--version printed %q, want %s", out, re)
	}
}
