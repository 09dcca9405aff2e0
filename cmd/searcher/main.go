// Command searcher deep-pages Assemblyline's submission search for
// max_score >= SCORE_THRESHOLD and publishes each SID to alharvest.sids. As a
// service it sweeps every SEARCH_INTERVAL from its watermark; with --once it
// sweeps once and exits 0.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/service"
)

func main() {
	var once bool
	flags := func(fs *flag.FlagSet) {
		fs.BoolVar(&once, "once", false, "sweep once, then exit (0 on success)")
	}
	os.Exit(service.Main(config.Searcher, os.Args[1:], flags, func(ctx context.Context, env *service.Env) error {
		s, err := env.Searcher(ctx)
		if err != nil {
			return err
		}
		if !once {
			serveWebhook, err := env.Webhook(ctx)
			if err != nil {
				return err
			}
			if serveWebhook == nil {
				return s.Run(ctx)
			}
			return service.RunAll(ctx, s.Run, serveWebhook)
		}
		if env.Cfg.Webhook.Addr != "" {
			env.Log.Warn("WEBHOOK_ADDR is ignored with --once: the receiver runs only in service mode")
		}
		res, err := s.Sweep(ctx)
		if err != nil {
			return err
		}
		env.Log.Info("sweep done", "found", res.Found, "published", res.Published,
			"watermark", res.Watermark, "took", res.Duration)
		return nil
	}))
}
