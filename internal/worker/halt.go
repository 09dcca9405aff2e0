package worker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

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
	released chan struct{} // closed while the latch is not set; replaced on set
}

func newLatch() *latch {
	ch := make(chan struct{})
	close(ch)
	return &latch{released: ch}
}

// trip sets the latch and reports whether the caller set it (and so must
// probe and release it).
func (l *latch) trip() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set {
		return false
	}
	l.set = true
	l.released = make(chan struct{})
	return true
}

// release lets intake go on and wakes everyone waiting.
func (l *latch) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set {
		l.set = false
		close(l.released)
	}
}

func (l *latch) isSet() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.set
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
	prober := w.latch.trip()
	if prober {
		w.cfg.Observer.Halted(w.cfg.Stage, true)
		log.Error("stage halted; probing until Assemblyline accepts calls again", "err", cause, "kind", failure.KindOf(cause))
	}
	if !prober {
		// Someone else probes; wait until they report success.
		if err := w.latch.wait(ctx); err != nil {
			return nil, failure.Wrap(failure.Canceled, err)
		}
		return j.handle(ctx)
	}
	for probe := 1; ; probe++ {
		if !sleepCtx(ctx, w.cfg.HaltProbe(probe)) {
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

// HaltError is returned by Run in FailFast mode when the stage cannot go on.
type HaltError struct {
	Stage string
	Err   error
}

// Error says which stage halted and why.
func (e *HaltError) Error() string { return fmt.Sprintf("%s halted: %v", e.Stage, e.Err) }

// Unwrap returns the handler's error.
func (e *HaltError) Unwrap() error { return e.Err }
