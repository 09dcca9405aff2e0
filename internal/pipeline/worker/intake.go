package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Intake asks the server for exactly as many messages as handlers wait for
// one, in one pull request, and hands each to one of them as it arrives.
// Nothing is ever pulled ahead of a handler, so no message waits in a client
// buffer with its ack deadline running while every handler is busy; and a
// busy stage still moves many messages per round trip instead of one (an
// earlier intake pulled one message per request: the one-command run took
// two to four times as long against an instant server).

// dispatch runs intake until ctx ends.
func (w *Worker) dispatch(ctx context.Context, jobs chan<- jetstream.Msg, ready chan struct{}) {
	retry := newExponential(100*time.Millisecond, 5*time.Second)
	failures := 0
	for ctx.Err() == nil {
		if w.latch.isSet() {
			// Pull nothing while halted or paused: the handlers could not
			// do anything with it.
			_ = w.latch.wait(ctx)
			continue
		}
		if nc := w.js.Conn(); nc != nil && !nc.IsConnected() {
			// A pull request made now would wait in the reconnect buffer
			// and reach the server after its inbox is gone: whatever the
			// server then sent it would wait out its ack deadline.
			sleepCtx(ctx, 100*time.Millisecond)
			continue
		}
		// Wait for a free handler, then count every other one.
		select {
		case <-ready:
		case <-w.latch.trippedCh():
			continue
		case <-ctx.Done():
			return
		}
		n := 1
	count:
		for n < w.cfg.Concurrency {
			select {
			case <-ready:
				n++
			default:
				break count
			}
		}
		got, err := w.pull(ctx, n, jobs)
		for ; got < n; got++ {
			ready <- struct{}{} // the handler still waits; never blocks
		}
		if err == nil {
			failures = 0
			retry.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		if failures == 1 {
			w.log.Debug("pull failed; pulling again", "err", err)
		} else {
			w.log.Warn("pulls keep failing; retrying", "err", err, "attempt", failures)
		}
		w.rebindIfGone(ctx, err)
		sleepCtx(ctx, retry.NextBackOff())
	}
}

// pull makes one pull request for n messages and gives each to a waiting
// handler. It returns how many it gave, once the request is over: n
// delivered, or StallAfter passed (the server ends the request a little
// before), or ctx ended.
func (w *Worker) pull(ctx context.Context, n int, jobs chan<- jetstream.Msg) (int, error) {
	fctx, cancel := context.WithTimeout(ctx, w.cfg.StallAfter)
	defer cancel()
	batch, err := w.consumer.Fetch(n, jetstream.FetchContext(fctx))
	if err != nil {
		return 0, err
	}
	got := 0
	handBack := false
	tripped := w.latch.trippedCh()
	dropped := w.droppedCh()
	for {
		var m jetstream.Msg
		var ok bool
		select {
		case m, ok = <-batch.Messages():
		case <-dropped:
			// The request went out on a connection that is gone, and
			// the server forgot it with the connection (or with its
			// store): nothing more comes for it. End it now, not at its
			// deadline, so the next pull is a new request as soon as the
			// connection is back, and finds out whether the consumer is.
			dropped = nil
			cancel()
			continue
		case <-tripped:
			// Halted or paused: what this request still delivers goes back
			// to the queue at once (the request is not cancelled, or what
			// the server sends meanwhile would wait out its ack deadline).
			handBack, tripped = true, nil
			continue
		case <-fctx.Done():
			// The client library ends the request at the deadline too;
			// this only guards against one that never does.
			ok = false
		}
		if !ok {
			break
		}
		if handBack || ctx.Err() != nil {
			w.handBackUnhandled(ctx, m)
			continue
		}
		jobs <- m // at once: a handler gave its token and waits
		got++
	}
	if ctx.Err() != nil {
		return got, ctx.Err()
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return got, w.consumerGone(ctx, err)
	}
	if got == 0 && !handBack {
		w.checkStall(ctx)
	}
	return got, nil
}

// consumerGone returns err, or the server's not-found error when the
// consumer (or its stream) no longer exists: a pull from a deleted
// consumer can fail with an error that does not say so (no responders),
// and only the server knows.
func (w *Worker) consumerGone(ctx context.Context, err error) error {
	return gone(ctx, w.consumer, err)
}

// gone returns err, or c's not-found error when c or its stream no longer
// exists, as the server tells.
func gone(ctx context.Context, c jetstream.Consumer, err error) error {
	if isGone(err) {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, ierr := c.Info(ictx); isGone(ierr) {
		return ierr
	}
	return err
}

// isGone reports whether err says a consumer or its stream does not exist.
func isGone(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrStreamNotFound)
}

// checkStall is told that a pull delivered nothing in StallAfter. That is
// normal for an idle queue; but with work waiting (NumPending) and room to
// deliver it (NumAckPending below MaxAckPending) the request or its
// answers were lost — a slow-consumer drop right after a reconnect does
// that — and an operator should know: it is logged and counted. The next
// pull is a new request either way.
func (w *Worker) checkStall(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	info, err := w.consumer.Info(ictx)
	cancel()
	if err != nil || info.NumPending == 0 ||
		(info.Config.MaxAckPending > 0 && info.NumAckPending >= info.Config.MaxAckPending) {
		return
	}
	w.log.Warn("consumer has work waiting but the pull delivered nothing; pulling anew",
		"pending", info.NumPending, "ack_pending", info.NumAckPending, "waited", w.cfg.StallAfter)
	w.cfg.Observer.ConsumerRestarted(w.cfg.Stage)
}

// rebindIfGone recreates the consumer when err says it, or its stream, no
// longer exists: the layout first (Heal), then the consumer (Rebind).
func (w *Worker) rebindIfGone(ctx context.Context, err error) {
	if w.cfg.Rebind == nil || ctx.Err() != nil || !isGone(err) {
		return
	}
	w.log.Warn("durable consumer is gone; recreating it", "err", err)
	w.heal(ctx)
	if c, rerr := w.cfg.Rebind(ctx); rerr == nil {
		w.consumer = c
	} else {
		w.log.Error("cannot recreate the consumer", "err", rerr)
	}
}

// heal has the layout re-created (Config.Heal) after an operation found a
// stream missing.
func (w *Worker) heal(ctx context.Context) {
	if w.cfg.Heal != nil {
		if err := w.cfg.Heal(ctx); err != nil {
			w.log.Warn("cannot re-create the NATS layout", "err", err)
		}
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
