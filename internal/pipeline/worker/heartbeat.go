package worker

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heartbeat keeps the message's ack deadline from passing while it is
// handled; the returned func stops it.
func (w *Worker) heartbeat(m jetstream.Msg) func() {
	every := w.cfg.AckWait / 3
	if every <= 0 {
		every = time.Second
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_ = m.InProgress()
			case <-stop:
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}
