package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
)

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
	j, err := w.bind(msg)
	log = log.With(j.attrs...)

	// A deferred copy that comes back early just waits out its time.
	if wait := time.Until(msg.notBefore); !msg.notBefore.IsZero() && wait > 0 {
		_ = m.NakWithDelay(wait)
		return
	}
	if msg.Attempt > w.cfg.MaxAttempts {
		reason := fmt.Sprintf("delivered %d times without reaching an outcome (the worker crashed or timed out on it each time)", meta.NumDelivered)
		w.deadLetter(ctx, m, meta, reason, failure.Unknown, log)
		return
	}
	if err == nil { // else a payload that cannot be decoded: dead-lettered below
		err = w.run(ctx, m, msg, j, log)
	}

	if err == nil {
		if ackErr := m.Ack(); ackErr != nil {
			// The message will come back; its outputs are de-duplicated.
			log.Warn("ack failed; message will be redelivered", "err", ackErr)
		}
		obs.Settled(w.cfg.Stage, OutcomeAcked, failure.Unknown)
		return
	}

	kind := failure.KindOf(err)
	if pe := (*PanicError)(nil); errors.As(err, &pe) {
		log.Error("handler panicked; dead-lettering the message", "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))
	}
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

// run handles a decoded message, riding out a halt, and publishes its
// outputs; the message's ack deadline is kept from passing meanwhile.
func (w *Worker) run(ctx context.Context, m jetstream.Msg, in *Message, j job, log *slog.Logger) error {
	stopBeat := w.heartbeat(m)
	defer stopBeat()
	outs, err := j.handle(ctx)
	for err != nil && ctx.Err() == nil {
		if failure.ActionFor(err) == failure.Halt {
			if outs, err = w.halt(ctx, j, err, log); err == nil || w.cfg.FailFast {
				break
			}
			continue
		}
		if w.cfg.CheckUpstream == nil || !failure.ServerSuspect(err) {
			break
		}
		// Perhaps the server is away rather than this message failing.
		if err = w.pause(ctx, err, log); err != nil {
			break // the message's own failure, or shutdown
		}
		outs, err = j.handle(ctx)
	}
	if err != nil {
		return err
	}
	return w.publish(ctx, in, outs)
}

// publish sends the outputs of in and waits until JetStream stored every
// one, saying which ones it dropped as duplicates.
func (w *Worker) publish(ctx context.Context, in *Message, outs []*nats.Msg) error {
	if len(outs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.PublishTimeout)
	defer cancel()
	acks, err := broker.PublishAll(ctx, w.js, outs)
	if err != nil && w.cfg.Heal != nil && broker.Missing(err) && ctx.Err() == nil {
		// No stream took them: it may be gone with the store. Have it
		// re-created and publish again (Nats-Msg-Id makes a repeat of
		// what did land harmless), rather than spend an attempt.
		w.heal(ctx)
		acks, err = broker.PublishAll(ctx, w.js, outs)
	}
	for i, ack := range acks {
		if ack != nil && ack.Duplicate {
			w.deduplicated(in, outs[i])
		}
	}
	return err
}
