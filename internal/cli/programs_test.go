package cli_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/ops/outputinit"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
	"github.com/alharvest/alharvest/internal/sbom"
	"github.com/alharvest/alharvest/internal/service"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/bench"
	"github.com/alharvest/alharvest/internal/version"
)

// TestEveryBinary: each binary in cmd/ answers --version and -h on stdout
// with exit 0, and refuses a stray argument and an unknown flag with exit
// 2 and one line on stderr, before doing anything.
func TestEveryBinary(t *testing.T) {
	stage := func(binary string) func([]string, io.Writer, io.Writer) int {
		return func(args []string, stdout, stderr io.Writer) int { return service.Main(binary, args, stdout, stderr) }
	}
	for _, b := range []struct {
		name  string
		main  func([]string, io.Writer, io.Writer) int
		stray bool // takes no positional argument
	}{
		{"alharvest", harvest.Main, true},
		{"searcher", stage(config.Searcher), true},
		{"scorer", stage(config.Scorer), true},
		{"downloader", stage(config.Downloader), true},
		{"alsim", alsim.Main, true},
		{"albench", bench.Main, true},
		{"sbom", sbom.Main, false},
		{"output-init", outputinit.Main, true},
		{"secrets-init", secretsinit.Main, true},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Setenv("AL_URL", "") // nothing must depend on a configuration
			run := func(args ...string) (int, string, string) {
				var stdout, stderr bytes.Buffer
				code := b.main(args, &stdout, &stderr)
				return code, stdout.String(), stderr.String()
			}
			if code, out, errs := run("--version"); code != 0 || out != b.name+" "+version.Get().String()+"\n" || errs != "" {
				t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if code, out, errs := run("-h"); code != 0 || !strings.HasPrefix(out, "Usage: "+b.name) || errs != "" {
				t.Errorf("-h: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if code, out, errs := run("--no-such-flag"); code != 2 || out != "" || strings.Count(errs, "\n") != 1 ||
				!strings.HasPrefix(errs, b.name) || !strings.Contains(errs, "-no-such-flag") {
				t.Errorf("an unknown flag: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if !b.stray {
				return
			}
			if code, out, errs := run("stray-argument"); code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `"stray-argument"`) {
				t.Errorf("a stray argument: exit %d, stdout %q, stderr %q", code, out, errs)
			}
		})
	}
}
