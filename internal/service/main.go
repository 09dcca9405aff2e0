package service

import (
	"context"
	"errors"
	"flag"
	"io"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the whole life of a stage binary (config.Searcher, Scorer or
// Downloader): read the configuration (flags in args override the
// environment), set up, serve probes and metrics, run the stage until
// SIGINT/SIGTERM, shut down gracefully. It returns the exit status.
func Main(binary string, args []string, stdout, stderr io.Writer) int {
	return cli.Main(Command(binary), args, stdout, stderr)
}

// stage is what differs between the stage binaries: their page, their own
// flags and the stage they run.
type stage struct {
	help string
	// flags declares the binary's own flags; what they set is in opts.
	flags func(fs *flag.FlagSet, o *stageFlags)
	run   func(ctx context.Context, env *Env, o *stageFlags) error
}

// stageFlags holds the values of the stages' own flags.
type stageFlags struct {
	once bool
}

var stages = map[string]stage{
	config.Searcher: {
		help: "Deep-pages Assemblyline's submission search for max_score >= SCORE_THRESHOLD and publishes\n" +
			"each SID to alharvest.sids, every SEARCH_INTERVAL from its watermark; with --once it sweeps\n" +
			"once and exits 0. With WEBHOOK_ADDR it also receives Assemblyline's completion pushes.\n" +
			"Run one: a second searcher only repeats the same sweeps.",
		flags: func(fs *flag.FlagSet, o *stageFlags) {
			fs.BoolVar(&o.once, "once", false, "sweep once, then exit (0 on success)")
		},
		run: runSearcher,
	},
	config.Scorer: {
		help: "Consumes submission IDs from alharvest.sids, sums the result scores of each file of each\n" +
			"submission, and publishes every file that reaches SCORE_THRESHOLD to alharvest.files.\n" +
			"Replicas share the work and the Assemblyline user's quota (more replicas than the quota\n" +
			"only wait for a call slot).",
		run: func(ctx context.Context, env *Env, _ *stageFlags) error {
			w, err := env.Scorer(ctx, StageOptions{})
			if err != nil {
				return err
			}
			return w.Run(ctx)
		},
	},
	config.Downloader: {
		help: "Consumes qualifying files from alharvest.files, writes each as a verified\n" +
			"OUTPUT_DIR/<sha256>.cart, and announces it on alharvest.collected.\n" +
			"Replicas writing to the same OUTPUT_DIR share the work and the Assemblyline user's quota\n" +
			"(more replicas than the quota only wait for a call slot).",
		run: func(ctx context.Context, env *Env, _ *stageFlags) error {
			w, err := env.Downloader(ctx, StageOptions{})
			if err != nil {
				return err
			}
			return w.Run(ctx)
		},
	},
}

// runSearcher is the searcher service (sweeps, and the webhook receiver
// when configured) or, with --once, one sweep.
func runSearcher(ctx context.Context, env *Env, o *stageFlags) error {
	s, err := env.Searcher(ctx)
	if err != nil {
		return err
	}
	if !o.once {
		serveWebhook, err := env.Webhook(ctx)
		if err != nil {
			return err
		}
		if serveWebhook == nil {
			return s.Run(ctx)
		}
		return RunAll(ctx, s.Run, serveWebhook)
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
}

// Command is the command line of the stage binary named binary.
func Command(binary string) *cli.Command {
	st, ok := stages[binary]
	if !ok {
		panic("service: no stage binary " + binary)
	}
	return &cli.Command{
		Name: binary,
		Help: st.help + "\nEach flag can also be set with the environment variable in brackets.",
		Run:  func(c *cli.Call) error { return runStage(c, binary, st) },
	}
}

func runStage(c *cli.Call, binary string, st stage) error {
	var o stageFlags
	cfg, fs, err := config.Load(binary, c.Args, nil, c.Flags(func(fs *flag.FlagSet) {
		if st.flags != nil {
			st.flags(fs, &o)
		}
	}))
	if err := c.Parsed(fs, err); err != nil {
		return err
	}
	c.Secrets(cfg.Secrets()...)
	ctx := c.Ctx

	env, err := Setup(ctx, binary, cfg, Options{})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer env.Close()
	env.Log.Info("starting", "version", version.Get().String(), "config", Summary(cfg))

	// The probes and gauges stop with the stage, not before it.
	stopTelemetry := env.ServeTelemetry(ctx)
	err = st.run(ctx, env, &o)
	stopTelemetry()
	if err != nil && !errors.Is(err, context.Canceled) {
		env.Log.Error("stopped on error", "err", err)
		return exitcode.With(exitcode.Failed, nil) // said in the log
	}
	env.Log.Info("stopped")
	return nil
}
