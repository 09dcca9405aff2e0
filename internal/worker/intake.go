package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// dispatch pulls messages and hands each to a free handler goroutine.
func (w *Worker) dispatch(ctx context.Context, jobs chan<- jetstream.Msg, ready chan struct{}) {
	retry := newExponential(100*time.Millisecond, 5*time.Second)
	failures := 0
	for ctx.Err() == nil {
		// A short pull expiry bounds how long a lost pull request can stall
		// intake: heartbeats stop, the iterator notices within the expiry and
		// pulls again.
		// One message per pull request: pump asks for the next only when a
		// handler waits for it, so nothing sits in the client's buffer
		// past its ack deadline while the handlers are busy.
		it, err := w.consumer.Messages(jetstream.PullMaxMessages(1), jetstream.PullExpiry(10*time.Second))
		if err != nil {
			failures++
			w.log.Warn("cannot start consuming; will retry", "err", err, "attempt", failures)
			w.rebindIfGone(ctx, err)
			sleepCtx(ctx, retry.NextBackOff())
			continue
		}
		failures = 0
		retry.Reset()
		var waiting atomic.Int64 // since when pump waits in Next (UnixNano); 0 when not
		wctx, stopWatch := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { defer close(watched); w.watch(wctx, it, &waiting) }()
		err = w.pump(ctx, it, jobs, ready, &waiting)
		stopWatch()
		<-watched
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
func (w *Worker) pump(ctx context.Context, it jetstream.MessagesContext, jobs chan<- jetstream.Msg, ready chan struct{}, waiting *atomic.Int64) error {
	for {
		if w.latch.isSet() {
			return errPaused
		}
		// Wait for a free handler before pulling.
		select {
		case <-ready:
		case <-w.latch.trippedCh():
			return errPaused
		case <-ctx.Done():
			return ctx.Err()
		}
		waiting.Store(time.Now().UnixNano())
		m, err := it.Next(jetstream.NextContext(ctx))
		waiting.Store(0)
		if err != nil {
			ready <- struct{}{} // the handler still waits; never blocks
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
		case jobs <- m: // at once: a handler gave its token and waits
		case <-ctx.Done():
			w.handBackUnhandled(ctx, m)
			return ctx.Err()
		}
	}
}

// watch is intake's watchdog: it stops it, so that dispatch pulls anew,
// when pump has waited StallAfter for a message while the consumer has
// undelivered work and room to deliver it. A pull subscription that lost
// its messages (a slow consumer right after a reconnect) otherwise takes
// nothing, for good, while the queue fills.
func (w *Worker) watch(ctx context.Context, it jetstream.MessagesContext, waiting *atomic.Int64) {
	t := time.NewTicker(max(w.cfg.StallAfter/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		since := waiting.Load()
		if since == 0 || time.Since(time.Unix(0, since)) < w.cfg.StallAfter {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		info, err := w.consumer.Info(ictx)
		cancel()
		if err != nil || info.NumPending == 0 ||
			(info.Config.MaxAckPending > 0 && info.NumAckPending >= info.Config.MaxAckPending) {
			continue
		}
		if since != waiting.Load() {
			continue // a message arrived meanwhile
		}
		w.log.Warn("consumer has work waiting but the pull delivers nothing; re-creating it",
			"pending", info.NumPending, "ack_pending", info.NumAckPending,
			"idle", time.Since(time.Unix(0, since)).Round(time.Millisecond))
		w.cfg.Observer.ConsumerRestarted(w.cfg.Stage)
		it.Stop()
		return
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
