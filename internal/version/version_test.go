package version

import (
	"runtime/debug"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"},
		{Key: "vcs.time", Value: "2026-12-06T18:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name   string
		bi     *debug.BuildInfo
		linked string
		want   Info
		str    string
	}{
		{"no build info", nil, "", Info{Version: "devel", Go: "unknown"}, "devel (unknown)"},
		{"ldflags win", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.9.0"}, Settings: vcs}, "v1.2.3",
			Info{Version: "v1.2.3", Revision: "0123456789abcdef0123", Time: "2026-12-06T18:00:00Z", Modified: true, Go: "go1.26.8"},
			"v1.2.3 (rev 0123456789ab-dirty, 2026-12-06T18:00:00Z, go1.26.8)"},
		{"module version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.9.0"}}, "",
			Info{Version: "v0.9.0", Go: "go1.26.8"}, "v0.9.0 (go1.26.8)"},
		{"devel build", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:2]}, "",
			Info{Version: "devel", Revision: "0123456789abcdef0123", Time: "2026-12-06T18:00:00Z", Go: "go1.26.8"},
			"devel (rev 0123456789ab, 2026-12-06T18:00:00Z, go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := from(tc.bi, tc.linked)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			if got.String() != tc.str {
				t.Errorf("String() = %q, want %q", got.String(), tc.str)
			}
		})
	}
}

func TestIsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--version"}, true},
		{[]string{"-threshold", "5", "-version"}, true},
		{[]string{"--", "--version"}, false},
		{[]string{"-v"}, false},
	} {
		if got := IsFlag(tc.args); got != tc.want {
			t.Errorf("IsFlag(%q) = %v", tc.args, got)
		}
	}
}
