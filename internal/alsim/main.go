package alsim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/version"
)

// Main is the alsim command (see cmd/alsim): serve until SIGINT/SIGTERM, or
// print the expected or uncollectable set. Flags in args override ALSIM_*
// environment variables. It returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if version.IsFlag(args) {
		fmt.Fprintln(stdout, "alsim", version.Get())
		return exitcode.OK
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

// run is Main with its context and environment given, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd != "serve" && cmd != "expected" && cmd != "uncollectable" {
		fmt.Fprintf(stderr, "alsim: unknown command %q (want serve, expected or uncollectable)\n", cmd)
		return exitcode.Usage
	}
	fs := flag.NewFlagSet("alsim "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: alsim [serve|expected|uncollectable] [flags]\n\n"+
			"serve (default) runs the simulated Assemblyline API; expected and uncollectable\n"+
			"print, one sha256 per line, what a correct alharvest collects / dead-letters.\n"+
			"Every flag may also be set through the environment variable shown.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	config := BindFlags(fs)
	hook := BindWebhookFlags(fs)
	addr := fs.String("addr", "127.0.0.1:8980", "listen address (serve) [$"+EnvName("addr")+"]")
	threshold := fs.Int64("threshold", 0, "score threshold (expected, uncollectable; default: the design threshold) [$"+EnvName("threshold")+"]")
	if err := ApplyEnv(fs, lookup); err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return exitcode.Usage
	}
	if err := fs.Parse(args); err != nil {
		return exitcode.FromFlags(err)
	}
	cfg := config()

	if cmd != "serve" {
		s, err := New(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "alsim:", err)
			return exitcode.Usage
		}
		t := *threshold
		if t == 0 {
			t = s.Config().DesignThreshold
		}
		list := s.Expected(t)
		if cmd == "uncollectable" {
			list = s.Uncollectable(t)
		}
		for _, h := range list {
			fmt.Fprintln(stdout, h)
		}
		return exitcode.OK
	}

	if err := hook.Validate(); err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return exitcode.Usage
	}
	s, url, wait, err := Serve(ctx, *addr, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return exitcode.Failed
	}
	eff := s.Config()
	fmt.Fprintf(stdout, "alsim serving %d submissions (%d files) on %s\n", s.Corpus().Len(), s.Corpus().NumFiles(), url)
	fmt.Fprintf(stdout, "export AL_URL=%s\nexport AL_USER=%s\nexport AL_APIKEY=%s\n", url, eff.User, eff.APIKey)
	fmt.Fprintf(stdout, "# expected set: curl -s '%s/_alsim/expected?threshold=%d'\n", url, eff.DesignThreshold)
	if hook.URL != "" {
		p, err := s.NewPusher(*hook, slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			fmt.Fprintln(stderr, "alsim:", err)
			return exitcode.Usage
		}
		fmt.Fprintf(stdout, "# pushing completions to %s (min score %d, drop %v)\n", hook.URL, hook.MinScore, hook.Drop)
		go p.Run(ctx)
	}
	if err := wait(); err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return exitcode.Failed
	}
	return exitcode.OK
}
