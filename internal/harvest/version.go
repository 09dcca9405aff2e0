package harvest

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/alharvest/alharvest/internal/service"
	"github.com/alharvest/alharvest/internal/version"
)

// versionCommand is `alharvest version [--json]`.
func versionCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alharvest version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the build information as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return service.ExitOK
		}
		return service.ExitUsage
	}
	info := version.Get()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(info)
		return service.ExitOK
	}
	fmt.Fprintln(stdout, "alharvest", info)
	return service.ExitOK
}
