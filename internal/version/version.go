// Package version says which alharvest this is: the release version, the
// VCS revision and commit time, and the Go version, for --version, the
// "starting" log line and the alharvest_build_info metric.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version is the release version, set at link time:
//
//	go build -ldflags "-X github.com/alharvest/alharvest/internal/version.Version=v1.2.3"
//
// Left empty, Get falls back to the module version (`go install ...@v1.2.3`)
// or "devel".
var Version string

// Revision is the VCS revision, set at link time where the build has no VCS
// data of its own (a container build context without .git, a git
// worktree): deploy/images.sh and the Dockerfile pass
// -X github.com/alharvest/alharvest/internal/version.Revision=<commit>.
// Build information, when present, wins.
var Revision string

// Info identifies a build.
type Info struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	// Time is the commit time of Revision (RFC 3339), not the build time,
	// so that rebuilding the same commit gives the same binary.
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Get reads the build's identity.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return from(nil, Version)
	}
	return from(bi, Version)
}

func from(bi *debug.BuildInfo, linked string) Info {
	i := Info{Version: linked, Revision: Revision, Go: "unknown"}
	if bi == nil {
		if i.Version == "" {
			i.Version = "devel"
		}
		return i
	}
	i.Go = bi.GoVersion
	if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the one line --version prints:
// "v1.2.3 (rev 0123456789ab, 2026-12-06T18:00:00Z, go1.26.8)".
func (i Info) String() string {
	parts := []string{}
	if i.Revision != "" {
		rev := i.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if i.Modified {
			rev += "-dirty"
		}
		parts = append(parts, "rev "+rev)
	}
	if i.Time != "" {
		parts = append(parts, i.Time)
	}
	parts = append(parts, i.Go)
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(parts, ", "))
}

// ShortRevision is the first 12 characters of the revision, for labels.
func (i Info) ShortRevision() string {
	if len(i.Revision) > 12 {
		return i.Revision[:12]
	}
	return i.Revision
}

// IsFlag reports whether args ask for the version (--version or -version
// anywhere before a "--"), so every binary answers it before parsing its
// configuration.
func IsFlag(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-version", "--version":
			return true
		}
	}
	return false
}
