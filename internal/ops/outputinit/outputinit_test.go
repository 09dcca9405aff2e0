package outputinit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPrepare(t *testing.T) {
	root := os.Geteuid() == 0
	me := Owner{os.Geteuid(), os.Getegid()}
	owner := func(t *testing.T, dir string) string {
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
	}
	stages := Owner{65532, 65532}
	for _, tc := range []struct {
		name      string
		rootOnly  bool
		owner     Owner
		mode      os.FileMode
		nonEmpty  bool
		wantOK    bool
		wantOwner string // after the run; "" = unchanged
	}{
		{name: "docker-created directory is handed over", rootOnly: true, owner: stages, mode: 0o755, wantOK: true, wantOwner: "65532:65532"},
		{name: "non-empty root directory is left alone and refused", rootOnly: true, owner: stages, mode: 0o755, nonEmpty: true},
		{name: "world-writable directory is accepted", rootOnly: true, owner: stages, mode: 0o777, nonEmpty: true, wantOK: true},
		{name: "directory of the stages' user", owner: me, mode: 0o750, nonEmpty: true, wantOK: true},
		{name: "someone else's directory is refused", owner: Owner{4242, 4242}, mode: 0o755, nonEmpty: true},
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
			err := Prepare(dir, tc.owner, io.Discard)
			if ok := err == nil; ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v: %v", ok, tc.wantOK, err)
			}
			if !tc.wantOK && !strings.Contains(err.Error(), "ALHARVEST_UID") {
				t.Errorf("refusal does not say what to do: %v", err)
			}
			want := tc.wantOwner
			if want == "" {
				want = before
			}
			if got := owner(t, dir); got != want {
				t.Errorf("owner after the run = %s, want %s", got, want)
			}
		})
	}
}

func TestParseOwner(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Owner
		ok   bool
	}{
		{"65532:65532", Owner{65532, 65532}, true},
		{"1000:100", Owner{1000, 100}, true},
		{"1000", Owner{}, false},
		{"a:b", Owner{}, false},
		{"-1:0", Owner{}, false},
		{"", Owner{}, false},
	} {
		got, err := ParseOwner(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseOwner(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
