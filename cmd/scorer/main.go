// Command scorer consumes submission IDs from alharvest.sids, sums the
// result scores of each file of each submission, and publishes every file
// that reaches SCORE_THRESHOLD to alharvest.files. Run as many replicas as
// you like; they share the durable consumer "scorer".
package main

import (
	"context"
	"os"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/service"
)

func main() {
	os.Exit(service.Main(config.Scorer, os.Args[1:], nil, func(ctx context.Context, env *service.Env) error {
		w, err := env.Scorer(ctx, service.StageOptions{})
		if err != nil {
			return err
		}
		return w.Run(ctx)
	}))
}
