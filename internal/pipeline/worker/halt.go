package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/failure"
)

// latch holds intake back while a stage is halted. The goroutine that sets
// it becomes the prober; everyone else waits for it to be released. (The
// quota limiter that paces Assemblyline calls is internal/quota's Gate; this
// is not that.)
type latch struct {
	mu       sync.Mutex
	set      bool
	reason   string        // why it is set, for readiness reports
	released chan struct{} // closed while the latch is not set; replaced on set
	tripped  chan struct{} // closed while the latch is set; replaced on release
}

func newLatch() *latch {
	ch := make(chan struct{})
	close(ch)
	return &latch{released: ch, tripped: make(chan struct{})}
}

// trip sets the latch and reports whether the caller set it (and so must
// probe and release it).
func (l *latch) trip(reason string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set {
		return false
	}
	l.set = true
	l.reason = reason
	l.released = make(chan struct{})
	close(l.tripped)
	return true
}

// release lets intake go on and wakes everyone waiting.
func (l *latch) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set {
		l.set = false
		l.reason = ""
		l.tripped = make(chan struct{})
		close(l.released)
	}
}

func (l *latch) isSet() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set
}

// why returns the reason the latch is set, or "" when it is not.
func (l *latch) why() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reason
}

// trippedCh returns a channel closed once the latch is set.
func (l *latch) trippedCh() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tripped
}

// wait blocks while the latch is set.
func (l *latch) wait(ctx context.Context) error {
	l.mu.Lock()
	ch := l.released
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// halt pauses the stage until the handler succeeds again (or, in FailFast
// mode, stops the run).
func (w *Worker) halt(ctx context.Context, j job, cause error, log *slog.Logger) ([]*nats.Msg, error) {
	if w.cfg.FailFast {
		w.fatalOnce.Do(func() {
			w.fatal = &HaltError{Stage: w.cfg.Stage, Err: cause}
			log.Error("stage cannot go on", "err", cause, "kind", failure.KindOf(cause))
			w.stopRun()
		})
		return nil, cause
	}
	// The cause names the condition (credentials, quota, a full disk);
	// errors never carry secrets.
	prober := w.latch.trip(fmt.Sprintf("halted (%s): %s", failure.KindOf(cause), failure.Clip(cause.Error(), 300)))
	if prober {
		w.cfg.Observer.Halted(w.cfg.Stage, true)
		log.Error("stage halted; probing until the condition clears", "err", cause, "kind", failure.KindOf(cause))
	}
	if !prober {
		// Someone else probes; wait until they report success.
		if err := w.latch.wait(ctx); err != nil {
			return nil, failure.Wrap(failure.Canceled, err)
		}
		return j.handle(ctx)
	}
	schedule := w.cfg.HaltProbe
	if failure.KindOf(cause) == failure.Resources {
		// Descriptors and memory come back as soon as something closes,
		// not when an operator acts: probe at the pace of a pause.
		schedule = w.cfg.PauseProbe
	}
	for probe := 1; ; probe++ {
		if !sleepCtx(ctx, schedule(probe)) {
			w.latch.release()
			return nil, failure.Wrap(failure.Canceled, ctx.Err())
		}
		outs, err := j.handle(ctx)
		if err == nil || failure.ActionFor(err) != failure.Halt {
			w.latch.release()
			w.cfg.Observer.Halted(w.cfg.Stage, false)
			log.Info("stage resumed", "probes", probe)
			return outs, err
		}
		log.Warn("still halted", "err", err, "probe", probe)
	}
}

// pause holds the stage while the server is away, if it is: after cause,
// a failure that may be the server's (failure.ServerSuspect), it probes the
// server, and returns nil when the stage paused and the server answers
// again (the caller handles the message again), cause when the failure was
// the message's own, or a Canceled error when ctx ended meanwhile. The
// message's attempt is not spent while paused: the caller's heartbeat keeps
// it, and intake takes nothing new.
func (w *Worker) pause(ctx context.Context, cause error, log *slog.Logger) error {
	if w.latch.isSet() {
		// Paused (or halted) already: wait with everyone else.
		if err := w.latch.wait(ctx); err != nil {
			return failure.Wrap(failure.Canceled, err)
		}
		return nil
	}
	perr := w.probe(ctx)
	if failure.ActionAfterProbe(cause, perr) != failure.Pause {
		return cause
	}
	reason := "paused: assemblyline is away: " + failure.Clip(perr.Error(), 300)
	if !w.latch.trip(reason) {
		if err := w.latch.wait(ctx); err != nil {
			return failure.Wrap(failure.Canceled, err)
		}
		return nil
	}
	w.cfg.Observer.Halted(w.cfg.Stage, true)
	log.Error("assemblyline is away; stage paused, keeping its messages and probing until it answers",
		"err", cause, "probe_err", perr, "kind", failure.KindOf(cause))
	start := time.Now()
	defer func() {
		w.latch.release()
		w.cfg.Observer.Halted(w.cfg.Stage, false)
	}()
	for probe := 1; ; probe++ {
		if !sleepCtx(ctx, w.cfg.PauseProbe(probe)) {
			return failure.Wrap(failure.Canceled, ctx.Err())
		}
		perr = w.probe(ctx)
		if !failure.ServerSuspect(perr) {
			log.Info("assemblyline answers again; stage resumed", "probes", probe, "paused", time.Since(start).Round(time.Millisecond))
			return nil
		}
		log.Warn("assemblyline still away", "err", perr, "probe", probe)
	}
}

// probe calls the stage's CheckUpstream with a bound of its own.
func (w *Worker) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return w.cfg.CheckUpstream(pctx)
}

// probeTimeout bounds one probe: a server that takes longer is as good as
// away.
const probeTimeout = 30 * time.Second

// HaltError is returned by Run in FailFast mode when the stage cannot go on.
type HaltError struct {
	Stage string
	Err   error
}

// Error says which stage halted and why.
func (e *HaltError) Error() string { return fmt.Sprintf("%s halted: %v", e.Stage, e.Err) }

// Unwrap returns the handler's error.
func (e *HaltError) Unwrap() error { return e.Err }
