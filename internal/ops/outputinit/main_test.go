package outputinit

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestCommandLine exercises the command line: flags or DIR/OWNER, a bad OWNER is
// a configuration error (exit 2) naming it, a usable directory exits 0.
func TestCommandLine(t *testing.T) {
	me := fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid())
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"flags", []string{"--dir", t.TempDir(), "--owner", me}, nil, 0, ""},
		{"environment", nil, map[string]string{"DIR": t.TempDir(), "OWNER": me}, 0, ""},
		{"flags win", []string{"--owner", me}, map[string]string{"DIR": t.TempDir(), "OWNER": "nobody"}, 0, ""},
		{"a bad OWNER", nil, map[string]string{"DIR": t.TempDir(), "OWNER": "root"}, 2, `output-init: OWNER "root" is not <uid>:<gid>`},
		{"no OWNER", nil, map[string]string{"DIR": t.TempDir(), "OWNER": ""}, 2, `OWNER "" is not <uid>:<gid>`},
		{"a directory that is not there", []string{"--dir", "/nonexistent/collected", "--owner", me}, nil, 1, "output-init: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DIR", "")
			t.Setenv("OWNER", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) || (tc.stderr == "" && stderr.Len() > 0) {
				t.Errorf("exit %d, stderr %q; want %d with %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
