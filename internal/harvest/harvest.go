// Package harvest is the one-command run: an embedded NATS JetStream server
// and all three stages in one process. It sweeps once, waits until every
// work queue is drained, and reports what happened; with Follow it keeps
// sweeping and serving until stopped.
package harvest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/service"
	"github.com/alharvest/alharvest/internal/version"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Options configure a run.
type Options struct {
	Config *config.Config
	// Follow keeps running as a service: sweep every SEARCH_INTERVAL until
	// ctx ends.
	Follow bool
	// Listen, when set, also serves NATS on this TCP address so other
	// processes can publish SIDs or run `alharvest status`.
	Listen string
	// Logger receives the run's logs.
	Logger *slog.Logger
	// Progress, when set, receives a live status line (a terminal).
	Progress io.Writer
	// ProgressWidth reports the terminal's width in columns; 0 (or a nil
	// func) means unknown, and the status becomes plain periodic lines.
	ProgressWidth func() int
	// PollEvery is how often drain and progress are checked (default 50 ms).
	PollEvery time.Duration
}

// Run performs a one-command run and returns its report. The error is
// non-nil when the run could not complete (bad credentials, NATS store
// unusable, interrupted); dead letters alone are reported, not errors.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	cfg := o.Config
	if o.PollEvery <= 0 {
		o.PollEvery = 50 * time.Millisecond
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}

	embCfg := broker.EmbeddedConfig{DataDir: cfg.DataDir, Listen: o.Listen, SyncInterval: cfg.DataSync,
		User: cfg.NATS.User, Password: cfg.NATS.Password.Reveal(), Token: cfg.NATS.Token.Reveal()}
	if err := broker.CheckListen(embCfg); err != nil {
		return nil, err
	}
	if o.Listen != "" {
		// Lay out the streams before the port opens: a plain NATS publish
		// that arrives before its stream exists is silently dropped.
		if err := prime(ctx, cfg.DataDir, log); err != nil {
			return nil, err
		}
	}
	emb, err := broker.StartEmbedded(embCfg, log)
	if err != nil {
		return nil, err
	}
	defer emb.Shutdown()
	if url := emb.ClientURL(); url != "" {
		level := slog.LevelInfo
		if _, port, _ := net.SplitHostPort(o.Listen); port == "0" {
			// The system chose the port: say which even where info lines
			// are hidden (on a terminal), or nobody could connect.
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "NATS listening; other processes can publish SIDs here", "url", url)
	}

	env, err := service.Setup(ctx, config.Alharvest, cfg, service.Options{InProcess: emb.Server, Logger: log})
	if err != nil {
		return nil, err
	}
	defer env.Close()
	// The NATS settings describe a server this run does not use.
	where := "embedded, store " + cfg.DataDir
	if url := emb.ClientURL(); url != "" {
		where += ", listening on " + url + " (auth none)"
	}
	log.Info("starting", "version", version.Get().String(),
		"config", fmt.Sprintf("al=%s user=%s nats=%s threshold=%d", cfg.AL.BaseURL, cfg.AL.User, where, cfg.Threshold))

	dlqStart, err := lastSeq(ctx, env.JS, messages.StreamDLQ)
	if err != nil {
		return nil, err
	}

	// In a one-shot run, credentials Assemblyline refuses end the run at
	// once; a service waits for them to be fixed.
	stage := service.StageOptions{FailFast: !o.Follow}
	sc, err := env.Scorer(ctx, stage)
	if err != nil {
		return nil, err
	}
	dl, err := env.Downloader(ctx, stage)
	if err != nil {
		return nil, err
	}
	srch, err := env.Searcher(ctx)
	if err != nil {
		return nil, err
	}
	var serveWebhook func(context.Context) error
	if o.Follow {
		if serveWebhook, err = env.Webhook(ctx); err != nil {
			return nil, err
		}
	} else if cfg.Webhook.Addr != "" {
		log.Warn("WEBHOOK_ADDR is ignored without --follow: a one-shot run ends after its sweep")
	}

	// Workers stop when the run is over (drained) or interrupted.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	defer env.ServeTelemetry(ctx)()

	workerErr := make(chan error, 2)
	for _, w := range []*worker.Worker{sc, dl} {
		go func() { workerErr <- w.Run(runCtx) }()
	}

	rep := &Report{DataDir: cfg.DataDir, OutputDir: absOr(cfg.OutputDir)}
	prog := newProgress(o.Progress, o.ProgressWidth, start)
	defer prog.clear()

	var runErr error
	if serveWebhook != nil {
		go func() {
			if err := serveWebhook(runCtx); err != nil {
				log.Error("webhook receiver failed", "err", err)
			}
		}()
	}
	if o.Follow {
		runErr = runFollow(runCtx, srch, workerErr, env, prog, o.PollEvery, rep)
	} else {
		runErr = runOnce(runCtx, srch, workerErr, env, prog, o.PollEvery, rep)
	}
	stopRun()
	// Collect the workers' exits (graceful shutdown hands back in-flight work).
	for range 2 {
		if err := <-workerErr; err != nil && runErr == nil {
			runErr = err
		}
	}
	prog.clear()

	rep.fill(env.Metrics.Snapshot(), time.Since(start))
	if dls, err := readDLQ(context.WithoutCancel(ctx), env.JS, dlqStart); err == nil {
		rep.DeadLetters = dls
		// Letters a stage wrote are in both; the list may also hold
		// letters written by another process sharing the server.
		rep.DeadLettered = max(rep.DeadLettered, int64(len(dls)))
	} else {
		log.Warn("cannot read dead letters for the report", "err", err)
	}
	if ctx.Err() != nil && runErr == nil {
		runErr = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return rep, runErr
}

func runOnce(ctx context.Context, srch *searcher.Searcher, workerErr chan error, env *service.Env, prog *progress, every time.Duration, rep *Report) error {
	type sweepEnd struct {
		res searcher.SweepResult
		err error
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan sweepEnd, 1)
	go func() {
		res, err := srch.Sweep(sweepCtx)
		sweepDone <- sweepEnd{res, err}
	}()
	swept := false
	// The report reads rep.Sweep after we return: the sweep must be over.
	defer func() {
		stopSweep()
		if !swept {
			rep.Sweep = (<-sweepDone).res
		}
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	var lastDraw time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-workerErr:
			// A worker only stops on its own when its stage cannot go on.
			workerErr <- err // let Run collect it too
			if err == nil {
				err = errors.New("a stage stopped unexpectedly")
			}
			return err
		case end := <-sweepDone:
			swept = true
			rep.Sweep = end.res
			if end.err == nil {
				rep.Sweeps = 1
			}
			if end.err != nil {
				return end.err
			}
		case <-t.C:
		}
		// Deferred copies first and last: a message moves between the SIDs
		// queue and the deferred store both ways, so one of the two
		// readings of the store catches it (the move back happens only
		// after a deferral's delay, far longer than these readings take).
		counts, err := broker.StreamCounts(ctx, env.JS, messages.StreamDeferred, messages.StreamSIDs, messages.StreamFiles)
		var deferredAgain map[string]uint64
		if err == nil {
			deferredAgain, err = broker.StreamCounts(ctx, env.JS, messages.StreamDeferred)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			env.Log.Warn("cannot read queue state", "err", err)
			continue
		}
		if time.Since(lastDraw) >= 200*time.Millisecond {
			prog.update(env.Metrics.Snapshot(), counts, swept)
			lastDraw = time.Now()
		}
		// One reading suffices. Every stage stores what a message produces
		// (files, collected events, deferred copies, dead letters) before
		// it acks the message, and SIDs are counted before files: when
		// both read zero after the sweep, nothing is left anywhere.
		if swept && counts[messages.StreamSIDs] == 0 && counts[messages.StreamFiles] == 0 &&
			counts[messages.StreamDeferred] == 0 && deferredAgain[messages.StreamDeferred] == 0 {
			return nil
		}
	}
}

func runFollow(ctx context.Context, srch *searcher.Searcher, workerErr chan error, env *service.Env, prog *progress, every time.Duration, rep *Report) error {
	// The report reads rep.Sweep after we return: the searcher must be over.
	ctx, stop := context.WithCancel(ctx)
	searched := make(chan struct{})
	defer func() { stop(); <-searched }()
	go func() {
		defer close(searched)
		_ = srch.RunEach(ctx, func(res searcher.SweepResult, err error) {
			if err == nil {
				rep.addSweep(res)
			}
		})
	}()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-workerErr:
			workerErr <- err
			return err
		case <-t.C:
			if counts, err := broker.StreamCounts(ctx, env.JS, messages.StreamSIDs, messages.StreamFiles); err == nil {
				prog.update(env.Metrics.Snapshot(), counts, true)
			}
		}
	}
}

// prime provisions the streams in the data directory with a server that
// listens on no socket.
func prime(ctx context.Context, dataDir string, log *slog.Logger) error {
	emb, err := broker.StartEmbedded(broker.EmbeddedConfig{DataDir: dataDir}, log)
	if err != nil {
		return err
	}
	defer emb.Shutdown()
	nc, err := broker.Connect(ctx, broker.ConnConfig{Name: "alharvest-prime", InProcess: emb.Server}, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := broker.JetStream(nc)
	if err != nil {
		return err
	}
	return broker.Provision(ctx, js, broker.Topology{}, log)
}

func lastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream) // fetches the stream's info
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
