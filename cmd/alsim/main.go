// Command alsim simulates the parts of the Assemblyline 4 REST API that
// alharvest uses (search, submission/full, file/download), over a
// deterministic synthetic corpus, with latency, quotas and fault injection.
//
//	alsim [serve] [-addr 127.0.0.1:8980] [flags]   serve until SIGINT/SIGTERM
//	alsim expected [-threshold N] [flags]          print the sha256s alharvest must collect
//	alsim uncollectable [-threshold N] [flags]     print the qualifying files that can never be downloaded
//
// Every flag can also come from an ALSIM_* environment variable (shown in
// -h); flags win over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alharvest/alharvest/internal/alsim"
	"github.com/alharvest/alharvest/internal/version"
)

func main() {
	if version.IsFlag(os.Args[1:]) {
		fmt.Println("alsim", version.Get())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd != "serve" && cmd != "expected" && cmd != "uncollectable" {
		fmt.Fprintf(stderr, "alsim: unknown command %q (want serve, expected or uncollectable)\n", cmd)
		return 2
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
	config := alsim.BindFlags(fs)
	addr := fs.String("addr", "127.0.0.1:8980", "listen address (serve) [$"+alsim.EnvName("addr")+"]")
	threshold := fs.Int64("threshold", 0, "score threshold (expected, uncollectable; default: the design threshold) [$"+alsim.EnvName("threshold")+"]")
	if err := alsim.ApplyEnv(fs, lookup); err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg := config()

	if cmd != "serve" {
		s, err := alsim.New(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "alsim:", err)
			return 2
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
		return 0
	}

	s, url, wait, err := alsim.Serve(ctx, *addr, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return 1
	}
	eff := s.Config()
	fmt.Fprintf(stdout, "alsim serving %d submissions (%d files) on %s\n", s.Corpus().Len(), s.Corpus().NumFiles(), url)
	fmt.Fprintf(stdout, "export AL_URL=%s\nexport AL_USER=%s\nexport AL_APIKEY=%s\n", url, eff.User, eff.APIKey)
	fmt.Fprintf(stdout, "# expected set: curl -s '%s/_alsim/expected?threshold=%d'\n", url, eff.DesignThreshold)
	if err := wait(); err != nil {
		fmt.Fprintln(stderr, "alsim:", err)
		return 1
	}
	return 0
}
