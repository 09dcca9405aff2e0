package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/version"
)

// Exit codes of the binaries.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// Main is the whole life of a stage binary: read the configuration (flags
// in args override the environment), set up, serve probes and metrics, run
// the stage until SIGINT/SIGTERM, shut down gracefully. extra declares
// binary-specific flags. It returns the process exit code.
func Main(binary string, args []string, extra func(*flag.FlagSet), run func(ctx context.Context, env *Env) error) int {
	if version.IsFlag(args) {
		fmt.Println(binary, version.Get())
		return ExitOK
	}
	cfg, _, err := config.Load(binary, args, os.LookupEnv, extra)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binary, err)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := Setup(ctx, binary, cfg, Options{})
	if err != nil {
		if ctx.Err() != nil {
			return ExitOK
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", binary, err)
		return ExitFailed
	}
	defer env.Close()
	env.Log.Info("starting", "version", version.Get().String(), "config", Describe(cfg))

	// The probes and gauges stop with the stage, not before it: a draining
	// process still reports what it is doing.
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAux()
	go func() {
		if err := ServeHTTP(auxCtx, cfg.HTTPAddr, cfg.Pprof, env.Metrics.Registry, env.Health, env.Log); err != nil {
			env.Log.Error("metrics server failed", "err", err)
		}
	}()
	go env.PollQueues(auxCtx, 5*time.Second)

	err = run(ctx, env)
	stopAux()
	if err != nil && !errors.Is(err, context.Canceled) {
		env.Log.Error("stopped on error", "err", err)
		return ExitFailed
	}
	env.Log.Info("stopped")
	return ExitOK
}
