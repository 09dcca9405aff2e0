package check

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/alharvest/alharvest/internal/config"
)

// TestOutputFreeSpaceCountsTheReserve: the free-space check judges what is
// left beyond OUTPUT_RESERVE, since the downloader halts at the reserve,
// not at an empty disk; its failure names the variable.
func TestOutputFreeSpaceCountsTheReserve(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < 2*failFree {
		t.Skipf("only %d bytes free under %s", free, dir)
	}
	for _, tc := range []struct {
		name    string
		reserve int64
		fails   bool
	}{
		{"no reserve", 0, false},
		{"a reserve that leaves room", free - 2*failFree, false},
		{"a reserve the disk barely holds", free - failFree/2, true},
		{"a reserve beyond the disk", free * 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var space *Result
			for _, r := range checkOutput(&config.Config{OutputDir: dir, OutputReserve: tc.reserve}) {
				if r.Name == "free space" {
					space = &r
				}
			}
			if space == nil {
				t.Fatal("no free-space result")
			}
			if got := space.Status == Fail; got != tc.fails {
				t.Errorf("%+v, want failed=%v", *space, tc.fails)
			}
			if tc.fails && !strings.Contains(space.Fix, "OUTPUT_RESERVE") {
				t.Errorf("fix %q does not name OUTPUT_RESERVE", space.Fix)
			}
			if tc.reserve > 0 && !strings.Contains(space.Detail, "OUTPUT_RESERVE") {
				t.Errorf("detail %q does not say the reserve is kept free", space.Detail)
			}
		})
	}
}
