package worker

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// gate pauses intake while a stage is halted. The goroutine that closes it
// becomes the prober; everyone else waits for it to open again.
type gate struct {
	mu     sync.Mutex
	closed bool
	opened chan struct{} // closed when the gate opens; replaced on close
}

func newGate() *gate {
	ch := make(chan struct{})
	close(ch)
	return &gate{opened: ch}
}

// close shuts the gate and reports whether the caller closed it (and so
// must probe and reopen it).
func (g *gate) close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.closed = true
	g.opened = make(chan struct{})
	return true
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.opened)
	}
}

func (g *gate) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// wait blocks while the gate is closed.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.opened
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Backoff returns a schedule: the delay before retry n (n ≥ 1), growing
// exponentially from initial to max with ±20 % jitter so that replicas that
// failed together do not retry together. It is computed with
// backoff/v4's ExponentialBackOff.
func Backoff(initial, max time.Duration) func(n int) time.Duration {
	if initial <= 0 {
		initial = time.Millisecond
	}
	if max < initial {
		max = initial
	}
	return func(n int) time.Duration {
		b := backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(initial),
			backoff.WithMaxInterval(max),
			backoff.WithMultiplier(2),
			backoff.WithRandomizationFactor(0.2),
			backoff.WithMaxElapsedTime(0),
		)
		// Beyond ~log2(max/initial) steps the interval is capped anyway.
		steps := n
		if limit := int(math.Ceil(math.Log2(float64(max)/float64(initial)))) + 2; steps > limit {
			steps = limit
		}
		d := initial
		for i := 0; i < steps; i++ {
			d = b.NextBackOff()
		}
		if d > max+max/5 {
			d = max
		}
		return d
	}
}
