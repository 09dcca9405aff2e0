package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// forward moves the stage's deferred copies back to their work subject as
// their Not-Before times come, until ctx ends. A copy that arrives early is
// put back with NakWithDelay for the rest of its wait: it is ack-pending on
// the deferred consumer, never on the work consumer, so any number of
// waiting submissions leaves the stage's MaxAckPending to new work.
func (w *Worker) forward(ctx context.Context) {
	retry := newExponential(100*time.Millisecond, 5*time.Second)
	deferred := w.cfg.Deferred
	for ctx.Err() == nil {
		// Forwarding is quick (a publish and an ack), so a small batch
		// pulled ahead never nears its ack deadline.
		it, err := deferred.Messages(jetstream.PullMaxMessages(64), jetstream.PullExpiry(10*time.Second))
		if err != nil {
			w.log.Warn("cannot consume deferred messages; will retry", "err", err)
			deferred = w.rebindDeferred(ctx, deferred, err)
			sleepCtx(ctx, retry.NextBackOff())
			continue
		}
		retry.Reset()
		stop := context.AfterFunc(ctx, it.Stop)
		for {
			m, err := it.Next()
			if err != nil {
				if ctx.Err() == nil {
					w.log.Warn("deferred messages pull ended; pulling again", "err", err)
					deferred = w.rebindDeferred(ctx, deferred, err)
					sleepCtx(ctx, retry.NextBackOff())
				}
				break
			}
			w.forwardOne(ctx, m)
		}
		stop()
		it.Stop()
	}
}

// rebindDeferred recreates the deferred consumer when err says it no
// longer exists, and returns the consumer to pull from.
func (w *Worker) rebindDeferred(ctx context.Context, c jetstream.Consumer, err error) jetstream.Consumer {
	if w.cfg.RebindDeferred == nil || ctx.Err() != nil {
		return c
	}
	if err = gone(ctx, c, err); !isGone(err) {
		return c
	}
	w.log.Warn("deferred consumer is gone; recreating it", "err", err)
	w.heal(ctx)
	nc, rerr := w.cfg.RebindDeferred(ctx)
	if rerr != nil {
		w.log.Error("cannot recreate the deferred consumer", "err", rerr)
		return c
	}
	return nc
}

// forwardOne moves one deferred copy to its work subject if its time has
// come, or puts it back until then.
func (w *Worker) forwardOne(ctx context.Context, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		w.log.Error("deferred message without JetStream metadata", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	h := m.Headers()
	if t, ok := w.notBefore(h, meta); ok {
		if wait := time.Until(t); wait > 0 {
			_ = m.NakWithDelay(wait)
			return
		}
	}
	log := w.log.With("deferred_seq", meta.Sequence.Stream)
	// Only a copy this stage made goes back to work: the seal covers the
	// work subject, so nobody else can direct a message anywhere through
	// the deferred store.
	target := h.Get(HeaderDeferredSubject)
	if target == "" || !w.sealed(target, m.Data(), h) {
		w.deadLetter(ctx, m, meta, "in the deferred store but not a deferred copy of this stage (no valid seal)", failure.Invalid, log)
		return
	}
	cp := nats.NewMsg(target)
	cp.Data = m.Data()
	copyHeaders(cp.Header, h) // drops Not-Before: the wait is over
	// A second forwarding of the same copy (a lost ack) is de-duplicated.
	cp.Header.Set(messages.HeaderMsgID, fmt.Sprintf("%s.%d.due", meta.Stream, meta.Sequence.Stream))
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.PublishTimeout)
	defer cancel()
	if _, err := w.js.PublishMsg(pctx, cp); err != nil {
		// The work queue is full or away: the copy waits a little longer.
		delay := w.cfg.RetryDelay(1)
		log.Warn("cannot move deferred message back to work; will try again", "err", err, "retry_in", delay)
		_ = m.NakWithDelay(delay)
		return
	}
	if err := m.Ack(); err != nil {
		log.Warn("deferred message moved but not acked; its second copy will be de-duplicated", "err", err)
	}
}
