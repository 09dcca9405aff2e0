package secretsinit

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/ops/outputinit"
)

// Main is the secrets-init command (see cmd/secrets-init); it returns the
// exit status: 0 prepared, 1 a secret or directory could not be written,
// 2 bad flags or owners.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(Program, args, stdout, stderr)
}

// Program is the secrets-init command.
var Program = &cli.Command{
	Name: "secrets-init",
	Help: "Creates the compose deployment's secrets (compose service secrets-init, run on every up as\n" +
		"root with CHOWN, DAC_OVERRIDE and FOWNER only): the NATS keys of the stages, the feeder and\n" +
		"the reader, the webhook token, the cluster route password, and the NATS configuration that\n" +
		"admits them. Existing secrets are kept; --rotate generates the named ones anew. Then it\n" +
		"hands the NATS store directories to the NATS user.",
	Run: run,
}

func run(c *cli.Call) error {
	dirDefault := os.Getenv("DIR")
	if dirDefault == "" {
		dirDefault = "/secrets"
	}
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	dir := fs.String("dir", dirDefault, "where the secrets go [$DIR]")
	owner := fs.String("owner", os.Getenv("OWNER"), "uid:gid the stages run as, ALHARVEST_UID:ALHARVEST_GID in compose [$OWNER]")
	natsOwner := fs.String("nats-owner", os.Getenv("NATS_OWNER"), "uid:gid the NATS server runs as [$NATS_OWNER]")
	natsData := fs.String("nats-data", os.Getenv("NATS_DATA"), "NATS store directories to hand to the NATS user, comma-separated [$NATS_DATA]")
	rotate := fs.String("rotate", "", "generate these secrets anew, comma-separated: "+strings.Join(Names(), ", "))
	if err := c.Parse(fs); err != nil {
		return err
	}
	cfg := Config{Dir: *dir}
	var err error
	if cfg.Owner, err = outputinit.ParseOwner(*owner); err != nil {
		return exitcode.Use(fmt.Errorf("OWNER: %w", err))
	}
	if cfg.NATSOwner, err = outputinit.ParseOwner(*natsOwner); err != nil {
		return exitcode.Use(fmt.Errorf("NATS_OWNER: %w", err))
	}
	if *rotate != "" {
		cfg.Rotate = strings.Split(*rotate, ",")
	}
	if err := Prepare(cfg, c.Stdout); err != nil {
		return err
	}
	for _, d := range strings.Split(*natsData, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if err := HandDataDir(d, cfg.NATSOwner, c.Stdout); err != nil {
			return err
		}
	}
	return nil
}
