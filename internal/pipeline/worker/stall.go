package worker

import (
	"sync/atomic"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// settleClock is the Observer the worker reports to: it notes when a
// message was last settled and how many are in hand, for Activity, and
// passes every event on.
type settleClock struct {
	Observer
	last   *atomic.Int64 // Unix ns of the latest settle (or of New)
	inHand *atomic.Int64
}

func (c settleClock) Settled(stage string, o Outcome, k failure.Kind) {
	c.last.Store(time.Now().UnixNano())
	c.Observer.Settled(stage, o, k)
}

func (c settleClock) InFlight(stage string, delta int) {
	c.inHand.Add(int64(delta))
	c.Observer.InFlight(stage, delta)
}

// Activity is what a stall check needs from a worker: when it last settled
// a message (acked, retried, deferred, dead-lettered or handed back; its
// creation before the first), and how many messages it holds now.
func (w *Worker) Activity() (lastSettled time.Time, inHand int) {
	return time.Unix(0, w.settledAt.Load()), int(w.inHand.Load())
}
