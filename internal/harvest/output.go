// What every command shares at its two ends: loading its configuration
// with its flags, and printing its result for people or, with --json, for
// programs.

package harvest

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// loadConfig loads binary's settings from the environment and args, with
// the flags extra declares, for the command called name (how its errors
// start). When the command must stop — -h was asked for, or the
// configuration is bad (said on stderr) — it reports false and the exit code.
func loadConfig(name, binary string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*config.Config, *flag.FlagSet, int, bool) {
	cfg, fs, err := config.Load(binary, args, os.LookupEnv, func(fs *flag.FlagSet) {
		fs.SetOutput(stderr)
		extra(fs)
	})
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
		}
		return nil, fs, exitcode.FromFlags(err), false
	}
	return cfg, fs, 0, true
}

// textWriter is a result that prints itself for people.
type textWriter interface {
	WriteText(w io.Writer)
}

// writeResult prints r for people, or as JSON when asJSON.
func writeResult(w io.Writer, asJSON bool, r textWriter) {
	if asJSON {
		writeJSON(w, r)
		return
	}
	r.WriteText(w)
}

// writeJSON prints v as indented JSON, the form of every --json.
func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
