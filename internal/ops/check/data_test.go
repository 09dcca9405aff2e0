package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/config"
)

// TestDataDir: DATA_DIR passes only when a file can be created, written,
// synced and removed there; a probe leaves nothing behind; a failure says
// what to do.
func TestDataDir(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(root, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(readOnly, 0o700) })
	existing := filepath.Join(root, "existing")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir string
		status    Status
		detail    string
		rootOK    bool // the case cannot fail for root
	}{
		{"an existing directory", existing, OK, "created, wrote, synced and removed a file in " + existing, false},
		{"a directory to create", filepath.Join(root, "new", "data"), OK, "created it for the probe and removed it again", false},
		{"under a regular file", filepath.Join(file, "data"), Fail, "not a directory", false},
		{"a regular file", file, Fail, "not a directory", false},
		{"a read-only directory", readOnly, Fail, "permission denied", true},
		{"under a read-only directory", filepath.Join(readOnly, "data"), Fail, "permission denied", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rootOK && os.Geteuid() == 0 {
				t.Skip("root writes anywhere")
			}
			rs := checkDataDir(&config.Config{DataDir: tc.dir})
			if len(rs) != 1 {
				t.Fatalf("results %+v", rs)
			}
			r := rs[0]
			if r.Area != areaData || r.Status != tc.status || !strings.Contains(r.Detail, tc.detail) {
				t.Errorf("%+v, want %s with %q", r, tc.status, tc.detail)
			}
			if tc.status == Fail && !strings.Contains(r.Fix, "DATA_DIR") {
				t.Errorf("fix %q does not say what to do with DATA_DIR", r.Fix)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "new")); !os.IsNotExist(err) {
		t.Errorf("the probe left %s behind (%v)", filepath.Join(root, "new"), err)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 0 {
		t.Errorf("the probe left %d files in %s", len(entries), existing)
	}
}
