package harvest

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/alharvest/alharvest/internal/admin"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/service"
)

// recollectCommand is `alharvest recollect [flags] SID|SHA256...`.
func recollectCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var asJSON bool
	cfg, fs, code, ok := loadConfig("alharvest recollect", config.Admin, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print what was queued as JSON")
		fs.Usage = func() {
			fmt.Fprint(fs.Output(), "Usage: alharvest recollect [flags] SID|SHA256...\n\n"+
				"Queues submissions (scored again, each qualifying file re-queued) or files for collection\n"+
				"again, bypassing the streams' duplicate windows. A file already in OUTPUT_DIR and verified\n"+
				"is kept; a missing or damaged one is downloaded. Against a running --follow --listen\n"+
				"alharvest, set NATS_URL to its address; otherwise it queues in DATA_DIR for the next run.\n\nFlags:\n")
			fs.PrintDefaults()
		}
	})
	if !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitcode.Usage
	}
	for _, id := range fs.Args() {
		if _, _, err := admin.RecollectMsg(id, ""); err != nil {
			fmt.Fprintf(stderr, "alharvest recollect: %v\n", err)
			return exitcode.Usage
		}
	}
	log := logging.New(logging.Config{Level: "warn", Format: "text", Output: stderr, Binary: config.Alharvest, Secrets: service.Secrets(cfg)})
	conn, err := admin.Open(ctx, cfg, cfg.Explicit("NATS_URL"), log)
	if err != nil {
		fmt.Fprintf(stderr, "alharvest recollect: %v\n", secret.Scrub(err.Error(), service.Secrets(cfg)...))
		return exitcode.Failed
	}
	defer conn.Close()
	queued, err := admin.Recollect(ctx, conn.JS, fs.Args(), "alharvest recollect")
	if asJSON {
		writeJSON(stdout, queued)
	} else {
		for _, q := range queued {
			fmt.Fprintf(stdout, "queued %s %s (%s #%d) via %s\n", q.Kind, q.ID, q.Stream, q.Seq, conn.Where)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "alharvest recollect: %v\n", secret.Scrub(err.Error(), service.Secrets(cfg)...))
		return exitcode.Failed
	}
	return exitcode.OK
}
