package harvest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/alharvest/alharvest/internal/cli"
)

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the simulated late arrivals (about 8 s)")
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	out := t.TempDir()
	var stdout bytes.Buffer
	code := cli.Run(context.Background(), Program, []string{"demo", "-submissions", "80", "-output-dir", out}, &stdout, stderr)
	if code != 0 {
		logs, _ := os.ReadFile(stderr.Name())
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), logs)
	}
	m := regexp.MustCompile(`demo OK: (\S+) holds exactly the (\d+) files alsim expects; the 1 it cannot serve went to the dead letters`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no verdict:\n%s", stdout.String())
	}
	if m[1] != out {
		t.Errorf("verdict names %s, want %s", m[1], out)
	}
	n, _ := strconv.Atoi(m[2])
	got, err := collectedHashes(out)
	if err != nil || len(got) != n || n == 0 {
		t.Errorf("OUTPUT_DIR has %d files, verdict says %d (%v)", len(got), n, err)
	}
	if !regexp.MustCompile(`\(\d+ sweeps, the first full\)`).MatchString(stdout.String()) {
		t.Errorf("the late arrivals need more than one sweep; report:\n%s", stdout.String())
	}
	dir := regexp.MustCompile(`remove (\S+) when done`).FindStringSubmatch(stdout.String())
	if dir == nil {
		t.Fatal("no scratch directory named")
	}
	os.RemoveAll(dir[1])
}
