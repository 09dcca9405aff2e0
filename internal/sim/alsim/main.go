package alsim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/exitcode"
)

// Main is the alsim command (see cmd/alsim): serve until SIGINT/SIGTERM, or
// print the expected or uncollectable set. Flags in args override ALSIM_*
// environment variables. It returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return cli.Main(program(os.LookupEnv), args, stdout, stderr)
}

// run is Main with its context and environment given, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	return cli.Run(ctx, program(lookup), args, stdout, stderr)
}

// program is alsim's command table, reading the environment with lookup.
func program(lookup func(string) (string, bool)) *cli.Command {
	list := func(uncollectable bool) func(c *cli.Call) error {
		return func(c *cli.Call) error { return runList(c, lookup, uncollectable) }
	}
	return &cli.Command{
		Name:    "alsim",
		Default: "serve",
		Help: "A simulated Assemblyline 4 REST API over a deterministic synthetic corpus, with latency,\n" +
			"quotas and fault injection. Every flag may also be set through the ALSIM_* variable shown\n" +
			"in a command's -h; flags win over the environment.",
		Commands: []*cli.Command{
			{Name: "serve", Synopsis: "serve the simulated API until SIGINT/SIGTERM",
				Run: func(c *cli.Call) error { return runServe(c, lookup) }},
			{Name: "expected", Synopsis: "print, one sha256 per line, what a correct alharvest collects",
				Run: list(false)},
			{Name: "uncollectable", Synopsis: "print the qualifying files that can never be downloaded",
				Run: list(true)},
		},
	}
}

// flags declares every setting on fs, with the environment applied.
type flags struct {
	config    func() Config
	hook      *WebhookConfig
	addr      *string
	threshold *int64
}

func parse(c *cli.Call, lookup func(string) (string, bool)) (*flags, error) {
	fs := flag.NewFlagSet(c.Path, flag.ContinueOnError)
	f := &flags{config: BindFlags(fs), hook: BindWebhookFlags(fs)}
	f.addr = fs.String("addr", "127.0.0.1:8980", "listen address (serve) [$"+EnvName("addr")+"]")
	f.threshold = fs.Int64("threshold", 0, "score threshold (expected, uncollectable; default: the design threshold) [$"+EnvName("threshold")+"]")
	if err := ApplyEnv(fs, lookup); err != nil {
		return nil, exitcode.Use(err)
	}
	if err := c.Parse(fs); err != nil {
		return nil, err
	}
	return f, nil
}

func runList(c *cli.Call, lookup func(string) (string, bool), uncollectable bool) error {
	f, err := parse(c, lookup)
	if err != nil {
		return err
	}
	s, err := New(f.config())
	if err != nil {
		return exitcode.Use(err)
	}
	t := *f.threshold
	if t == 0 {
		t = s.Config().DesignThreshold
	}
	list := s.Expected(t)
	if uncollectable {
		list = s.Uncollectable(t)
	}
	for _, h := range list {
		fmt.Fprintln(c.Stdout, h)
	}
	return nil
}

func runServe(c *cli.Call, lookup func(string) (string, bool)) error {
	f, err := parse(c, lookup)
	if err != nil {
		return err
	}
	if err := f.hook.Validate(); err != nil {
		return exitcode.Use(err)
	}
	stdout := c.Stdout
	s, url, wait, err := Serve(c.Ctx, *f.addr, f.config())
	if err != nil {
		return err
	}
	eff := s.Config()
	fmt.Fprintf(stdout, "alsim serving %d submissions (%d files) on %s\n", s.Corpus().Len(), s.Corpus().NumFiles(), url)
	fmt.Fprintf(stdout, "export AL_URL=%s\nexport AL_USER=%s\nexport AL_APIKEY=%s\n", url, eff.User, eff.APIKey)
	fmt.Fprintf(stdout, "# expected set: curl -s '%s/_alsim/expected?threshold=%d'\n", url, eff.DesignThreshold)
	if f.hook.URL != "" {
		p, err := s.NewPusher(*f.hook, slog.New(slog.NewTextHandler(c.Stderr, nil)))
		if err != nil {
			return exitcode.Use(err)
		}
		fmt.Fprintf(stdout, "# pushing completions to %s (min score %d, drop %v)\n", f.hook.URL, f.hook.MinScore, f.hook.Drop)
		go p.Run(c.Ctx)
	}
	return wait()
}
