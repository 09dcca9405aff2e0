// Package worker is alharvest's message router: the one loop that consumes a
// JetStream pull consumer, runs a stage's Handler on each message, publishes
// the handler's outputs, and then acks, retries later, defers or
// dead-letters the message.
//
// A stage is just a Handler: it turns one message into the messages it
// produces, or into an error whose failure.Kind says what went wrong. Every
// decision about delivery — when to ack, how long to wait before a retry,
// when to give up — lives here, so each stage's code reads as its job and
// nothing else, and can be tested without a server.
//
// Delivery guarantees:
//   - a message is acked only after JetStream acknowledged every output;
//   - transient failures are retried with NakWithDelay on an exponential
//     backoff/v4 schedule and dead-lettered after MaxAttempts deliveries;
//   - a "not ready yet" failure is re-published with a Not-Before header
//     and retried on a slower schedule, bounded by MaxDeferAge;
//   - permanent failures go straight to the dead-letter stream with their
//     reason, and then leave the work queue;
//   - a message delivered more than MaxAttempts times without ever reaching
//     an outcome (the process crashed or hung on it) is dead-lettered rather
//     than allowed to crash-loop forever;
//   - on shutdown, intake stops, in-flight work gets a grace period, and
//     whatever is left is handed back for immediate redelivery.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Headers the worker sets on deferred copies of a message.
const (
	// HeaderNotBefore holds the earliest time (RFC 3339) a deferred copy may be handled.
	HeaderNotBefore = "Alharvest-Not-Before"
	// HeaderDeferrals counts how many times the message was deferred.
	HeaderDeferrals = "Alharvest-Deferrals"
	// HeaderFirstSeen is when the original message entered the stream.
	HeaderFirstSeen = "Alharvest-First-Seen"
	// HeaderAttempts counts the attempts a re-published copy inherits from
	// the message it replaces.
	HeaderAttempts = "Alharvest-Attempts"
)

// Message is what a Handler sees of a JetStream message.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// Attempt counts this message's handling attempts, starting at 1. It
	// excludes deliveries spent waiting out a deferral.
	Attempt int
	// Sequence is the message's sequence in its stream.
	Sequence uint64
	// FirstSeen is when the message (or the original it was deferred from)
	// entered the stream.
	FirstSeen time.Time

	notBefore time.Time // a deferred copy's time to be handled; zero if none
}

// Handler turns one message into the messages it produces.
//
// Returned messages are published (with their Nats-Msg-Id, if set) and
// acknowledged by JetStream before the input is acked. A returned error is
// classified with failure.ActionFor; handlers tag their errors with
// failure.Wrap or return errors that implement failure.Kinder.
type Handler interface {
	Handle(ctx context.Context, m *Message) ([]*nats.Msg, error)
}

// Describer is implemented by handlers that can name what a message is
// about (a SID, a hash), so every log line of the worker loop carries it.
type Describer interface {
	Describe(m *Message) []any
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m *Message) ([]*nats.Msg, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, m *Message) ([]*nats.Msg, error) { return f(ctx, m) }

// Outcome is how handling a message ended, as reported to an Observer.
type Outcome string

// The outcomes.
const (
	OutcomeAcked        Outcome = "acked"
	OutcomeRetried      Outcome = "retried"
	OutcomeDeferred     Outcome = "deferred"
	OutcomeDeadLettered Outcome = "dead_lettered"
	OutcomeHandedBack   Outcome = "handed_back"
)

// Observer receives the worker's events, for metrics and reports. Methods
// are called from many goroutines.
type Observer interface {
	Received(stage string, redelivered bool)
	Settled(stage string, outcome Outcome, kind failure.Kind)
	InFlight(stage string, delta int)
	Halted(stage string, halted bool)
}

// Config tunes a Worker. Zero values get the defaults documented per field.
type Config struct {
	// Stage names the stage in logs, metrics and dead letters (e.g. "scorer").
	Stage string
	// Concurrency is how many messages are handled at once (default 4).
	Concurrency int
	// Prefetch is how many messages the client buffers ahead of the
	// handlers (default Concurrency). A buffered message's ack deadline runs
	// before a handler takes it, so keep AckWait well above the time a
	// handler needs; larger buffers only help very fast handlers.
	Prefetch int
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
	// (default: exponential from 5 s to 5 min).
	HaltProbe func(probe int) time.Duration
	// FailFast makes Run return as soon as a handler reports a Halt failure
	// (bad credentials, daily quota), instead of pausing and probing. The
	// one-command run uses it; services do not.
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
	// Now is the clock (tests); defaults to time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Prefetch <= 0 {
		c.Prefetch = c.Concurrency
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
	if c.Now == nil {
		c.Now = time.Now
	}
}

// HaltError is returned by Run in FailFast mode when the stage cannot go on.
type HaltError struct {
	Stage string
	Err   error
}

// Error says which stage halted and why.
func (e *HaltError) Error() string { return fmt.Sprintf("%s halted: %v", e.Stage, e.Err) }

// Unwrap returns the handler's error.
func (e *HaltError) Unwrap() error { return e.Err }

// Worker runs a Handler over a durable pull consumer.
type Worker struct {
	cfg      Config
	js       jetstream.JetStream
	consumer jetstream.Consumer
	handler  Handler
	log      *slog.Logger
	gate     *gate

	// notBeforeLimit bounds how far past its publication a Not-Before
	// header is believed (see notBefore).
	notBeforeLimit time.Duration

	fatalOnce sync.Once
	fatal     error
	stopRun   context.CancelFunc
}

// New returns a Worker; call Run to start it.
func New(js jetstream.JetStream, consumer jetstream.Consumer, h Handler, cfg Config) *Worker {
	cfg.setDefaults()
	return &Worker{
		cfg:      cfg,
		js:       js,
		consumer: consumer,
		handler:  h,
		log:      cfg.Logger.With("stage", cfg.Stage),
		gate:     newGate(),
		// Twice one sample of the longest deferral: jitter of up to ±20 %
		// cannot make any deferral exceed it (2 × 0.8 > 1.2).
		notBeforeLimit: 2 * cfg.DeferDelay(64),
	}
}

// Halted reports whether the stage is paused by a Halt failure.
func (w *Worker) Halted() bool { return w.gate.isClosed() }

// Run consumes until ctx is cancelled, then shuts down gracefully and returns
// nil; in FailFast mode it returns a *HaltError when the stage cannot go on.
func (w *Worker) Run(ctx context.Context) error {
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	w.stopRun = stopRun

	// Handlers outlive intake by the grace period, so in-flight work can
	// finish after a SIGTERM instead of being thrown away.
	handleCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	jobs := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range jobs {
				w.process(handleCtx, m)
			}
		}()
	}

	w.dispatch(runCtx, jobs)
	close(jobs)

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

// dispatch pulls messages and hands each to a free handler goroutine.
func (w *Worker) dispatch(ctx context.Context, jobs chan<- jetstream.Msg) {
	retry := Backoff(100*time.Millisecond, 5*time.Second)
	failures := 0
	for ctx.Err() == nil {
		// A short pull expiry bounds how long a lost pull request can stall
		// intake: heartbeats stop, the iterator notices within the expiry and
		// pulls again.
		it, err := w.consumer.Messages(jetstream.PullMaxMessages(w.cfg.Prefetch), jetstream.PullExpiry(10*time.Second))
		if err != nil {
			failures++
			w.log.Warn("cannot start consuming; will retry", "err", err, "attempt", failures)
			w.rebindIfGone(ctx, err)
			sleepCtx(ctx, retry(failures))
			continue
		}
		failures = 0
		err = w.pump(ctx, it, jobs)
		// Hand back what the client had already buffered, so another replica
		// can take it now rather than after its ack deadline.
		it.Drain()
		for {
			m, err := it.Next(jetstream.NextMaxWait(200 * time.Millisecond))
			if err != nil {
				break
			}
			w.handBackUnhandled(ctx, m)
		}
		w.rebindIfGone(ctx, err)
	}
}

// rebindIfGone recreates the consumer when err says it no longer exists.
func (w *Worker) rebindIfGone(ctx context.Context, err error) {
	if w.cfg.Rebind == nil || ctx.Err() != nil ||
		!(errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound)) {
		return
	}
	w.log.Warn("durable consumer is gone; recreating it", "err", err)
	if c, rerr := w.cfg.Rebind(ctx); rerr == nil {
		w.consumer = c
	} else {
		w.log.Error("cannot recreate the consumer", "err", rerr)
	}
}

// pump moves messages from one iterator to the handlers until ctx ends or the
// iterator breaks; it returns the error that broke it.
func (w *Worker) pump(ctx context.Context, it jetstream.MessagesContext, jobs chan<- jetstream.Msg) error {
	for {
		if err := w.gate.wait(ctx); err != nil {
			return err
		}
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				w.log.Warn("message iterator closed; restarting it", "err", err)
				sleepCtx(ctx, time.Second)
				return err
			}
			// Missing heartbeats and similar hiccups while NATS reconnects:
			// the iterator keeps going on its own — unless the consumer
			// itself is gone, which only asking the server tells.
			w.log.Debug("pull consumer hiccup", "err", err)
			ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, ierr := w.consumer.Info(ictx)
			cancel()
			if errors.Is(ierr, jetstream.ErrConsumerNotFound) {
				return ierr
			}
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		select {
		case jobs <- m:
		case <-ctx.Done():
			w.handBackUnhandled(ctx, m)
			return ctx.Err()
		}
	}
}

// process handles one message from receipt to settlement.
func (w *Worker) process(ctx context.Context, m jetstream.Msg) {
	obs := w.cfg.Observer
	meta, err := m.Metadata()
	if err != nil {
		// Not a JetStream message; nothing sensible can be done but say so.
		w.log.Error("message without JetStream metadata", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	obs.InFlight(w.cfg.Stage, 1)
	defer obs.InFlight(w.cfg.Stage, -1)
	obs.Received(w.cfg.Stage, meta.NumDelivered > 1)

	msg := w.message(m, meta)
	log := w.log.With("seq", meta.Sequence.Stream, "attempt", msg.Attempt)
	if d, ok := w.handler.(Describer); ok {
		log = log.With(d.Describe(msg)...)
	}

	// A deferred copy that comes back early just waits out its time.
	if wait := msg.notBefore.Sub(w.cfg.Now()); !msg.notBefore.IsZero() && wait > 0 {
		_ = m.NakWithDelay(wait)
		return
	}
	if msg.Attempt > w.cfg.MaxAttempts {
		reason := fmt.Sprintf("delivered %d times without reaching an outcome (the worker crashed or timed out on it each time)", meta.NumDelivered)
		w.deadLetter(ctx, m, meta, reason, failure.Unknown, log)
		return
	}

	stopBeat := w.heartbeat(m)
	outs, err := w.handler.Handle(ctx, msg)
	for err != nil && failure.ActionFor(err) == failure.Halt {
		if outs, err = w.halt(ctx, msg, err, log); err == nil {
			break
		}
		if w.cfg.FailFast || ctx.Err() != nil {
			break
		}
	}
	if err == nil {
		err = w.publish(ctx, msg, outs)
	}
	stopBeat()

	if err == nil {
		if ackErr := m.Ack(); ackErr != nil {
			// The message will come back; its outputs are de-duplicated.
			log.Warn("ack failed; message will be redelivered", "err", ackErr)
		}
		obs.Settled(w.cfg.Stage, OutcomeAcked, failure.Unknown)
		return
	}

	kind := failure.KindOf(err)
	switch action := failure.ActionFor(err); action {
	case failure.DeadLetter:
		w.deadLetter(ctx, m, meta, err.Error(), kind, log)
	case failure.Defer:
		w.deferMsg(ctx, m, meta, msg, err, log)
	case failure.HandBack, failure.Halt:
		w.handBack(ctx, m, meta, msg, log)
		obs.Settled(w.cfg.Stage, OutcomeHandedBack, kind)
	default: // failure.Retry
		if msg.Attempt >= w.cfg.MaxAttempts {
			reason := fmt.Sprintf("gave up after %d attempts: %v", msg.Attempt, err)
			w.deadLetter(ctx, m, meta, reason, kind, log)
			return
		}
		delay := w.cfg.RetryDelay(msg.Attempt)
		log.Warn("transient failure; will retry", "err", err, "kind", kind, "retry_in", delay)
		_ = m.NakWithDelay(delay)
		obs.Settled(w.cfg.Stage, OutcomeRetried, kind)
	}
}

// message builds the handler's view, counting attempts without the
// deliveries that only waited out a deferral.
func (w *Worker) message(m jetstream.Msg, meta *jetstream.MsgMetadata) *Message {
	attempt := int(meta.NumDelivered)
	firstSeen := meta.Timestamp
	h := m.Headers()
	notBefore, deferred := w.notBefore(h, meta)
	if deferred && attempt > 1 {
		// A deferred copy's first delivery arrives at once and is put back
		// until its Not-Before time; it is not an attempt.
		attempt--
	}
	// A copy re-published by a hand-back carries the attempts already spent.
	if n, err := strconv.Atoi(h.Get(HeaderAttempts)); err == nil && n > 0 && n < 1_000_000 {
		attempt += n
	}
	// The age of a deferred copy counts from its original; a time in the
	// future is not ours (a publisher's header) and is ignored.
	if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderFirstSeen)); err == nil && !t.After(meta.Timestamp) {
		firstSeen = t
	}
	return &Message{
		Subject:   m.Subject(),
		Data:      m.Data(),
		Header:    h,
		Attempt:   attempt,
		Sequence:  meta.Sequence.Stream,
		FirstSeen: firstSeen,
		notBefore: notBefore,
	}
}

// halt pauses the stage until the handler succeeds again (or, in FailFast
// mode, stops the run).
func (w *Worker) halt(ctx context.Context, msg *Message, cause error, log *slog.Logger) ([]*nats.Msg, error) {
	if w.cfg.FailFast {
		w.fatalOnce.Do(func() {
			w.fatal = &HaltError{Stage: w.cfg.Stage, Err: cause}
			log.Error("stage cannot go on", "err", cause, "kind", failure.KindOf(cause))
			w.stopRun()
		})
		return nil, cause
	}
	prober := w.gate.close()
	if prober {
		w.cfg.Observer.Halted(w.cfg.Stage, true)
		log.Error("stage halted; probing until Assemblyline accepts calls again", "err", cause, "kind", failure.KindOf(cause))
	}
	if !prober {
		// Someone else probes; wait until they report success.
		if err := w.gate.wait(ctx); err != nil {
			return nil, failure.Wrap(failure.Canceled, err)
		}
		return w.handler.Handle(ctx, msg)
	}
	for probe := 1; ; probe++ {
		if !sleepCtx(ctx, w.cfg.HaltProbe(probe)) {
			w.gate.open()
			return nil, failure.Wrap(failure.Canceled, ctx.Err())
		}
		outs, err := w.handler.Handle(ctx, msg)
		if err == nil || failure.ActionFor(err) != failure.Halt {
			w.gate.open()
			w.cfg.Observer.Halted(w.cfg.Stage, false)
			log.Info("stage resumed", "probes", probe)
			return outs, err
		}
		log.Warn("still halted", "err", err, "probe", probe)
	}
}

// publish sends the outputs and waits until JetStream stored every one.
func (w *Worker) publish(ctx context.Context, in *Message, outs []*nats.Msg) error {
	if len(outs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.PublishTimeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(outs))
	for _, o := range outs {
		f, err := w.js.PublishMsgAsync(o)
		if err != nil {
			return failure.Wrap(failure.Unavailable, fmt.Errorf("publish to %s: %w", o.Subject, err))
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack != nil && ack.Duplicate {
				w.deduplicated(in, f.Msg())
			}
		case err := <-f.Err():
			return failure.Wrap(failure.Unavailable, fmt.Errorf("publish to %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			kind := failure.Unavailable
			if errors.Is(ctx.Err(), context.Canceled) {
				kind = failure.Canceled // shutting down: hand back, no failure
			}
			return failure.Wrap(kind, fmt.Errorf("publish to %s: no acknowledgement: %w", f.Msg().Subject, ctx.Err()))
		}
	}
	return nil
}

// deadLetter copies the message to the DLQ with its reason, then removes it
// from the work queue. If the copy cannot be stored, the message stays.
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, reason string, kind failure.Kind, log *slog.Logger) {
	dl := nats.NewMsg(messages.DLQSubject(w.cfg.Stage))
	dl.Data = m.Data()
	copyHeaders(dl.Header, m.Headers())
	dl.Header.Set(messages.HeaderStage, w.cfg.Stage)
	dl.Header.Set(messages.HeaderReason, truncate(reason, 2000))
	dl.Header.Set(messages.HeaderDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	dl.Header.Set(messages.HeaderOriginalSubject, m.Subject())
	dl.Header.Set(messages.HeaderOriginalSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	dl.Header.Set(messages.HeaderFailedAt, w.cfg.Now().UTC().Format(time.RFC3339Nano))
	// Idempotent across a crash between the copy and the removal.
	dl.Header.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%s.%d", w.cfg.Stage, meta.Stream, meta.Sequence.Stream))

	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.PublishTimeout)
	defer cancel()
	if _, err := w.js.PublishMsg(pctx, dl); err != nil {
		log.Error("cannot dead-letter; keeping the message", "err", err, "reason", reason)
		_ = m.NakWithDelay(w.cfg.RetryDelay(1))
		w.cfg.Observer.Settled(w.cfg.Stage, OutcomeRetried, failure.Unavailable)
		return
	}
	if err := m.TermWithReason(truncate(reason, 200)); err != nil {
		log.Warn("dead-lettered but could not remove from the queue; it will be redelivered", "err", err)
	}
	log.Error("dead-lettered", "reason", reason, "kind", kind, "deliveries", meta.NumDelivered)
	w.cfg.Observer.Settled(w.cfg.Stage, OutcomeDeadLettered, kind)
}

// deferMsg re-publishes a copy that may be handled only after a delay and
// removes the original, so waiting for Assemblyline does not use up the
// message's attempts. Past MaxDeferAge it dead-letters instead.
func (w *Worker) deferMsg(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, msg *Message, cause error, log *slog.Logger) {
	deferrals, _ := strconv.Atoi(m.Headers().Get(HeaderDeferrals))
	age := w.cfg.Now().Sub(msg.FirstSeen)
	if age >= w.cfg.MaxDeferAge {
		reason := fmt.Sprintf("still not ready after %s (%d deferrals): %v", age.Round(time.Second), deferrals, cause)
		w.deadLetter(ctx, m, meta, reason, failure.KindOf(cause), log)
		return
	}
	deferrals++
	delay := w.cfg.DeferDelay(deferrals)
	err := w.replace(ctx, m, msg, w.cfg.PublishTimeout, log, func(h nats.Header) {
		// Unique to this delivered message, so a lost ack is absorbed by
		// de-duplication and no two messages can ever share it.
		h.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%d.defer", meta.Stream, meta.Sequence.Stream))
		h.Del(HeaderAttempts) // waiting is not failing: a fresh budget
		h.Set(HeaderDeferrals, strconv.Itoa(deferrals))
		h.Set(HeaderNotBefore, w.cfg.Now().Add(delay).UTC().Format(time.RFC3339Nano))
	})
	if err != nil {
		// Fall back to a plain delayed redelivery: it costs an attempt, but
		// loses nothing.
		log.Warn("cannot re-publish deferred message; delaying it in place", "err", err)
		_ = m.NakWithDelay(delay)
		w.cfg.Observer.Settled(w.cfg.Stage, OutcomeRetried, failure.KindOf(cause))
		return
	}
	log.Info("not ready; deferred", "reason", cause, "retry_in", delay, "deferrals", deferrals)
	w.cfg.Observer.Settled(w.cfg.Stage, OutcomeDeferred, failure.KindOf(cause))
}

// replace stores a copy of m, with the headers edit sets, in m's place:
// once JetStream has the copy, m is acked. The copy keeps m's age.
func (w *Worker) replace(ctx context.Context, m jetstream.Msg, msg *Message, timeout time.Duration, log *slog.Logger, edit func(nats.Header)) error {
	cp := nats.NewMsg(m.Subject())
	cp.Data = m.Data()
	copyHeaders(cp.Header, m.Headers())
	cp.Header.Set(HeaderFirstSeen, msg.FirstSeen.UTC().Format(time.RFC3339Nano))
	edit(cp.Header)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := w.js.PublishMsg(pctx, cp); err != nil {
		return err
	}
	if err := m.Ack(); err != nil {
		log.Warn("copy stored but original not acked; it will be handled twice", "err", err)
	}
	return nil
}

// copyHeaders copies a message's headers for a dead letter or a re-published
// copy, leaving out JetStream's own control headers (a publisher's
// Nats-Expected-Stream would make the copy fail forever) and the
// Not-Before of a finished wait.
func copyHeaders(dst, src nats.Header) {
	for k, v := range src {
		if (len(k) >= 5 && strings.EqualFold(k[:5], "nats-")) || k == HeaderNotBefore {
			continue
		}
		dst[k] = slices.Clone(v)
	}
}

// handBack returns a message for immediate redelivery without spending an
// attempt: a fresh copy carries the attempts used so far (not this one) and
// replaces the original. If the copy cannot be stored, a plain Nak does it
// at the cost of an attempt.
func (w *Worker) handBack(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, msg *Message, log *slog.Logger) {
	// Hand-backs happen at shutdown, after the grace period: a short wait.
	err := w.replace(ctx, m, msg, 5*time.Second, log, func(h nats.Header) {
		h.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%d.%d.back", meta.Stream, meta.Sequence.Stream, meta.NumDelivered))
		h.Set(HeaderAttempts, strconv.Itoa(msg.Attempt-1))
	})
	if err != nil {
		log.Debug("cannot re-publish handed-back message; returning it as is", "err", err)
		_ = m.Nak()
	}
}

// handBackUnhandled hands back a message the worker received but never
// gave to the handler.
func (w *Worker) handBackUnhandled(ctx context.Context, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		_ = m.Nak()
		return
	}
	w.handBack(ctx, m, meta, w.message(m, meta), w.log)
}

// heartbeat keeps the message's ack deadline from passing while it is
// handled; the returned func stops it.
func (w *Worker) heartbeat(m jetstream.Msg) func() {
	every := w.cfg.AckWait / 3
	if every <= 0 {
		every = time.Second
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-stop:
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// notBefore reads a deferred copy's Not-Before time. One further in the
// future than any deferral sets is not ours (a publisher's header) and is
// ignored: it could otherwise hold a message for centuries.
func (w *Worker) notBefore(h nats.Header, meta *jetstream.MsgMetadata) (time.Time, bool) {
	v := h.Get(HeaderNotBefore)
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.After(meta.Timestamp.Add(w.notBeforeLimit)) {
		return time.Time{}, false
	}
	return t, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
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

type nopObserver struct{}

func (nopObserver) Received(string, bool)                 {}
func (nopObserver) Settled(string, Outcome, failure.Kind) {}
func (nopObserver) InFlight(string, int)                  {}
func (nopObserver) Halted(string, bool)                   {}
