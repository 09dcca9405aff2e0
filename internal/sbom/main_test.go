package sbom

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/exitcode"
)

// TestMainReadsABinary: the command reads a binary's build information (here
// the test binary's) and writes CycloneDX JSON stamped with -release. The
// flag is not -version: every binary answers -version with its own version.
func TestMainReadsABinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable path:", err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"-release", "v9.9.9", exe}, &out, &errb); code != exitcode.OK {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	var doc struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct {
				Version string `json:"version"`
			} `json:"component"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if doc.BOMFormat != "CycloneDX" || doc.Metadata.Component.Version != "v9.9.9" {
		t.Errorf("bomFormat %q, main component version %q", doc.BOMFormat, doc.Metadata.Component.Version)
	}
}

func TestMainUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"-no-such-flag"}, &out, &errb); code != exitcode.Usage {
		t.Errorf("unknown flag: exit %d, want %d", code, exitcode.Usage)
	}
	errb.Reset()
	if code := Main([]string{"/nonexistent/binary"}, &out, &errb); code != exitcode.Failed || !strings.Contains(errb.String(), "sbom:") {
		t.Errorf("missing binary: exit %d, stderr %q", code, errb.String())
	}
}
