package harvest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/alharvest/alharvest/internal/check"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/service"
)

// checkCommand is `alharvest check [--json] [flags]`: exit 0 when no check
// fails, 1 when one does, 2 on bad configuration.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	cfg, fs, err := config.Load(config.Alharvest, args, os.LookupEnv, func(fs *flag.FlagSet) {
		fs.SetOutput(stderr)
		fs.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	})
	if errors.Is(err, flag.ErrHelp) {
		return exitcode.OK
	}
	if err != nil {
		fmt.Fprintf(stderr, "alharvest check: %v\n", err)
		return exitcode.Usage
	}
	rep := check.Run(ctx, cfg, check.Options{
		NATSExplicit: cfg.Explicit("NATS_URL"),
		Settings:     check.Settings(config.Alharvest, fs, cfg),
	})
	var buf bytes.Buffer
	if asJSON {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.WriteText(&buf)
	}
	// The configuration is printed redacted and errors never quote a key;
	// scrubbing the whole text once more costs nothing.
	io.WriteString(stdout, logging.Scrub(buf.String(), service.Secrets(cfg)...))
	if !rep.OK {
		return exitcode.Failed
	}
	return exitcode.OK
}
