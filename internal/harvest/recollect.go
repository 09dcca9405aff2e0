package harvest

import (
	"flag"
	"fmt"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/ops/admin"
)

var recollectCommand = &cli.Command{
	Name:     "recollect",
	Args:     "SID|SHA256...",
	MinArgs:  1,
	MaxArgs:  -1,
	Synopsis: "collect again on purpose, bypassing the duplicate windows",
	Help: "Queues submissions (scored again, each qualifying file re-queued) or files for collection\n" +
		"again, bypassing the streams' duplicate windows. A file already in OUTPUT_DIR and verified\n" +
		"is kept; a missing or damaged one is downloaded. Against a running --follow --listen\n" +
		"alharvest, set NATS_URL to its address; otherwise it queues in DATA_DIR for the next run.",
	Run: runRecollect,
}

// runRecollect is `alharvest recollect [flags] SID|SHA256...`.
func runRecollect(c *cli.Call) error {
	var asJSON bool
	cfg, fs, err := config.Load(config.Admin, c.Args, nil, c.Flags(func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print what was queued as JSON")
	}))
	if err := c.Parsed(fs, err); err != nil {
		return err
	}
	c.Secrets(cfg.Secrets()...)
	for _, id := range c.Args {
		if _, _, err := admin.RecollectMsg(id, ""); err != nil {
			return exitcode.Use(err)
		}
	}
	log := logging.New(logging.Config{Level: "warn", Format: "text", Output: c.Stderr, Binary: config.Alharvest, Secrets: cfg.Secrets()})
	conn, err := admin.Open(c.Ctx, cfg, cfg.Explicit("NATS_URL"), log)
	if err != nil {
		return err
	}
	defer conn.Close()
	queued, err := admin.Recollect(c.Ctx, conn.JS, c.Args, "alharvest recollect")
	if asJSON {
		writeJSON(c.Stdout, queued)
	} else {
		for _, q := range queued {
			fmt.Fprintf(c.Stdout, "queued %s %s (%s #%d) via %s\n", q.Kind, q.ID, q.Stream, q.Seq, conn.Where)
		}
	}
	return err
}
