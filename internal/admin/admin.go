// Package admin implements alharvest's operator subcommands — dlq list,
// dlq replay and status, against a remote NATS (NATS_URL) or the
// one-command mode's data directory — and the container healthcheck.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
)

// Conn is an open JetStream connection for an admin command.
type Conn struct {
	JS    jetstream.JetStream
	Where string
	close func()
}

// Close releases the connection (and stops an embedded server).
func (c *Conn) Close() { c.close() }

// Open connects where the operator asked: NATS_URL (or --nats-url) when set
// explicitly, otherwise the data directory of the one-command mode. The
// data directory must not be in use by a running alharvest; point at its
// --listen address with NATS_URL instead.
func Open(ctx context.Context, cfg *config.Config, natsExplicit bool, log *slog.Logger) (*Conn, error) {
	if natsExplicit {
		cc := broker.ConnConfigFrom(cfg.NATS, "alharvest-admin")
		// An operator command should fail fast rather than wait for a server.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nc, err := broker.Connect(cctx, cc, log)
		cancel()
		if err != nil {
			return nil, err
		}
		js, err := broker.JetStream(nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		return &Conn{JS: js, Where: broker.Describe(nc, cc), close: nc.Close}, nil
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("no data directory at %s (set DATA_DIR, or NATS_URL for a remote server): %w", cfg.DataDir, err)
	}
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{DataDir: cfg.DataDir}, log)
	if err != nil {
		return nil, err
	}
	nc, err := broker.Connect(ctx, broker.ConnConfig{Name: "alharvest-admin", InProcess: emb.Server}, log)
	if err != nil {
		emb.Shutdown()
		return nil, err
	}
	js, err := broker.JetStream(nc)
	if err != nil {
		nc.Close()
		emb.Shutdown()
		return nil, err
	}
	return &Conn{JS: js, Where: "data directory " + cfg.DataDir, close: func() { nc.Close(); emb.Shutdown() }}, nil
}

// Command runs an admin subcommand (args after "alharvest") and returns
// the exit code.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: alharvest dlq list|replay [flags] | alharvest status [flags] | alharvest healthcheck [flags]")
		return exitcode.Usage
	}
	switch args[0] {
	case "dlq":
		if len(args) < 2 || (args[1] != "list" && args[1] != "replay") {
			fmt.Fprintln(stderr, "usage: alharvest dlq list|replay [flags]")
			return exitcode.Usage
		}
		return dlqCommand(ctx, args[1], args[2:], stdout, stderr)
	case "status":
		return statusCommand(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return healthcheckCommand(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "alharvest: unknown command %q\n", args[0])
	return exitcode.Usage
}

// common parses the admin configuration plus the command's own flags.
func common(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*config.Config, *slog.Logger, bool, int) {
	cfg, fs, err := config.Load(config.Admin, args, os.LookupEnv, extra)
	if fs != nil {
		fs.SetOutput(stderr)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "alharvest %s: %v\n", name, err)
		}
		return nil, nil, false, exitcode.FromFlags(err)
	}
	explicit := os.Getenv("NATS_URL") != ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "nats-url" {
			explicit = true
		}
	})
	log := logging.New(logging.Config{Level: cfg.Log.Level, Format: "text", Output: stderr, Binary: "alharvest"})
	if strings.EqualFold(cfg.Log.Level, "info") {
		// The embedded server's start-up is noise in an operator command.
		log = logging.New(logging.Config{Level: "warn", Format: "text", Output: stderr, Binary: "alharvest"})
	}
	for _, w := range cfg.Warnings() { // a secret given as a flag
		log.Warn(w)
	}
	return cfg, log, explicit, -1
}

func dlqCommand(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	var (
		asJSON bool
		stage  string
		seqs   string
		limit  int
		keep   bool
		all    bool
	)
	cfg, log, explicit, code := common("dlq "+verb, args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&stage, "stage", "", "only dead letters of this stage (scorer, downloader)")
		fs.StringVar(&seqs, "seq", "", "only these DLQ sequence numbers, comma-separated")
		if verb == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON lines")
			fs.IntVar(&limit, "limit", 0, "print at most this many (0 = all)")
		} else {
			fs.BoolVar(&keep, "keep", false, "keep the letters in the DLQ after replaying them")
			fs.BoolVar(&all, "all", false, "replay every selected letter (required when neither --stage nor --seq is given)")
		}
	})
	if code >= 0 {
		return code
	}
	f := dlq.Filter{Stage: stage, Limit: limit}
	for _, s := range strings.Split(seqs, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "alharvest dlq: --seq %q: not a sequence number\n", s)
			return exitcode.Usage
		}
		f.Seqs = append(f.Seqs, n)
	}
	if verb == "replay" && stage == "" && len(f.Seqs) == 0 && !all {
		fmt.Fprintln(stderr, "alharvest dlq replay: say which letters: --stage, --seq, or --all")
		return exitcode.Usage
	}

	conn, err := Open(ctx, cfg, explicit, log)
	if err != nil {
		fmt.Fprintf(stderr, "alharvest dlq: %v\n", err)
		return exitcode.Failed
	}
	defer conn.Close()
	letters, err := dlq.List(ctx, conn.JS, f)
	if err != nil {
		fmt.Fprintf(stderr, "alharvest dlq: %v\n", err)
		return exitcode.Failed
	}
	if verb == "list" {
		printLetters(stdout, letters, asJSON)
		return exitcode.OK
	}
	n, err := dlq.Replay(ctx, conn.JS, letters, dlq.ReplayOptions{Keep: keep})
	fmt.Fprintf(stdout, "replayed %d of %d dead letters\n", n, len(letters))
	if err != nil {
		fmt.Fprintf(stderr, "alharvest dlq replay: %v\n", err)
		return exitcode.Failed
	}
	return exitcode.OK
}

func printLetters(w io.Writer, letters []dlq.Letter, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, l := range letters {
			_ = enc.Encode(l)
		}
		return
	}
	if len(letters) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSTAGE\tSUBJECT\tDELIVERIES\tWHEN\tPAYLOAD\tREASON")
	for _, l := range letters {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", l.Seq, l.Stage, l.OriginalSubject, l.Deliveries,
			l.FailedAt.UTC().Format(time.RFC3339), oneLine(l.Payload, 80), oneLine(l.Reason, 200))
	}
	tw.Flush()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
