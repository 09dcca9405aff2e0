package service

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/pipeline/downloader"
	"github.com/alharvest/alharvest/internal/pipeline/scorer"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// StageOptions adjust a consuming stage.
type StageOptions struct {
	// FailFast: see worker.Config.FailFast.
	FailFast bool
}

// Scorer builds the scorer's worker on its durable consumer.
func (e *Env) Scorer(ctx context.Context, o StageOptions) (*worker.Worker, error) {
	s := scorer.New(e.AL, scorer.Config{
		Threshold: e.Cfg.Threshold,
		Server:    e.Cfg.AL.BaseURL,
		Logger:    e.Log.With("stage", messages.StageScorer),
		Observer:  e.Metrics,
	})
	return stageWorker(ctx, e, messages.StageScorer, messages.StreamSIDs, messages.ConsumerScorer, e.Cfg.Scorer, s, o)
}

// Downloader builds the downloader's worker on its durable consumer, after
// clearing temporary files that killed predecessors left behind.
func (e *Env) Downloader(ctx context.Context, o StageOptions) (*worker.Worker, error) {
	d, err := downloader.New(e.AL, downloader.Config{
		OutputDir: e.Cfg.OutputDir,
		Metadata:  e.Cfg.OutputMetadata,
		Reserve:   e.Cfg.OutputReserve,
		Logger:    e.Log.With("stage", messages.StageDownloader),
		Observer:  e.Metrics,
	})
	if err != nil {
		return nil, err
	}
	if w := outputDirWarning(d.Dir()); w != "" {
		e.Log.Warn(w)
	}
	if _, err := downloader.CleanTemp(d.Dir(), e.Log); err != nil {
		e.Log.Warn("cannot clean temporary files", "err", err)
	}
	return stageWorker(ctx, e, messages.StageDownloader, messages.StreamFiles, messages.ConsumerDownloader, e.Cfg.Downloader, d, o)
}

// stageWorker binds a stage's handler to its durable consumer. (A function,
// not a method: methods cannot take the handler's type parameter.)
func stageWorker[T any](ctx context.Context, e *Env, stage, stream, durable string, sc config.Stage, h worker.Handler[T], o StageOptions) (*worker.Worker, error) {
	cc := broker.ConsumerConfig{AckWait: sc.AckWait, Replicas: e.Cfg.NATS.Replicas}
	cons, err := broker.Consumer(ctx, e.JS, stream, durable, cc, e.Log)
	if err != nil {
		return nil, err
	}
	rebind := func(ctx context.Context) (jetstream.Consumer, error) {
		c, err := broker.Consumer(ctx, e.JS, stream, durable, cc, e.Log)
		if err == nil {
			e.Health.rebound(stage, c)
		}
		return c, err
	}
	deferred, err := broker.DeferredConsumer(ctx, e.JS, stage, 0, e.Cfg.NATS.Replicas, e.Log)
	if err != nil {
		return nil, err
	}
	sealKey, err := e.sealKey(ctx)
	if err != nil {
		return nil, err
	}
	if e.Healer != nil {
		e.Healer.OnBucketCreated(func(ctx context.Context) {
			kv, err := e.JS.KeyValue(ctx, messages.BucketState)
			if err == nil {
				err = worker.RestoreSealKey(ctx, kv, sealKey)
			}
			if err != nil {
				e.Log.Warn("cannot put the seal key back in the re-created bucket", "err", err)
			}
		})
	}
	w := worker.New(e.JS, cons, h, worker.Config{
		Deferred: deferred,
		RebindDeferred: func(ctx context.Context) (jetstream.Consumer, error) {
			return broker.DeferredConsumer(ctx, e.JS, stage, 0, e.Cfg.NATS.Replicas, e.Log)
		},
		Stage:       stage,
		Concurrency: sc.Concurrency,
		MaxAttempts: sc.MaxAttempts,
		RetryDelay:  worker.Backoff(sc.RetryMin, sc.RetryMax),
		// Waiting for Assemblyline to finish runs on a slower clock than
		// retrying a hiccup: 15 s doubling to 10 min with the defaults.
		DeferDelay:    worker.Backoff(15*sc.RetryMin, 2*sc.RetryMax),
		MaxDeferAge:   sc.MaxDeferAge,
		AckWait:       sc.AckWait,
		FailFast:      o.FailFast,
		Grace:         e.Cfg.Shutdown,
		Logger:        e.Log,
		Observer:      e.Metrics,
		Rebind:        rebind,
		CheckUpstream: e.probeAssemblyline,
		Heal:          e.heal,
		SealKey:       sealKey,
	})
	e.Health.addConsumer(stage, cons, w)
	e.Metrics.Stage(stage)
	return w, nil
}

// sealKey loads (or makes) the key the stage's replicas seal their copies
// with. Like every other start-up step that touches JetStream, it waits
// for a cluster still electing leaders or catching up with the bucket's
// creation, instead of ending the process.
func (e *Env) sealKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := broker.Retry(ctx, e.Log, "seal key", func(ctx context.Context) error {
		kv, err := e.openBucket(ctx)
		if err != nil {
			return err
		}
		key, err = worker.SealKey(ctx, kv)
		return err
	})
	return key, err
}

// heal re-creates missing streams and the bucket (nil-safe: an Env built
// without NATS has no Healer).
func (e *Env) heal(ctx context.Context) error {
	if e.Healer == nil {
		return nil
	}
	return e.Healer.Heal(ctx)
}

// probeAssemblyline is the stages' cheap call while Assemblyline may be
// away: the document of a submission that cannot exist. Any answer in
// Assemblyline's envelope, the expected 404 among them, says it is back.
func (e *Env) probeAssemblyline(ctx context.Context) error {
	_, err := e.AL.SubmissionFull(ctx, "alharvestProbe")
	return err
}

// Searcher builds the searcher.
func (e *Env) Searcher(ctx context.Context) (*searcher.Searcher, error) {
	kv, err := e.stateBucket(ctx)
	if err != nil {
		return nil, err
	}
	return searcher.New(e.AL, e.JS, kv, searcher.Config{
		Server:    e.Cfg.AL.BaseURL,
		User:      e.Cfg.AL.User,
		Threshold: e.Cfg.Threshold,
		Filter:    e.Cfg.Search.Filter,
		Interval:  e.Cfg.Search.Interval,
		Overlap:   e.Cfg.Search.Overlap,
		Rows:      e.Cfg.Search.PageSize,
		Logger:    e.Log,
		Observer:  e.Metrics,
		Push:      e.Cfg.Webhook.Addr != "",
		Heal:      e.heal,
	}), nil
}
