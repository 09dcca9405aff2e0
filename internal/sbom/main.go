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

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// Main is the sbom command (see cmd/sbom): a CycloneDX JSON bill of
// materials on stdout, of the Go modules linked into the binaries named in
// args or, with none, of the module graph in the current directory. It
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(Program, args, stdout, stderr)
}

// Program is the sbom command.
var Program = &cli.Command{
	Name:    "sbom",
	Args:    "[binary...]",
	MaxArgs: -1,
	Help: "Writes a CycloneDX JSON bill of materials to stdout: of the Go modules linked into the\n" +
		"named binaries or, with none, of the module graph in the current directory.\n" +
		"SOURCE_DATE_EPOCH (seconds) stamps it.",
	Run: run,
}

func run(c *cli.Call) error {
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	release := fs.String("release", "", "release version of the main module (default: the module's own)")
	if err := c.Parse(fs); err != nil {
		return err
	}
	var mods []Module
	if len(c.Args) == 0 {
		out, err := exec.Command("go", "list", "-mod=readonly", "-m", "-json", "all").Output()
		if err != nil {
			return fmt.Errorf("go list -m -json all: %w", err)
		}
		if mods, err = ReadGoList(bytes.NewReader(out)); err != nil {
			return err
		}
	}
	for _, bin := range c.Args {
		bi, err := buildinfo.ReadFile(bin)
		if err != nil {
			return err
		}
		mods = append(mods, FromBuildInfo(bi)...)
	}
	o := Options{Version: *release}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return exitcode.Use(fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", s))
		}
		o.Time = time.Unix(sec, 0)
	}
	doc, err := CycloneDX(mods, o)
	if err != nil {
		return err
	}
	if _, err := c.Stdout.Write(append(doc, '\n')); err != nil {
		return err
	}
	return nil
}
