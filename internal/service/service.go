// Package service wires alharvest's parts into running stages: logging,
// metrics and probes, the Assemblyline client, the NATS connection and the
// JetStream layout, and the worker loop around each stage's handler. The
// commands in cmd/ and the one-command run are built from it.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/exitcode"
	"github.com/alharvest/alharvest/internal/logging"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Env is everything a binary sets up once and its stages share.
type Env struct {
	Cfg     *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	AL      *assemblyline.Client
	// Shared is the quota budget this process shares through NATS with
	// every process calling the same Assemblyline user (nil in the
	// one-command mode, which keeps a local limit).
	Shared *quota.Shared
	NC     *nats.Conn
	JS     jetstream.JetStream
	Health *Health
	// Healer re-creates the streams and the bucket when a stage finds
	// them missing (an operator's deletion, a NATS store lost).
	Healer *broker.Healer
}

// Options adjust Setup for the one-command mode.
type Options struct {
	// InProcess connects to an embedded server instead of NATS_URL.
	InProcess nats.InProcessConnProvider
	// Logger overrides the logger built from the configuration.
	Logger *slog.Logger
}

// Setup builds the shared parts. Nothing here talks to Assemblyline yet;
// NATS is dialled (waiting for it if it is not up) and the streams and
// bucket are provisioned.
func Setup(ctx context.Context, binary string, cfg *config.Config, opts Options) (*Env, error) {
	log := opts.Logger
	if log == nil {
		log = logging.New(logging.Config{
			Level: cfg.Log.Level, Format: cfg.Log.Format, Binary: binary,
			Secrets: cfg.Secrets(),
		})
	}
	e := &Env{Cfg: cfg, Log: log, Metrics: metrics.New()}
	e.Health = newHealth()
	e.Health.stallAfter = cfg.StallAfter
	e.Health.stalled = e.Metrics.Stalled

	var gate assemblyline.Gate
	if opts.InProcess == nil && cfg.Calls.Shared {
		e.Shared = quota.NewShared(quota.SharedConfig{
			Server: cfg.AL.BaseURL, User: cfg.AL.User, Name: holderName(binary), Quota: cfg.Calls.Quota,
			Heal:   e.heal,
			OnSize: e.Metrics.QuotaBudget, OnHeld: e.Metrics.QuotaHeld, OnWait: e.Metrics.QuotaWait,
			Logger: log.With("component", "quota"),
		})
		gate = e.Shared
		e.Health.slots = e.Shared.Allowed
	} else {
		// One process alone (the one-command mode keeps every call in
		// it): a local adaptive limit, nothing shared.
		ceiling := cfg.Calls.Max
		if cfg.Calls.Quota > 0 {
			ceiling = cfg.Calls.Quota
		}
		gate = quota.New(quota.Config{Max: ceiling, OnLimit: e.Metrics.ConcurrencyLimit})
	}
	ac := alConfig(cfg, log.With("component", "assemblyline"))
	ac.Gate = gate
	ac.Observe = func(c assemblyline.Call) {
		e.Metrics.ALRequest(c.Endpoint, c.Status, c.Duration, c.QuotaRejected)
		e.Health.alCall(c)
	}
	al, err := assemblyline.New(ac)
	if err != nil {
		return nil, exitcode.Use(err) // a setting the client cannot use
	}
	e.AL = al
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	for _, a := range cfg.Alarms() { // a published demo key outside the demo
		log.Error(a)
	}
	if al.Cleartext() {
		log.Warn("THE ASSEMBLYLINE API KEY IS SENT IN CLEAR over plain http:// to a host beyond this machine (AL_ALLOW_HTTP=true): anyone on the network path can read it; use https://", "al_url", cfg.AL.BaseURL)
	}
	if cfg.AL.InsecureSkipVerify {
		log.Warn("TLS VERIFICATION OF ASSEMBLYLINE IS OFF (AL_VERIFY=false): anyone on the network path can read the API key and feed you files")
	}

	cc := broker.ConnConfigFrom(cfg.NATS, "alharvest-"+binary)
	cc.InProcess = opts.InProcess
	nc, err := broker.Connect(ctx, cc, log)
	if err != nil {
		return nil, err
	}
	e.NC = nc
	e.Health.nc = nc
	if e.JS, err = broker.JetStream(nc); err != nil {
		nc.Close()
		return nil, err
	}
	topo := broker.Topology{Replicas: cfg.NATS.Replicas, DedupWindow: broker.SIDDedupWindow(cfg.Search.Interval, cfg.Search.Overlap)}
	if err := broker.Provision(ctx, e.JS, topo, log); err != nil {
		nc.Close()
		return nil, err
	}
	e.Healer = broker.NewHealer(e.JS, topo, log)
	if e.Shared != nil {
		if err := e.joinBudget(ctx); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return e, nil
}

// joinBudget takes part in the user's shared call budget. The lease
// outlives ctx (a draining stage still calls Assemblyline); Close ends it.
func (e *Env) joinBudget(ctx context.Context) error {
	return broker.Retry(ctx, e.Log, "quota budget", func(ctx context.Context) error {
		kv, err := e.openBucket(ctx)
		if err != nil {
			return err
		}
		return e.Shared.Start(context.WithoutCancel(ctx), kv)
	})
}

// holderName tells processes apart in `alharvest status`.
func holderName(binary string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s:%d", binary, host, os.Getpid())
}

// Close drains the NATS connection, flushing pending publishes and acks.
func (e *Env) Close() {
	if e.NC == nil {
		return
	}
	if e.Shared != nil {
		e.Shared.Close() // hand the slots back now rather than at the lease's end
	}
	done := make(chan struct{})
	e.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
	if err := e.NC.Drain(); err != nil {
		e.NC.Close()
		return
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		e.NC.Close()
	}
}

// ServeTelemetry serves metrics and probes on HTTP_ADDR (when set) and keeps
// the queue gauges current until the returned stop is called; stop waits for
// both to end. They outlive ctx on purpose: a draining process still reports
// what it is doing, so the caller stops them after its stages have stopped.
func (e *Env) ServeTelemetry(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := serveHTTP(ctx, e.Cfg.HTTPAddr, e.Health.handler(e.Metrics.Registry, e.Cfg.Pprof), telemetryLimits(e.Cfg.Pprof), e.Log); err != nil {
			e.Log.Error("metrics server failed", "err", err)
		}
	})
	wg.Go(func() { e.pollQueues(ctx, 5*time.Second) })
	return func() { cancel(); wg.Wait() }
}

// pollQueues keeps the consumer and stream gauges current until ctx ends.
// The first reading comes after a second, once the stage has bound its
// consumer.
func (e *Env) pollQueues(ctx context.Context, every time.Duration) {
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.pollOnce(ctx)
		t.Reset(every)
	}
}

func (e *Env) pollOnce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, c := range []struct{ stream, consumer string }{
		{messages.StreamSIDs, messages.ConsumerScorer},
		{messages.StreamFiles, messages.ConsumerDownloader},
	} {
		// Consumer and Stream fetch their info from the server; the
		// cached copy is that fresh answer.
		if cons, err := e.JS.Consumer(ctx, c.stream, c.consumer); err == nil {
			ci := cons.CachedInfo()
			e.Metrics.ConsumerState(c.consumer, ci.NumPending, uint64(ci.NumAckPending), uint64(ci.NumRedelivered))
		}
	}
	// One request counts every stage's deferred copies, from the server,
	// so all replicas report the same.
	if st, err := e.JS.Stream(ctx, messages.StreamDeferred); err == nil {
		if info, err := st.Info(ctx, jetstream.WithSubjectFilter(messages.SubjectDeferredPrefix+">")); err == nil {
			for _, stage := range []string{messages.StageScorer, messages.StageDownloader} {
				e.Metrics.DeferredMessages(stage, info.State.Subjects[messages.DeferredSubject(stage)])
			}
		}
	}
	// The stall gauges follow the same checks as /readyz, probed or not.
	e.Health.Check(ctx)
	for _, s := range []string{messages.StreamSIDs, messages.StreamFiles, messages.StreamDeferred, messages.StreamDLQ, messages.StreamCollected} {
		if st, err := e.JS.Stream(ctx, s); err == nil {
			state := st.CachedInfo().State
			e.Metrics.StreamState(s, state.Msgs)
			e.Metrics.StreamAge(s, state.Msgs, state.FirstTime, time.Now())
		}
	}
}

// Summary returns a one-line, secret-free summary of the configuration,
// for the start-up log line.
func Summary(cfg *config.Config) string {
	return fmt.Sprintf("al=%s user=%s nats=%s threshold=%d", cfg.AL.BaseURL, cfg.AL.User,
		broker.ConnConfigFrom(cfg.NATS, "").String(), cfg.Threshold)
}

// RunAll runs functions concurrently until all return; the first error
// cancels the others and is returned. The searcher service runs its sweeps
// and its webhook receiver this way.
func RunAll(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, f := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// stateBucket opens the KV bucket ALHARVEST_STATE, waiting for JetStream
// while it is not there yet (a cluster electing its leaders).
func (e *Env) stateBucket(ctx context.Context) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := broker.Retry(ctx, e.Log, "bucket "+messages.BucketState, func(ctx context.Context) error {
		var err error
		kv, err = e.openBucket(ctx)
		return err
	})
	return kv, err
}

// openBucket opens ALHARVEST_STATE for a caller that retries. A bucket
// just provisioned can still be "not found" on a cluster node that has not
// caught up with its creation, and one an operator deleted is missing for
// good: either way it heals (re-creating the bucket if it really is gone)
// and answers with an error the retry treats as transient, so a process
// starting beside a forming cluster waits instead of exiting.
func (e *Env) openBucket(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := e.JS.KeyValue(ctx, messages.BucketState)
	if errors.Is(err, jetstream.ErrBucketNotFound) && e.Healer != nil {
		if herr := e.Healer.Heal(ctx); herr != nil {
			e.Log.Warn("cannot re-create the NATS layout", "err", herr)
		}
		return nil, fmt.Errorf("%w: %w", broker.ErrNotYet, err)
	}
	return kv, err
}
