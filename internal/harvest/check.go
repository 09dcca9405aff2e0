package harvest

import (
	"bytes"
	"context"
	"flag"
	"io"

	"github.com/alharvest/alharvest/internal/check"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/service"
)

// checkCommand is `alharvest check [--json] [flags]`: exit 0 when no check
// fails, 1 when one does, 2 on bad configuration.
func checkCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	cfg, fs, code, ok := loadConfig("alharvest check", config.Alharvest, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	})
	if !ok {
		return code
	}
	rep := check.Run(ctx, cfg, check.Options{
		NATSExplicit: cfg.Explicit("NATS_URL"),
		Settings:     check.Settings(config.Alharvest, fs, cfg),
	})
	var buf bytes.Buffer
	writeResult(&buf, asJSON, rep)
	// The configuration is printed redacted and errors never quote a key;
	// scrubbing the whole text once more costs nothing.
	io.WriteString(stdout, secret.Scrub(buf.String(), service.Secrets(cfg)...))
	if !rep.OK {
		return exitcode.Failed
	}
	return exitcode.OK
}
