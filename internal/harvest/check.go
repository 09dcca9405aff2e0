package harvest

import (
	"bytes"
	"flag"
	"io"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/ops/check"
	"github.com/alharvest/alharvest/internal/secret"
)

var checkCommand = &cli.Command{
	Name:     "check",
	Synopsis: "test the setup: Assemblyline, NATS, DATA_DIR, OUTPUT_DIR; secrets redacted (--json)",
	Help: "Resolves the configuration as a run would and tries each thing a run depends on:\n" +
		"Assemblyline (reachable, TLS, credentials, search permission, quota), NATS or the store in\n" +
		"DATA_DIR, and OUTPUT_DIR. Exit 0 when no check fails (warnings allowed), 1 when one does,\n" +
		"2 on bad configuration.",
	Run: runCheck,
}

// runCheck is `alharvest check [--json] [flags]`.
func runCheck(c *cli.Call) error {
	var asJSON bool
	cfg, fs, err := config.Load(config.Alharvest, c.Args, nil, c.Flags(func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	}))
	if err := c.Parsed(fs, err); err != nil {
		return err
	}
	rep := check.Run(c.Ctx, cfg, check.Options{
		NATSExplicit: cfg.Explicit("NATS_URL"),
		Settings:     check.Settings(config.Alharvest, fs, cfg),
	})
	var buf bytes.Buffer
	writeResult(&buf, asJSON, rep)
	// The configuration is printed redacted and errors never quote a key;
	// scrubbing the whole text once more costs nothing.
	io.WriteString(c.Stdout, secret.Scrub(buf.String(), cfg.Secrets()...))
	if !rep.OK {
		return exitcode.With(exitcode.Failed, nil)
	}
	return nil
}
