package harvest

import (
	"fmt"
	"log/slog"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/ops/dryrun"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/service"
)

// dryRunMain is the dry run once configured: exit 0 when the sweep and
// scoring completed, 1 when they could not.
func dryRunMain(c *cli.Call, cfg *config.Config, asJSON bool, log *slog.Logger) error {
	al, err := service.ALClient(cfg, quota.New(quota.Config{Max: cfg.Calls.Max}), log.With("component", "assemblyline"))
	if err != nil {
		return exitcode.Use(err)
	}
	res, err := dryrun.Run(c.Ctx, al, dryrun.Options{
		Threshold: cfg.Threshold, Filter: cfg.Search.Filter, PageSize: cfg.Search.PageSize,
		OutputDir: cfg.OutputDir, Concurrency: cfg.Scorer.Concurrency, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	writeResult(c.Stdout, asJSON, res)
	return nil
}
