package searcher_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// heldAcks publishes through real JetStream but hands the acknowledgements
// to the searcher only once released, so a test can look at the state
// bucket while SIDs are stored but not yet acknowledged to the searcher.
type heldAcks struct {
	js        jetstream.JetStream
	release   chan struct{}
	published atomic.Int64
}

func (h *heldAcks) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	f, err := h.js.PublishMsgAsync(m, opts...)
	if err != nil {
		return nil, err
	}
	h.published.Add(1)
	return &heldFuture{PubAckFuture: f, h: h}, nil
}

type heldFuture struct {
	jetstream.PubAckFuture
	h    *heldAcks
	once sync.Once
	ok   chan *jetstream.PubAck
	err  chan error
}

func (f *heldFuture) start() {
	f.once.Do(func() {
		f.ok, f.err = make(chan *jetstream.PubAck, 1), make(chan error, 1)
		go func() {
			<-f.h.release
			select {
			case a := <-f.PubAckFuture.Ok():
				f.ok <- a
			case err := <-f.PubAckFuture.Err():
				f.err <- err
			}
		}()
	})
}

func (f *heldFuture) Ok() <-chan *jetstream.PubAck { f.start(); return f.ok }
func (f *heldFuture) Err() <-chan error            { f.start(); return f.err }

// TestWatermarkIsStoredOnlyAfterItsSIDsWereAcknowledged: the checkpoint is
// written after JetStream acknowledged every SID it covers, never before;
// with the embedded server's sync-always store that order holds on disk
// too, so a power loss cannot leave a watermark ahead of its SIDs.
func TestWatermarkIsStoredOnlyAfterItsSIDsWereAcknowledged(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 5, Submissions: 60})
	want := match(sim, threshold, normal)
	e := newEnv(t)
	pub := &heldAcks{js: e.js, release: make(chan struct{})}
	s := searcher.New(al, pub, e.kv, searcher.Config{Threshold: threshold, Rows: 500, Logger: quiet})
	key := searcher.CheckpointKey(searcher.Scope{Threshold: threshold})

	done := make(chan error, 1)
	go func() { _, err := s.Sweep(context.Background()); done <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for pub.published.Load() < int64(len(want)) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d SIDs published", pub.published.Load(), len(want))
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time enough for a premature checkpoint
	if _, _, ok := e.checkpoint(key); ok {
		t.Fatal("the checkpoint was stored before the SIDs it covers were acknowledged")
	}
	close(pub.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cp, _, ok := e.checkpoint(key); !ok || !cp.Watermark.Equal(latest(want)) {
		t.Errorf("checkpoint after the acks: %+v, %v", cp, ok)
	}
}
