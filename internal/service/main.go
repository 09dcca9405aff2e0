package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the whole life of a stage binary: read the configuration (flags
// in args override the environment), set up, serve probes and metrics, run
// the stage until SIGINT/SIGTERM, shut down gracefully. extra declares
// binary-specific flags. It returns the process exit code.
func Main(binary string, args []string, extra func(*flag.FlagSet), run func(ctx context.Context, env *Env) error) int {
	if version.IsFlag(args) {
		fmt.Println(binary, version.Get())
		return exitcode.OK
	}
	cfg, _, err := config.Load(binary, args, os.LookupEnv, extra)
	if errors.Is(err, flag.ErrHelp) {
		return exitcode.OK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binary, err)
		return exitcode.Usage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env, err := Setup(ctx, binary, cfg, Options{})
	if err != nil {
		if ctx.Err() != nil {
			return exitcode.OK
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", binary, err)
		return exitcode.Failed
	}
	defer env.Close()
	env.Log.Info("starting", "version", version.Get().String(), "config", Summary(cfg))

	// The probes and gauges stop with the stage, not before it.
	stopTelemetry := env.ServeTelemetry(ctx)
	err = run(ctx, env)
	stopTelemetry()
	if err != nil && !errors.Is(err, context.Canceled) {
		env.Log.Error("stopped on error", "err", err)
		return exitcode.Failed
	}
	env.Log.Info("stopped")
	return exitcode.OK
}
