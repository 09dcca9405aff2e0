package worker_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// deferredCount is what the server counts in the scorer's deferred store
// (the figure behind alharvest_deferred_messages).
func (f *fixture) deferredCount() uint64 {
	f.t.Helper()
	s, err := f.js.Stream(context.Background(), messages.StreamDeferred)
	if err != nil {
		f.t.Fatal(err)
	}
	return s.CachedInfo().State.Msgs
}

// drained reports whether neither the work queue nor the deferred store
// holds a message: a deferred copy leaves the work queue while it waits.
func (f *fixture) drained() bool {
	return f.streamMsgs(messages.StreamSIDs) == 0 && f.deferredCount() == 0
}

// TestDeferredMessagesLeaveMaxAckPendingFree: with MaxAckPending 5, ten
// submissions still running are deferred, and new work still flows while
// they wait; each comes back at its time, its attempts unspent. On a work
// queue that keeps deferred copies itself, the ten fill MaxAckPending
// (delivered early, put back with a delay) and nothing new is handled until
// their delay is over.
func TestDeferredMessagesLeaveMaxAckPendingFree(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	cons, err := broker.Consumer(context.Background(), f.js, messages.StreamSIDs, messages.ConsumerScorer,
		broker.ConsumerConfig{AckWait: 5 * time.Second, MaxAckPending: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.cons = cons

	const wait = 4 * time.Second
	var mu sync.Mutex
	deferredAt := map[string]time.Time{}
	backAfter := map[string]time.Duration{}
	backAttempt := map[string]int{}
	var fresh atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		sid, _ := messages.DecodeSID(m.Data)
		if !strings.HasPrefix(sid.SID, "running") {
			fresh.Add(1)
			return nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		if at, ok := deferredAt[sid.SID]; ok {
			backAfter[sid.SID] = time.Since(at)
			backAttempt[sid.SID] = m.Attempt
			return nil, nil
		}
		deferredAt[sid.SID] = time.Now()
		return nil, failure.Errorf(failure.NotReady, "submission is submitted, not completed")
	}), worker.Config{MaxAttempts: 2, DeferDelay: func(int) time.Duration { return wait }})

	for i := range 10 {
		f.publishSID("running" + string(rune('a'+i)))
	}
	testenv.Eventually(t, 10*time.Second, "ten deferred copies stored", func() bool { return f.deferredCount() == 10 })
	for i := range 10 {
		f.publishSID("new" + string(rune('a'+i)))
	}
	testenv.Eventually(t, 10*time.Second, "new work handled", func() bool { return fresh.Load() == 10 })
	mu.Lock()
	early := len(backAfter)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("%d deferred messages came back before new work went through; the test cannot tell", early)
	}
	// The last acks of the new work travel asynchronously; once they land,
	// nothing may stay ack-pending on the work consumer while the deferred
	// copies still wait out their delay.
	var pending int
	testenv.Eventually(t, 2*time.Second, "no ack-pending on the work consumer", func() bool {
		ci, err := f.cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pending = ci.NumAckPending
		return pending == 0
	})
	mu.Lock()
	early = len(backAfter)
	mu.Unlock()
	if pending == 0 && early != 0 {
		t.Fatalf("%d deferred messages came back before the work consumer was seen idle; the test cannot tell", early)
	}

	testenv.Eventually(t, 20*time.Second, "deferred messages back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(backAfter) == 10
	})
	mu.Lock()
	defer mu.Unlock()
	for sid, d := range backAfter {
		if d < wait {
			t.Errorf("%s came back after %s, before its %s", sid, d, wait)
		}
		if backAttempt[sid] != 1 {
			t.Errorf("%s came back at attempt %d, want 1 (waiting spends no attempt)", sid, backAttempt[sid])
		}
	}
	testenv.Eventually(t, 5*time.Second, "deferred store and queue drained", f.drained)
	if n := len(f.dlq()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// TestForgedDeferredCopyIsDeadLettered: a message published into the
// deferred store by anyone but the stage cannot be directed to a work
// subject; it is dead-lettered with its reason, not lost and not run.
func TestForgedDeferredCopyIsDeadLettered(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{})
	m := nats.NewMsg(messages.DeferredSubject(messages.StageScorer))
	m.Data = []byte(`{"sid":"forged"}`)
	m.Header.Set(worker.HeaderDeferredSubject, messages.SubjectFiles)
	if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "dead letter", func() bool { return len(f.dlq()) == 1 })
	if reason := f.dlq()[0].Header.Get(messages.HeaderReason); !strings.Contains(reason, "not a deferred copy") {
		t.Errorf("reason %q", reason)
	}
	testenv.Eventually(t, 5*time.Second, "deferred store drained", func() bool { return f.deferredCount() == 0 })
	if n := f.streamMsgs(messages.StreamFiles); n != 0 || handled.Load() != 0 {
		t.Errorf("forged copy reached work: %d files, %d handled", n, handled.Load())
	}
}

// TestDeletedDeferredConsumerIsRecreated: an operator deletes a stage's
// deferred consumer; the worker binds a new one and deferred messages still
// come back to work.
func TestDeletedDeferredConsumerIsRecreated(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var calls atomic.Int32
	rebind := func(ctx context.Context) (jetstream.Consumer, error) {
		return broker.DeferredConsumer(ctx, f.js, messages.StageScorer, 0, 1, nil)
	}
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		if calls.Add(1) == 1 {
			return nil, failure.Errorf(failure.NotReady, "submission is submitted, not completed")
		}
		return nil, nil
	}), worker.Config{RebindDeferred: rebind, DeferDelay: func(int) time.Duration { return 2 * time.Second }})
	f.publishSID("running")
	testenv.Eventually(t, 5*time.Second, "deferred", func() bool { return f.deferredCount() == 1 })
	if err := f.js.DeleteConsumer(context.Background(), messages.StreamDeferred, messages.DeferredConsumer(messages.StageScorer)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "deferred message handled again through a new consumer", func() bool {
		return calls.Load() == 2 && f.drained()
	})
}

// TestFullDeferredStoreDelaysInPlace: past the store's bound a deferral is
// refused; the message waits in its work queue instead (an attempt spent),
// and nothing is lost.
func TestFullDeferredStoreDelaysInPlace(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	if err := broker.Provision(context.Background(), f.js, broker.Topology{DeferredMax: 1}, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	attempts := map[string][]int{}
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		sid, _ := messages.DecodeSID(m.Data)
		mu.Lock()
		defer mu.Unlock()
		calls[sid.SID]++
		attempts[sid.SID] = append(attempts[sid.SID], m.Attempt)
		if calls[sid.SID] == 1 {
			return nil, failure.Errorf(failure.NotReady, "submission is submitted, not completed")
		}
		return nil, nil
	}), worker.Config{Concurrency: 2, DeferDelay: func(int) time.Duration { return time.Second }})
	f.publishSID("runninga")
	f.publishSID("runningb")
	testenv.Eventually(t, 10*time.Second, "both handled after waiting", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls["runninga"] == 2 && calls["runningb"] == 2
	})
	testenv.Eventually(t, 5*time.Second, "drained", f.drained)
	if n := len(f.dlq()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
	mu.Lock()
	defer mu.Unlock()
	// One waited in the store (back at attempt 1), the other in place
	// (redelivered: attempt 2).
	a, b := attempts["runninga"][1], attempts["runningb"][1]
	if min(a, b) != 1 || max(a, b) != 2 {
		t.Errorf("attempts after waiting: %v and %v, want one 1 and one 2", attempts["runninga"], attempts["runningb"])
	}
}
