package sbom

import (
	"bytes"
	"debug/buildinfo"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the sbom command (see cmd/sbom): a CycloneDX JSON bill of
// materials on stdout, of the Go modules linked into the binaries named in
// args or, with none, of the module graph in the current directory. It
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if version.IsFlag(args) {
		fmt.Fprintln(stdout, "sbom", version.Get())
		return exitcode.OK
	}
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	fs.SetOutput(stderr)
	release := fs.String("release", "", "release version of the main module (default: the module's own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: sbom [-release V] [binary...]   CycloneDX JSON on stdout; SOURCE_DATE_EPOCH stamps it")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitcode.FromFlags(err)
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "sbom:", err)
		return exitcode.Failed
	}
	var mods []Module
	if fs.NArg() == 0 {
		out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-json", "all").Output()
		if err != nil {
			return fail(fmt.Errorf("go list -m -json all: %w", err))
		}
		if mods, err = ReadGoList(bytes.NewReader(out)); err != nil {
			return fail(err)
		}
	}
	for _, bin := range fs.Args() {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return fail(err)
		}
		mods = append(mods, FromBuildInfo(bi)...)
	}
	o := Options{Version: *release}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fail(fmt.Errorf("SOURCE_DATE_EPOCH: %w", err))
		}
		o.Time = time.Unix(sec, 0)
	}
	doc, err := CycloneDX(mods, o)
	if err != nil {
		return fail(err)
	}
	if _, err := stdout.Write(append(doc, '\n')); err != nil {
		return fail(err)
	}
	return exitcode.OK
}
