package feed

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Options are `alharvest feed`'s own flags.
type Options struct {
	Durable     string
	Jobs        int
	Timeout     time.Duration
	MaxAttempts int
	From        string // new or all
	AckWait     time.Duration
	RetryMin    time.Duration
	RetryMax    time.Duration
	// Argv is the program after "--".
	Argv []string
}

// register declares the flags on fs.
func (o *Options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.Durable, "durable", messages.ConsumerFeed, "name of this feed's durable consumer: feeds with different names each get every file, replicas of one feed share them")
	fs.IntVar(&o.Jobs, "jobs", 1, "programs run at once by this process")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "longest run of the program on one file; then its process group is killed and the file retried (0 = no limit)")
	fs.IntVar(&o.MaxAttempts, "max-attempts", 5, "runs of the program on one file before the file's event is dead-lettered")
	fs.StringVar(&o.From, "from", "new", "where a new feed starts: new (files collected from now on) or all (every collected event still in the stream, 30 days by default); an existing feed goes on from where it stopped")
	fs.DurationVar(&o.AckWait, "ack-wait", 30*time.Second, "how long a file whose feed stopped answering waits before another replica gets it")
	fs.DurationVar(&o.RetryMin, "retry-min", 5*time.Second, "first delay before running the program again on a file it failed (doubles each attempt)")
	fs.DurationVar(&o.RetryMax, "retry-max", 5*time.Minute, "longest delay between runs on a failing file")
}

func (o *Options) check() error {
	switch {
	case len(o.Argv) == 0 || o.Argv[0] == "":
		return errors.New("no program: alharvest feed [flags] -- CMD [ARG...]")
	case o.Jobs < 1:
		return errors.New("--jobs must be at least 1")
	case o.MaxAttempts < 1:
		return errors.New("--max-attempts must be at least 1")
	case o.Timeout < 0:
		return errors.New("--timeout must not be negative")
	case o.From != "new" && o.From != "all":
		return fmt.Errorf("--from %q: want new or all", o.From)
	case o.AckWait < time.Second:
		return errors.New("--ack-wait must be at least 1s")
	case o.RetryMin <= 0 || o.RetryMax < o.RetryMin:
		return errors.New("--retry-min must be positive and at most --retry-max")
	}
	return messages.ValidateDurable(o.Durable)
}

// Command is `alharvest feed`: it runs until SIGTERM or interrupt and
// exits 0 after a clean shutdown, 1 when it could not run, 2 for bad usage.
var Command = &cli.Command{
	Name:     "feed",
	Args:     "-- CMD [ARG...]",
	MinArgs:  1,
	MaxArgs:  -1,
	Synopsis: "hand each collected file to a program, durably (at least once)",
	Help: "Runs CMD ARG... <path> once per collected file, durably: the collected event\n" +
		"as JSON on its stdin, ALHARVEST_SHA256, ALHARVEST_PATH, ALHARVEST_SID,\n" +
		"ALHARVEST_SCORE (and the other fields the event sets) in its environment.\n" +
		"Exit 0 acknowledges the file; anything else retries it with backoff, and\n" +
		"after --max-attempts dead-letters it (alharvest dlq list --stage feed).\n" +
		"A file is handed at least once: after a crash, the one in progress is\n" +
		"handed again. See docs/feed.md.",
	Run: run,
}

func run(c *cli.Call) error {
	var o Options
	cfg, fs, err := config.Load(config.Feed, c.Args, os.LookupEnv, c.Flags(o.register))
	if err := c.Parsed(fs, err); err != nil {
		return err
	}
	c.Secrets(cfg.Secrets()...)
	o.Argv = c.Args
	if err := o.check(); err != nil {
		return exitcode.Use(err)
	}
	log := logging.New(logging.Config{Level: cfg.Log.Level, Format: cfg.Log.Format, Output: c.Stderr,
		Binary: "alharvest-feed", Secrets: cfg.Secrets()})
	if err := Run(c.Ctx, cfg, o, c.Stdout, c.Stderr, log); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Run runs a feed until ctx ends: it connects to NATS, binds the feed's
// consumer, serves metrics and probes on HTTP_ADDR, and hands each
// collected file to the program. Programs still running when ctx ends get
// SHUTDOWN_GRACE to finish; then their process groups are killed and
// their files handed back.
func Run(ctx context.Context, cfg *config.Config, o Options, stdout, stderr io.Writer, log *slog.Logger) error {
	if err := o.check(); err != nil {
		return err
	}
	m := metrics.New()
	obs := m.NewFeed(o.Durable)
	h, err := New(Config{
		Program:   Program{Argv: o.Argv, Timeout: o.Timeout},
		OutputDir: cfg.OutputDir,
		Durable:   o.Durable,
		Stdout:    stdout,
		Stderr:    stderr,
		Observer:  obs,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	nc, err := broker.Connect(ctx, broker.ConnConfigFrom(cfg.NATS, "alharvest-feed-"+o.Durable), log)
	if err != nil {
		return err
	}
	defer drain(nc)
	js, err := broker.JetStream(nc)
	if err != nil {
		return err
	}
	cc := ConsumerConfig{Durable: o.Durable, DeliverAll: o.From == "all", AckWait: o.AckWait}
	cons, err := Consumer(ctx, js, cc, log)
	if err != nil {
		return err
	}
	w := worker.New(js, cons, h, worker.Config{
		Stage:        messages.StageFeed,
		Concurrency:  o.Jobs,
		MaxAttempts:  o.MaxAttempts,
		RetryDelay:   worker.Backoff(o.RetryMin, o.RetryMax),
		AckWait:      o.AckWait,
		Grace:        cfg.Shutdown,
		Logger:       log,
		Observer:     m,
		SharedStream: true,
		Rebind: func(ctx context.Context) (jetstream.Consumer, error) {
			return Consumer(ctx, js, cc, log)
		},
	})
	stopHTTP, err := serve(cfg.HTTPAddr, m, &probe{nc: nc, cons: cons, w: w}, log)
	if err != nil {
		return err
	}
	defer stopHTTP()
	where := cfg.OutputDir
	if where == "" {
		where = "the path each event names"
	}
	log.Info("feeding", "durable", o.Durable, "from", o.From, "jobs", o.Jobs, "program", o.Argv[0], "files", where,
		"nats", broker.ConnConfigFrom(cfg.NATS, "").String())
	return w.Run(ctx)
}

// drain flushes acks and dead letters before the connection closes.
func drain(nc *nats.Conn) {
	done := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
}

// probe answers /readyz: connected to NATS, the consumer bound, the feed
// not halted (its directory of files unusable).
type probe struct {
	nc   *nats.Conn
	cons jetstream.Consumer
	w    *worker.Worker
}

func (p *probe) problems(ctx context.Context) []string {
	var out []string
	if !p.nc.IsConnected() {
		out = append(out, "not connected to NATS")
	} else {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := p.cons.Info(cctx)
		cancel()
		if err != nil {
			out = append(out, fmt.Sprintf("feed consumer not bound: %v", err))
		}
	}
	if r := p.w.HaltReason(); r != "" {
		out = append(out, "feed "+r)
	}
	return out
}

// serve serves /metrics, /healthz and /readyz on addr (empty: nothing) until
// the returned stop is called.
func serve(addr string, m *metrics.Metrics, p *probe, log *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		problems := p.problems(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": len(problems) == 0, "problems": problems})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Info("serving metrics and probes", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
