// Package worker is alharvest's message router: the one loop that consumes a
// JetStream pull consumer, runs a stage's Handler on each message, publishes
// the handler's outputs, and then acks, retries later, defers or
// dead-letters the message.
//
// A stage is just a Handler: it decodes a message once into its own type,
// then turns it into the messages it produces, or into an error whose
// failure.Kind says what went wrong. Every
// decision about delivery — when to ack, how long to wait before a retry,
// when to give up — lives here, so each stage's code reads as its job and
// nothing else, and can be tested without a server.
//
// Delivery guarantees:
//   - a message is acked only after JetStream acknowledged every output;
//   - transient failures are retried with NakWithDelay on an exponential
//     backoff/v4 schedule and dead-lettered after MaxAttempts deliveries;
//   - a "not ready yet" failure is re-published with a Not-Before header
//     and retried on a slower schedule, bounded by MaxDeferAge; the copy
//     waits in the stage's deferred store (Config.Deferred), not in its
//     work queue, so waiting submissions never hold the work consumer's
//     MaxAckPending and cannot stall new work (see below);
//   - permanent failures, a payload the handler cannot decode among them,
//     go straight to the dead-letter stream with their reason, and then
//     leave the work queue;
//   - a message delivered more than MaxAttempts times without ever reaching
//     an outcome (the process crashed or hung on it) is dead-lettered rather
//     than allowed to crash-loop forever;
//   - a failure that may be the server's (Unavailable, Timeout) spends an
//     attempt only if the stage's CheckUpstream finds the server answering;
//     if it does not, the stage pauses — no new intake, held messages kept
//     alive — and probes until the server is back (Config.CheckUpstream);
//   - a message is pulled only for a handler waiting for it (one request
//     asks for as many as handlers wait), so none waits pulled but
//     unhandled past its ack deadline; every pull request ends within
//     StallAfter, and one that delivered nothing while the consumer had
//     work waiting is logged and counted;
//   - a consumer or stream found missing (deleted by an operator, or lost
//     with the NATS store) is re-created (Config.Heal, then Rebind), and
//     outputs or copies no stream took are published again once it is,
//     without spending an attempt; Activity tells a stall check when the
//     worker last settled a message;
//   - the bookkeeping headers of re-published copies count only under the
//     worker's own seal (HeaderSeal); a handler's panic dead-letters its
//     message, nothing more;
//   - on shutdown, intake stops, in-flight work gets a grace period, and
//     whatever is left is handed back for immediate redelivery.
//
// Deferred messages. A copy waiting in the work queue for its Not-Before
// time has to be delivered and put back with NakWithDelay, and a message so
// put back is ack-pending: thousands of submissions running for hours would
// fill MaxAckPending and the stage would receive nothing new. So a deferred
// copy goes to ALHARVEST_DEFERRED on alharvest.deferred.<stage>, where the
// stage's second durable consumer (broker.DeferredConsumer) holds it on a
// server timer, and Run moves it back to its work subject when it is due.
// Waiting then costs only the deferred consumer's MaxAckPending, which
// equals the store's bound (broker.Topology.DeferredMax, discard-new per
// subject): past the bound a deferral fails and the message is delayed in
// place as before, at the cost of an attempt. The server counts the store
// per stage, so every replica and `alharvest status` see the same number.
//
// JetStream's message schedules (`Nats-Schedule: @at <time>`,
// `Nats-Schedule-Target`) would keep the timer without any consumer, but
// do not fit with nats-server 2.15.2: a schedule's target must be a
// subject of the same stream, a stream that allows schedules cannot use
// DiscardNew (the work queues need it, so that a flooding publisher gets
// an error rather than dropping queued work), and schedules require
// AllowRollup, which would let any publisher of alharvest.sids purge the
// queue with a Nats-Rollup header. In a stream of their own they would
// still need a forwarder to the work subject, and lose the discard-new
// bound.
package worker

import (
	"context"
	"crypto/rand"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Worker runs a Handler over a durable pull consumer.
type Worker struct {
	cfg      Config
	js       jetstream.JetStream
	consumer jetstream.Consumer
	bind     func(*Message) (job, error) // decodes for the handler; see bind
	log      *slog.Logger
	latch    *latch

	// notBeforeLimit bounds how far past its publication a Not-Before
	// header is believed (see notBefore).
	notBeforeLimit time.Duration

	sealKey []byte // see Config.SealKey

	settledAt atomic.Int64 // see Activity
	inHand    atomic.Int64

	droppedMu sync.Mutex
	dropped   chan struct{} // closed (and replaced) when the NATS connection drops

	fatalOnce sync.Once
	fatal     error
	stopRun   context.CancelFunc
}

// New returns a Worker running h; call Run to start it.
func New[T any](js jetstream.JetStream, consumer jetstream.Consumer, h Handler[T], cfg Config) *Worker {
	cfg.setDefaults()
	key := cfg.SealKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
	}
	w := &Worker{
		sealKey:  key,
		cfg:      cfg,
		js:       js,
		consumer: consumer,
		bind:     func(m *Message) (job, error) { return bind(h, m) },
		log:      cfg.Logger.With("stage", cfg.Stage),
		latch:    newLatch(),
		// Twice one sample of the longest deferral: jitter of up to ±20 %
		// cannot make any deferral exceed it (2 × 0.8 > 1.2).
		notBeforeLimit: 2 * cfg.DeferDelay(64),
	}
	w.dropped = make(chan struct{})
	w.settledAt.Store(time.Now().UnixNano())
	w.cfg.Observer = settleClock{Observer: cfg.Observer, last: &w.settledAt, inHand: &w.inHand}
	return w
}

// Halted reports whether the stage is halted by a Halt failure or paused
// because the server is away.
func (w *Worker) Halted() bool { return w.latch.isSet() }

// HaltReason says why the stage is halted or paused, or "" when it is not.
func (w *Worker) HaltReason() string { return w.latch.why() }

// Run consumes until ctx is cancelled, then shuts down gracefully and returns
// nil; in FailFast mode it returns a *HaltError when the stage cannot go on.
func (w *Worker) Run(ctx context.Context) error {
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	w.stopRun = stopRun
	if nc := w.js.Conn(); nc != nil {
		st := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING)
		defer nc.RemoveStatusListener(st) // closes st, which ends the loop below
		go func() {
			for range st {
				w.connDropped()
			}
		}()
	}

	// Handlers outlive intake by the grace period, so in-flight work can
	// finish after a SIGTERM instead of being thrown away.
	handleCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	// Intake pulls a message only for a handler that is waiting for one
	// (a token in ready): a message pulled ahead would wait unseen, its ack
	// deadline running, while every handler is busy.
	jobs := make(chan jetstream.Msg)
	ready := make(chan struct{}, w.cfg.Concurrency)
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ready <- struct{}{} // never blocks: one token per handler at most
				m, ok := <-jobs
				if !ok {
					return
				}
				w.process(handleCtx, m)
			}
		}()
	}

	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		if w.cfg.Deferred != nil {
			w.forward(runCtx)
		}
	}()
	w.dispatch(runCtx, jobs, ready)
	close(jobs)
	<-forwarded

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.Grace):
		w.log.Warn("grace period over, handing back in-flight messages", "grace", w.cfg.Grace)
		cancelHandlers()
		<-done
	}
	return w.fatal
}

// connDropped tells every pull under way that its connection is gone.
func (w *Worker) connDropped() {
	w.droppedMu.Lock()
	defer w.droppedMu.Unlock()
	close(w.dropped)
	w.dropped = make(chan struct{})
}

// droppedCh is closed when the NATS connection next drops.
func (w *Worker) droppedCh() <-chan struct{} {
	w.droppedMu.Lock()
	defer w.droppedMu.Unlock()
	return w.dropped
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept fully.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
