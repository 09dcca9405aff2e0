package harvest

import (
	"flag"
	"fmt"
	"io"

	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// versionCommand is `alharvest version [--json]`.
func versionCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alharvest version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	if err := fs.Parse(args); err != nil {
		return exitcode.FromFlags(err)
	}
	info := version.Get()
	if *asJSON {
		writeJSON(stdout, info)
		return exitcode.OK
	}
	fmt.Fprintln(stdout, "alharvest", info)
	return exitcode.OK
}
