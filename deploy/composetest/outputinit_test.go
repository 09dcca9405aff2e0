package composetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutputInit runs deploy/output-init.sh (the compose service that
// prepares the downloader's bind-mounted directory) on local directories.
func TestOutputInit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	if _, err := exec.LookPath("stat"); err != nil {
		t.Skip("no stat")
	}
	script := filepath.Join(repoRoot(t), "deploy", "output-init.sh")
	root := os.Geteuid() == 0
	me := fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())

	owner := func(t *testing.T, dir string) string {
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}

	for _, tc := range []struct {
		name      string
		rootOnly  bool
		owner     string      // OWNER given to the script
		mode      os.FileMode // of the directory
		nonEmpty  bool
		wantOK    bool
		wantOwner string // after the run; "" = unchanged
	}{
		{name: "docker-created directory is handed over", rootOnly: true, owner: "65532:65532", mode: 0o755, wantOK: true, wantOwner: "65532:65532"},
		{name: "non-empty root directory is left alone and refused", rootOnly: true, owner: "65532:65532", mode: 0o755, nonEmpty: true},
		{name: "world-writable directory is accepted", rootOnly: true, owner: "65532:65532", mode: 0o777, nonEmpty: true, wantOK: true},
		{name: "directory of the stages' user", owner: me, mode: 0o750, nonEmpty: true, wantOK: true},
		{name: "someone else's directory is refused", owner: "4242:4242", mode: 0o755, nonEmpty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rootOnly && !root {
				t.Skip("needs root, like the container")
			}
			dir := filepath.Join(t.TempDir(), "collected")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.nonEmpty {
				if err := os.WriteFile(filepath.Join(dir, "old.cart"), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			before := owner(t, dir)
			cmd := exec.Command(sh, script)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DIR=" + dir, "OWNER=" + tc.owner}
			out, err := cmd.CombinedOutput()
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("exit ok = %v, want %v: %v\n%s", ok, tc.wantOK, err, out)
			}
			if !tc.wantOK && !strings.Contains(string(out), "ALHARVEST_UID") {
				t.Errorf("refusal does not say what to do:\n%s", out)
			}
			want := tc.wantOwner
			if want == "" {
				want = before
			}
			if got := owner(t, dir); got != want {
				t.Errorf("owner after the run = %s, want %s\n%s", got, want, out)
			}
		})
	}
}
