package harvest

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dryrun"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/secret"
	"github.com/alharvest/alharvest/internal/service"
)

// dryRunCommand is `alharvest --dry-run`: 0 when the sweep and scoring
// completed, 1 when they could not.
func dryRunCommand(ctx context.Context, cfg *config.Config, asJSON bool, log *slog.Logger, stdout, stderr io.Writer) int {
	al, err := service.ALClient(cfg, quota.New(quota.Config{Max: cfg.Calls.Max}), log.With("component", "assemblyline"))
	if err != nil {
		fmt.Fprintf(stderr, "alharvest: %v\n", secret.Scrub(err.Error(), service.Secrets(cfg)...))
		return exitcode.Usage
	}
	res, err := dryrun.Run(ctx, al, dryrun.Options{
		Threshold: cfg.Threshold, Filter: cfg.Search.Filter, PageSize: cfg.Search.PageSize,
		OutputDir: cfg.OutputDir, Concurrency: cfg.Scorer.Concurrency, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "alharvest: dry run: %v\n", secret.Scrub(err.Error(), service.Secrets(cfg)...))
		return exitcode.Failed
	}
	writeResult(stdout, asJSON, res)
	return exitcode.OK
}
