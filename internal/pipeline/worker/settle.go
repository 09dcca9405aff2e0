package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// deadLetter copies the message to the DLQ with its reason, then removes it
// from the work queue. If the copy cannot be stored, the message stays.
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, reason string, kind failure.Kind, log *slog.Logger) {
	dl := nats.NewMsg(messages.DLQSubject(w.cfg.Stage))
	dl.Data = m.Data()
	copyHeaders(dl.Header, m.Headers())
	dl.Header.Set(messages.HeaderStage, w.cfg.Stage)
	dl.Header.Set(messages.HeaderReason, failure.Clip(reason, 2000))
	dl.Header.Set(messages.HeaderDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
	dl.Header.Set(messages.HeaderOriginalSubject, m.Subject())
	dl.Header.Set(messages.HeaderOriginalSequence, strconv.FormatUint(meta.Sequence.Stream, 10))
	dl.Header.Set(messages.HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	// The consumer, not only the stage: several feeds read the same
	// stream, and each one's letter must be kept and replayed to it.
	consumer := meta.Consumer
	if consumer == "" {
		consumer = w.cfg.Stage
	}
	dl.Header.Set(messages.HeaderConsumer, consumer)
	// Idempotent across a crash between the copy and the removal.
	dl.Header.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%s.%d", consumer, meta.Stream, meta.Sequence.Stream))

	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.PublishTimeout)
	defer cancel()
	if _, err := w.publishHealing(pctx, dl); err != nil {
		log.Error("cannot dead-letter; keeping the message", "err", err, "reason", reason)
		_ = m.NakWithDelay(w.cfg.RetryDelay(1))
		w.cfg.Observer.Settled(w.cfg.Stage, OutcomeRetried, failure.Unavailable)
		return
	}
	if err := m.TermWithReason(failure.Clip(reason, 200)); err != nil {
		log.Warn("dead-lettered but could not remove from the queue; it will be redelivered", "err", err)
	}
	log.Error("dead-lettered", "reason", reason, "kind", kind, "deliveries", meta.NumDelivered)
	w.cfg.Observer.Settled(w.cfg.Stage, OutcomeDeadLettered, kind)
}

// deferMsg re-publishes a copy that may be handled only after a delay and
// removes the original, so waiting for Assemblyline does not use up the
// message's attempts. Past MaxDeferAge it dead-letters instead.
func (w *Worker) deferMsg(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, msg *Message, cause error, log *slog.Logger) {
	deferrals := msg.deferrals
	age := time.Since(msg.FirstSeen)
	if age >= w.cfg.MaxDeferAge {
		reason := fmt.Sprintf("still not ready after %s (%d deferrals): %v", age.Round(time.Second), deferrals, cause)
		w.deadLetter(ctx, m, meta, reason, failure.KindOf(cause), log)
		return
	}
	deferrals++
	delay := w.cfg.DeferDelay(deferrals)
	if w.cfg.SharedStream {
		// No copy may go into a stream other readers share: wait in place.
		_ = m.NakWithDelay(delay)
		w.cfg.Observer.Settled(w.cfg.Stage, OutcomeRetried, failure.KindOf(cause))
		return
	}
	// The copy waits in the stage's deferred store when there is one, where
	// it holds no place of the work consumer's MaxAckPending (see forward).
	to := ""
	if w.cfg.Deferred != nil {
		to = messages.DeferredSubject(w.cfg.Stage)
	}
	err := w.replace(ctx, m, msg, to, w.cfg.PublishTimeout, log, func(h nats.Header) {
		// Unique to this delivered message, so a lost ack is absorbed by
		// de-duplication and no two messages can ever share it.
		h.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%d.defer", meta.Stream, meta.Sequence.Stream))
		h.Del(HeaderAttempts) // waiting is not failing: a fresh budget
		h.Set(HeaderDeferrals, strconv.Itoa(deferrals))
		h.Set(HeaderNotBefore, time.Now().Add(delay).UTC().Format(time.RFC3339Nano))
	})
	if err != nil {
		// Fall back to a plain delayed redelivery (the deferred store is
		// full, or away): it costs an attempt and holds a place of
		// MaxAckPending meanwhile, but loses nothing.
		log.Warn("cannot store deferred message; delaying it in place", "err", err)
		_ = m.NakWithDelay(delay)
		w.cfg.Observer.Settled(w.cfg.Stage, OutcomeRetried, failure.KindOf(cause))
		return
	}
	log.Info("not ready; deferred", "reason", cause, "retry_in", delay, "deferrals", deferrals)
	w.cfg.Observer.Settled(w.cfg.Stage, OutcomeDeferred, failure.KindOf(cause))
}

// publishHealing publishes m; when no stream takes it (gone with the store,
// or deleted), it has the layout re-created and publishes once more.
func (w *Worker) publishHealing(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	ack, err := w.js.PublishMsg(ctx, m)
	if err != nil && w.cfg.Heal != nil && broker.Missing(err) && ctx.Err() == nil {
		w.heal(ctx)
		ack, err = w.js.PublishMsg(ctx, m)
	}
	return ack, err
}

// replace stores a copy of m, with the headers edit sets, in m's place:
// once JetStream has the copy, m is acked. The copy keeps m's age. With to
// set, the copy is stored there (a deferred store) and names m's subject,
// for which it is sealed, in HeaderDeferredSubject.
func (w *Worker) replace(ctx context.Context, m jetstream.Msg, msg *Message, to string, timeout time.Duration, log *slog.Logger, edit func(nats.Header)) error {
	cp := nats.NewMsg(m.Subject())
	cp.Data = m.Data()
	copyHeaders(cp.Header, m.Headers())
	// The bookkeeping is the worker's own, from msg (what a seal vouched
	// for), never what a publisher put there.
	for _, k := range []string{HeaderAttempts, HeaderDeferrals, HeaderSeal} {
		cp.Header.Del(k)
	}
	cp.Header.Set(HeaderFirstSeen, msg.FirstSeen.UTC().Format(time.RFC3339Nano))
	if msg.deferrals > 0 {
		cp.Header.Set(HeaderDeferrals, strconv.Itoa(msg.deferrals))
	}
	edit(cp.Header)
	cp.Header.Set(HeaderSeal, w.seal(cp.Subject, cp.Data, cp.Header))
	if to != "" {
		cp.Header.Set(HeaderDeferredSubject, cp.Subject)
		cp.Subject = to
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if _, err := w.publishHealing(pctx, cp); err != nil {
		return err
	}
	if err := m.Ack(); err != nil {
		log.Warn("copy stored but original not acked; it will be handled twice", "err", err)
	}
	return nil
}

// handBack returns a message for immediate redelivery without spending an
// attempt: a fresh copy carries the attempts used so far (not this one) and
// replaces the original. If the copy cannot be stored, a plain Nak does it
// at the cost of an attempt.
func (w *Worker) handBack(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, msg *Message, log *slog.Logger) {
	if w.cfg.SharedStream {
		// A copy would reach every other reader of the stream.
		_ = m.Nak()
		return
	}
	// Hand-backs happen at shutdown, after the grace period: a short wait.
	err := w.replace(ctx, m, msg, "", 5*time.Second, log, func(h nats.Header) {
		h.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%d.%d.back", meta.Stream, meta.Sequence.Stream, meta.NumDelivered))
		h.Set(HeaderAttempts, strconv.Itoa(msg.Attempt-1))
	})
	if err != nil {
		log.Debug("cannot re-publish handed-back message; returning it as is", "err", err)
		_ = m.Nak()
	}
}
