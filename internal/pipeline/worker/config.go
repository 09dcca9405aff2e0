package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config tunes a Worker. Zero values get the defaults documented per field.
type Config struct {
	// Stage names the stage in logs, metrics and dead letters (e.g. "scorer").
	Stage string
	// Concurrency is how many messages are handled at once (default 4).
	// Nothing is pulled ahead of the handlers: a message is requested (one
	// per pull) only when a handler waits for it, since a buffered
	// message's ack deadline would run while it waits unseen.
	Concurrency int
	// MaxAttempts bounds transient failures and crash loops before a message
	// is dead-lettered (default 10).
	MaxAttempts int
	// RetryDelay gives the delay before attempt n+1 after a transient failure
	// at attempt n (default: exponential from 1 s to 5 min, see Backoff).
	RetryDelay func(attempt int) time.Duration
	// DeferDelay gives the delay after the n-th deferral (default:
	// exponential from 15 s to 10 min).
	DeferDelay func(deferrals int) time.Duration
	// MaxDeferAge bounds how long a message may keep being deferred before it
	// is dead-lettered (default 24 h).
	MaxDeferAge time.Duration
	// AckWait must equal the consumer's AckWait; in-flight messages are kept
	// alive with InProgress every AckWait/3 (default 30 s).
	AckWait time.Duration
	// HaltProbe gives the delay between probes while the stage is halted
	// (default: exponential from 5 s to 5 min). A halt for want of
	// descriptors or memory (failure.Resources) probes on PauseProbe's
	// schedule instead: it clears by itself, usually within seconds.
	HaltProbe func(probe int) time.Duration
	// CheckUpstream, when set, is the stage's cheap call to the server its
	// handler depends on (Assemblyline). After a handler fails in a way that
	// may be the server's fault (failure.ServerSuspect), the worker probes
	// with it: if the probe fails the same way, the server is away and the
	// stage pauses — intake stops, held messages keep their attempts, Halted
	// reports it — probing on PauseProbe's schedule until the server
	// answers, then retries the held messages. Without CheckUpstream such
	// failures are retried and spend attempts.
	CheckUpstream func(ctx context.Context) error
	// PauseProbe gives the delay between probes while the server is away
	// (default: exponential from 1 s to 15 s; a probe is one small call).
	PauseProbe func(probe int) time.Duration
	// StallAfter is how long one pull request lasts at most (default
	// 10 s). One that delivered nothing while the consumer had undelivered
	// work (NumPending) and room to deliver it (NumAckPending below
	// MaxAckPending) lost its request or its answers (a slow consumer
	// after a reconnect): it is logged and counted, and the next pull is a
	// new request.
	StallAfter time.Duration
	// SealKey authenticates the headers the worker puts on the copies it
	// re-publishes (see HeaderSeal); every replica of a stage needs the
	// same key (SealKey loads the shared one). Nil: a random key of this
	// process, so that copies another replica made start afresh.
	SealKey []byte
	// Deferred, when set, is the stage's consumer of its deferred store
	// (broker.DeferredConsumer): a "not ready yet" message waits there, off
	// the work consumer, and Run moves it back to its work subject when its
	// time comes. Without it a deferred copy waits in the work queue itself
	// and holds a place of MaxAckPending while it waits.
	Deferred jetstream.Consumer
	// RebindDeferred, when set, recreates Deferred if it disappears, as
	// Rebind does for the work consumer.
	RebindDeferred func(ctx context.Context) (jetstream.Consumer, error)
	// SharedStream says the consumer reads a stream other consumers read
	// too (ALHARVEST_COLLECTED, which every feed and other systems read),
	// not a work queue of its own: the worker never publishes a copy into
	// it. A hand-back at shutdown is then a plain Nak (the next delivery
	// counts as an attempt) and a "not ready" failure waits in place with
	// NakWithDelay. Dead letters still go to ALHARVEST_DLQ.
	SharedStream bool
	// FailFast makes Run return as soon as a handler reports a Halt failure
	// (bad credentials, daily quota), instead of pausing and probing. The
	// one-command run uses it; services do not. It does not apply to a
	// server that is away (see CheckUpstream): that pauses in every mode.
	FailFast bool
	// Grace is how long in-flight work may run after shutdown starts before
	// it is cancelled and handed back (default 20 s).
	Grace time.Duration
	// PublishTimeout bounds waiting for JetStream to acknowledge outputs
	// (default 30 s).
	PublishTimeout time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Observer defaults to a no-op.
	Observer Observer
	// Rebind, when set, recreates the durable consumer if it disappears
	// (deleted by an operator, or lost with a NATS store).
	Rebind func(ctx context.Context) (jetstream.Consumer, error)
	// Heal, when set, re-creates the streams and the bucket when one is
	// found missing: before Rebind and RebindDeferred, and when no stream
	// took a handler's outputs (broker.Healer.Heal).
	Heal func(ctx context.Context) error
}

func (c *Config) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.RetryDelay == nil {
		c.RetryDelay = Backoff(time.Second, 5*time.Minute)
	}
	if c.DeferDelay == nil {
		c.DeferDelay = Backoff(15*time.Second, 10*time.Minute)
	}
	if c.MaxDeferAge <= 0 {
		c.MaxDeferAge = 24 * time.Hour
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.HaltProbe == nil {
		c.HaltProbe = Backoff(5*time.Second, 5*time.Minute)
	}
	if c.PauseProbe == nil {
		c.PauseProbe = Backoff(time.Second, 15*time.Second)
	}
	if c.StallAfter <= 0 {
		c.StallAfter = 10 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 20 * time.Second
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
}
