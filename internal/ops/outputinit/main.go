package outputinit

import (
	"flag"
	"io"
	"os"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// Main is the output-init command (see cmd/output-init); it returns the
// exit status: 0 prepared, 1 the directory is not usable, 2 bad OWNER.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(Program, args, stdout, stderr)
}

// Program is the output-init command.
var Program = &cli.Command{
	Name: "output-init",
	Help: "Prepares the downloader's output directory before any downloader starts (compose service\n" +
		"output-init, run once as root): a fresh, empty, root-owned directory is handed to OWNER;\n" +
		"then it checks OWNER can write there. A directory the operator created is never chowned.",
	Run: run,
}

func run(c *cli.Call) error {
	dirDefault := os.Getenv("DIR")
	if dirDefault == "" {
		dirDefault = "/collected"
	}
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	dir := fs.String("dir", dirDefault, "the directory to prepare [$DIR]")
	owner := fs.String("owner", os.Getenv("OWNER"), "uid:gid the stages run as, ALHARVEST_UID:ALHARVEST_GID in compose [$OWNER]")
	if err := c.Parse(fs); err != nil {
		return err
	}
	o, err := ParseOwner(*owner)
	if err != nil {
		return exitcode.Use(err)
	}
	return Prepare(*dir, o, c.Stdout)
}
