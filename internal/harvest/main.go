package harvest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/contract"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/ops/admin"
	"github.com/alharvest/alharvest/internal/pipeline/feed"
	"github.com/alharvest/alharvest/internal/version"
)

// Program is the alharvest command: its subcommands, in the order a new
// user needs them. A subcommand is one entry here (see internal/cli).
var Program = &cli.Command{
	Name:    "alharvest",
	Default: "run",
	Help: "Collects every file Assemblyline scored at or above SCORE_THRESHOLD into OUTPUT_DIR,\n" +
		"cART-encoded. Configuration comes from the environment (AL_URL, AL_USER, AL_APIKEY, ...)\n" +
		"or the flags of the same name. Exit status: 0 ok, 1 failure, 2 usage or configuration,\n" +
		"3 the run dead-lettered something.",
	Commands: []*cli.Command{
		runCommand,
		demoCommand,
		checkCommand,
		dryRunCommand,
		admin.StatusCommand,
		admin.DLQCommand,
		recollectCommand,
		feed.Command,
		contract.Command,
		admin.HealthcheckCommand,
		versionCommand,
	},
}

// Main is the alharvest command line (args without the program name); it
// returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(Program, args, stdout, stderr)
}

var runCommand = &cli.Command{
	Name:     "run",
	Synopsis: "sweep once, collect, report, exit (--follow: keep running)",
	Help: "Starts an embedded NATS JetStream (store in DATA_DIR) and the searcher, scorer and downloader\n" +
		"in this process, sweeps once, waits until every queue is drained, prints a report and exits:\n" +
		"0 everything collected, 3 something was dead-lettered, 1 failure, 2 bad configuration.\n" +
		"Each flag can also be set with the environment variable in brackets.",
	Run: func(c *cli.Call) error { return runMain(c, false) },
}

var dryRunCommand = &cli.Command{
	Name:     "dry-run",
	Synopsis: "sweep and score only: what a run would collect; writes nothing (also run --dry-run)",
	Help: "Sweeps and scores like a run and lists each qualifying sha256 with its score, its SIDs and\n" +
		"whether OUTPUT_DIR already holds it. Downloads and writes nothing.",
	Run: func(c *cli.Call) error { return runMain(c, true) },
}

// runMain is `alharvest [run]` and `alharvest dry-run`.
func runMain(c *cli.Call, dryRun bool) error {
	var (
		follow, asJSON, noProgress bool
		listen                     string
	)
	cfg, fs, err := config.Load(config.Alharvest, c.Args, nil, c.Flags(func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		if !dryRun {
			fs.BoolVar(&follow, "follow", false, "keep running as a service: sweep every SEARCH_INTERVAL until interrupted")
			fs.StringVar(&listen, "listen", "", "also serve NATS on this address (e.g. 127.0.0.1:4222) so other processes can publish SIDs")
			fs.BoolVar(&noProgress, "no-progress", false, "no live status line on a terminal")
			fs.BoolVar(&dryRun, "dry-run", false, "the same as the dry-run command")
		}
	}))
	if err := c.Parsed(fs, err); err != nil {
		return err
	}
	c.Secrets(cfg.Secrets()...)

	terminal := cli.IsTerminal(c.Stderr)
	var logOut io.Writer = c.Stderr
	var prog io.Writer
	level, format := cfg.Log.Level, cfg.Log.Format
	if terminal {
		if format == "auto" {
			format = "text"
		}
		// On a terminal the status line tells the story; a line per file
		// would bury it. An explicit LOG_LEVEL still wins.
		if !cfg.Explicit("LOG_LEVEL") {
			level = "warn"
		}
		if !noProgress && !dryRun {
			logOut = LogWriter(c.Stderr)
			prog = c.Stderr
		}
	}
	log := logging.New(logging.Config{Level: level, Format: format, Output: logOut,
		Binary: config.Alharvest, Secrets: cfg.Secrets()})

	// A server that cannot be found or refuses the connection will not
	// answer the seventh retry either: say so now, before any report.
	if err := Reachable(c.Ctx, cfg.AL.BaseURL); err != nil {
		if !follow {
			return err
		}
		// A service starts anyway and retries; say it now all the same.
		log.Warn(err.Error())
	}
	if dryRun {
		return dryRunMain(c, cfg, asJSON, log)
	}
	rep, err := Run(c.Ctx, Options{Config: cfg, Follow: follow, Listen: listen, Logger: log,
		Progress: prog, ProgressWidth: func() int { return cli.Width(c.Stderr) }})
	if rep != nil {
		writeResult(c.Stdout, asJSON, rep)
	}
	switch {
	case err != nil && !(follow && errors.Is(err, context.Canceled)):
		return err
	case rep != nil && rep.DeadLettered > 0:
		return exitcode.With(exitcode.DeadLettered, nil)
	}
	return nil
}

var versionCommand = &cli.Command{
	Name:     "version",
	Synopsis: "version, VCS revision and Go version (--json); also --version",
	Run: func(c *cli.Call) error {
		fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "print the build information as JSON")
		if err := c.Parse(fs); err != nil {
			return err
		}
		info := version.Get()
		if *asJSON {
			writeJSON(c.Stdout, info)
			return nil
		}
		fmt.Fprintln(c.Stdout, "alharvest", info)
		return nil
	},
}
