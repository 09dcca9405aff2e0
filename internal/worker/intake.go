package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// dispatch pulls messages and hands each to a free handler goroutine.
func (w *Worker) dispatch(ctx context.Context, jobs chan<- jetstream.Msg) {
	retry := newExponential(100*time.Millisecond, 5*time.Second)
	failures := 0
	for ctx.Err() == nil {
		// A short pull expiry bounds how long a lost pull request can stall
		// intake: heartbeats stop, the iterator notices within the expiry and
		// pulls again.
		it, err := w.consumer.Messages(jetstream.PullMaxMessages(w.cfg.Concurrency), jetstream.PullExpiry(10*time.Second))
		if err != nil {
			failures++
			w.log.Warn("cannot start consuming; will retry", "err", err, "attempt", failures)
			w.rebindIfGone(ctx, err)
			sleepCtx(ctx, retry.NextBackOff())
			continue
		}
		failures = 0
		retry.Reset()
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
		if errors.Is(err, errPaused) {
			// Pull nothing while halted or paused: a buffered message's ack
			// deadline would run out unseen.
			_ = w.latch.wait(ctx)
		}
	}
}

// errPaused ends a pump when the stage halts or pauses.
var errPaused = errors.New("stage halted or paused")

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
		if w.latch.isSet() {
			return errPaused
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
		case <-w.latch.trippedCh():
			// Every handler is busy and the stage just stopped: this one
			// goes back without spending an attempt.
			w.handBackUnhandled(ctx, m)
			return errPaused
		case <-ctx.Done():
			w.handBackUnhandled(ctx, m)
			return ctx.Err()
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
