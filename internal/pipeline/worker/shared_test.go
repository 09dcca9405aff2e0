package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// On a stream other readers share, the worker never stores a copy of a
// message: a hand-back at shutdown is a Nak (redelivered at once, as the
// next attempt) and a "not ready" failure waits in place.
func TestSharedStreamNeverCopiesIntoTheStream(t *testing.T) {
	f := newFixture(t, 30*time.Second)
	started := make(chan struct{}, 10)
	stop := f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, failure.Wrap(failure.Canceled, ctx.Err())
	}), worker.Config{Grace: 300 * time.Millisecond, SharedStream: true})
	f.publishSID("a")
	<-started
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := f.streamMsgs(messages.StreamSIDs); n != 1 {
		t.Errorf("the stream holds %d messages after a hand-back, want the original alone", n)
	}

	var attempts []int
	var notReady atomic.Int32
	done := make(chan struct{})
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		attempts = append(attempts, m.Attempt)
		if notReady.Add(1) == 1 {
			return nil, failure.Errorf(failure.NotReady, "not yet")
		}
		close(done)
		return nil, nil
	}), worker.Config{SharedStream: true, Concurrency: 1})
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the message did not come back")
	}
	if len(attempts) != 2 || attempts[0] != 2 || attempts[1] != 3 {
		t.Errorf("attempts %v, want [2 3]: the hand-back and the wait count as deliveries", attempts)
	}
	if n := f.streamMsgs(messages.StreamDeferred); n != 0 {
		t.Errorf("%d copies in the deferred store", n)
	}
}

// A dead letter names the consumer that gave up, and its de-duplication ID
// is the consumer's, so feeds of different names keep one letter each.
func TestDeadLetterNamesItsConsumer(t *testing.T) {
	f := newFixture(t, 30*time.Second)
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.NotFound, "gone")
	}), worker.Config{})
	f.publishSID("a")
	testenv.Eventually(t, 10*time.Second, "a dead letter", func() bool { return len(f.dlq()) == 1 })
	h := f.dlq()[0].Header
	if h.Get(messages.HeaderConsumer) != messages.ConsumerScorer || h.Get(messages.HeaderMsgID) != "scorer.ALHARVEST_SIDS.1" {
		t.Errorf("consumer %q, id %q", h.Get(messages.HeaderConsumer), h.Get(messages.HeaderMsgID))
	}
}
