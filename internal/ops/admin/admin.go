// Package admin implements alharvest's operator subcommands — dlq (list,
// replay, delete, purge) and status, against a remote NATS (NATS_URL) or
// the one-command mode's data directory — and the container healthcheck.
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
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/pkg/messages"
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

// adminConfig parses the admin configuration (NATS, DATA_DIR, logging)
// plus the command's own flags, and reports whether NATS_URL was given.
func adminConfig(c *cli.Call, extra func(fs *flag.FlagSet)) (*config.Config, *slog.Logger, bool, error) {
	cfg, fs, err := config.Load(config.Admin, c.Args, os.LookupEnv, c.Flags(extra))
	if err := c.Parsed(fs, err); err != nil {
		return nil, nil, false, err
	}
	level := cfg.Log.Level
	if strings.EqualFold(level, "info") {
		// The embedded server's start-up is noise in an operator command.
		level = "warn"
	}
	log := logging.New(logging.Config{Level: level, Format: "text", Output: c.Stderr, Binary: "alharvest"})
	for _, w := range cfg.Warnings() { // a secret given as a flag
		log.Warn(w)
	}
	c.Secrets(cfg.NATS.Password.Reveal(), cfg.NATS.Token.Reveal())
	return cfg, log, cfg.Explicit("NATS_URL"), nil
}

// DLQCommand is `alharvest dlq`: the dead letters, listed, replayed or
// removed.
var DLQCommand = &cli.Command{
	Name:     "dlq",
	Synopsis: "inspect, retry or remove dead letters",
	Help: "Dead letters are the messages a stage gave up on, kept in ALHARVEST_DLQ with the reason.\n" +
		"Against a running pipeline set NATS_URL; otherwise the commands read DATA_DIR.",
	Commands: []*cli.Command{
		{Name: "list", Synopsis: "print dead letters (--json: one JSON object per line, whole payload)",
			Help: "Prints the selected dead letters as a table, or with --json as JSON lines: one object\n" +
				"per letter, with the whole payload as text (\"payload_encoding\": \"text\") or, when it is\n" +
				"not UTF-8 or holds control characters, in base64 (\"payload_encoding\": \"base64\").",
			Run: func(c *cli.Call) error { return runDLQ(c, "list") }},
		{Name: "replay", Synopsis: "publish letters back to their subject and remove them (--keep to keep)",
			Help: "Publishes each selected letter's payload back to its original subject and removes it\n" +
				"from the DLQ. Select with --seq, --stage or --all.",
			Run: func(c *cli.Call) error { return runDLQ(c, "replay") }},
		{Name: "delete", Synopsis: "remove the letters named by --seq",
			Help: "Removes the dead letters with these sequence numbers (see dlq list) for good.",
			Run:  func(c *cli.Call) error { return runDLQ(c, "delete") }},
		{Name: "purge", Synopsis: "remove every dead letter (or one --stage's); needs --yes",
			Help: "Removes every dead letter, or only those of --stage, for good. Asks for --yes.",
			Run:  runPurge},
	},
}

// selection is the flags that pick dead letters.
type selection struct {
	stage, seqs string
}

func (s *selection) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.stage, "stage", "", "only dead letters of this stage ("+knownStages+")")
	fs.StringVar(&s.seqs, "seq", "", "only these DLQ sequence numbers, comma-separated")
}

func (s *selection) filter() (dlq.Filter, error) {
	f := dlq.Filter{Stage: s.stage}
	for _, v := range strings.Split(s.seqs, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return f, exitcode.Use(fmt.Errorf("--seq %q: not a sequence number", v))
		}
		f.Seqs = append(f.Seqs, n)
	}
	return f, nil
}

func runDLQ(c *cli.Call, verb string) error {
	var (
		sel    selection
		asJSON bool
		limit  int
		keep   bool
		all    bool
	)
	cfg, log, explicit, err := adminConfig(c, func(fs *flag.FlagSet) {
		sel.flags(fs)
		switch verb {
		case "list":
			fs.BoolVar(&asJSON, "json", false, "print JSON lines: one object per letter, with the whole payload")
			fs.IntVar(&limit, "limit", 0, "print at most this many (0 = all)")
		case "replay":
			fs.BoolVar(&keep, "keep", false, "keep the letters in the DLQ after replaying them")
			fs.BoolVar(&all, "all", false, "replay every selected letter (required when neither --stage nor --seq is given)")
		}
	})
	if err != nil {
		return err
	}
	f, err := sel.filter()
	if err != nil {
		return err
	}
	f.Limit = limit
	switch {
	case verb == "replay" && sel.stage == "" && len(f.Seqs) == 0 && !all:
		return exitcode.Use(errors.New("say which letters: --stage, --seq, or --all"))
	case verb == "delete" && len(f.Seqs) == 0:
		return exitcode.Use(errors.New("say which letters: --seq N[,N...] (dlq purge removes them all)"))
	}

	conn, err := Open(c.Ctx, cfg, explicit, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	letters, err := dlq.List(c.Ctx, conn.JS, f)
	if err != nil {
		return err
	}
	if isOther(sel.stage) && len(letters) == 0 {
		return unknownStage(sel.stage)
	}
	if missing := dlq.Missing(f, letters); len(missing) > 0 {
		return fmt.Errorf("no dead letter with sequence %s%s (see alharvest dlq list)", joinSeqs(missing), stageNote(sel.stage))
	}
	switch verb {
	case "list":
		printLetters(c.Stdout, letters, asJSON)
		return nil
	case "delete":
		n, err := dlq.Delete(c.Ctx, conn.JS, letters)
		fmt.Fprintf(c.Stdout, "deleted %d of %d dead letters\n", n, len(letters))
		return err
	}
	n, err := dlq.Replay(c.Ctx, conn.JS, letters, dlq.ReplayOptions{Keep: keep})
	fmt.Fprintf(c.Stdout, "replayed %d of %d dead letters\n", n, len(letters))
	return err
}

// stages are the names alharvest dead-letters under.
var stages = []string{messages.StageSearcher, messages.StageScorer, messages.StageDownloader, messages.StageFeed}

// knownStages lists them for help and errors.
var knownStages = strings.Join(stages, ", ")

// unknownStage refuses a --stage that names nothing: not one of
// alharvest's stages and no letter under it (another system's own name is
// fine while it has letters). A typo would otherwise select nothing and
// succeed.
func unknownStage(stage string) error {
	return exitcode.Use(fmt.Errorf("--stage %q: no such stage (%s) and no dead letter under that name", stage, knownStages))
}

// isOther says whether --stage names something beyond alharvest's stages,
// which must then have letters to be taken for a name and not a typo.
func isOther(stage string) bool { return stage != "" && !slices.Contains(stages, stage) }

func stageNote(stage string) string {
	if stage == "" {
		return ""
	}
	return " of stage " + stage
}

func joinSeqs(seqs []uint64) string {
	s := make([]string, len(seqs))
	for i, n := range seqs {
		s[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(s, ", ")
}

// runPurge is `alharvest dlq purge --yes [--stage S]`.
func runPurge(c *cli.Call) error {
	var (
		stage string
		yes   bool
	)
	cfg, log, explicit, err := adminConfig(c, func(fs *flag.FlagSet) {
		fs.StringVar(&stage, "stage", "", "only the dead letters of this stage ("+knownStages+")")
		fs.BoolVar(&yes, "yes", false, "yes, remove them: they cannot be brought back")
	})
	if err != nil {
		return err
	}
	if !yes {
		return exitcode.Use(errors.New("this removes dead letters for good: add --yes (dlq list shows them first)"))
	}
	conn, err := Open(c.Ctx, cfg, explicit, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	if isOther(stage) {
		some, err := dlq.List(c.Ctx, conn.JS, dlq.Filter{Stage: stage, Limit: 1})
		if err != nil {
			return err
		}
		if len(some) == 0 {
			return unknownStage(stage)
		}
	}
	n, err := dlq.Purge(c.Ctx, conn.JS, stage)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Stdout, "purged %d dead letters%s\n", n, stageNote(stage))
	return nil
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
