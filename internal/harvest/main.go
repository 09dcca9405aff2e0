package harvest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/alharvest/alharvest/internal/admin"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/contract"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/feed"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/service"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the alharvest command: the one-command run, or an admin
// subcommand (dlq, status). It returns the exit code.
func Main(args []string, stdout io.Writer, stderr *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 && (args[0] == "dlq" || args[0] == "status" || args[0] == "healthcheck") {
		return admin.Command(ctx, args, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "feed" {
		return feed.Command(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "contract" {
		return contract.Command(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "demo" {
		return demoCommand(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "recollect" {
		return recollectCommand(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "check" {
		return checkCommand(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "version" {
		return versionCommand(args[1:], stdout, stderr)
	}
	if version.IsFlag(args) {
		fmt.Fprintln(stdout, "alharvest", version.Get())
		return exitcode.OK
	}

	var (
		follow, asJSON, noProgress, dryRun bool
		listen                             string
	)
	cfg, _, code, ok := loadConfig("alharvest", config.Alharvest, args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&follow, "follow", false, "keep running as a service: sweep every SEARCH_INTERVAL until interrupted")
		fs.StringVar(&listen, "listen", "", "also serve NATS on this address (e.g. 127.0.0.1:4222) so other processes can publish SIDs")
		fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		fs.BoolVar(&noProgress, "no-progress", false, "no live status line on a terminal")
		fs.BoolVar(&dryRun, "dry-run", false, "sweep and score only: list each qualifying sha256 with its score, SIDs and whether it is present; download and write nothing")
		fs.Usage = func() { usage(fs) }
	})
	if !ok {
		return code
	}

	terminal := term.IsTerminal(int(stderr.Fd()))
	var logOut io.Writer = stderr
	var prog io.Writer
	width := func() int {
		w, _, err := term.GetSize(int(stderr.Fd()))
		if err != nil {
			return 0
		}
		return w
	}
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
		if !noProgress {
			logOut = LogWriter(stderr)
			prog = stderr
		}
	}
	log := logging.New(logging.Config{Level: level, Format: format, Output: logOut,
		Binary: config.Alharvest, Secrets: service.Secrets(cfg)})

	if dryRun {
		return dryRunCommand(ctx, cfg, asJSON, log, stdout, stderr)
	}
	rep, err := Run(ctx, Options{Config: cfg, Follow: follow, Listen: listen, Logger: log, Progress: prog, ProgressWidth: width})
	if rep != nil {
		writeResult(stdout, asJSON, rep)
	}
	switch {
	case err != nil && !(follow && errors.Is(err, context.Canceled)):
		fmt.Fprintf(stderr, "alharvest: %v\n", logging.Scrub(err.Error(), service.Secrets(cfg)...))
		return exitcode.Failed
	case rep != nil && rep.DeadLettered > 0:
		return exitcode.DeadLettered
	}
	return exitcode.OK
}
