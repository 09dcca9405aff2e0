package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// fixture is a real JetStream server with alharvest's layout and a scorer
// consumer, for driving a Worker with test handlers.
type fixture struct {
	t        *testing.T
	js       jetstream.JetStream
	nc       *nats.Conn
	cons     jetstream.Consumer
	deferred jetstream.Consumer // the scorer's deferred store
}

func newFixture(t *testing.T, ackWait time.Duration) *fixture {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	cons, err := broker.Consumer(context.Background(), js, messages.StreamSIDs, messages.ConsumerScorer,
		broker.ConsumerConfig{AckWait: ackWait}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deferred, err := broker.DeferredConsumer(context.Background(), js, messages.StageScorer, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, js: js, nc: nc, cons: cons, deferred: deferred}
}

func (f *fixture) publishSID(sid string) {
	f.t.Helper()
	m, err := messages.NewSIDMsg(sid, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) publishRaw(data string) {
	f.t.Helper()
	if _, err := f.js.Publish(context.Background(), messages.SubjectSIDs, []byte(data)); err != nil {
		f.t.Fatal(err)
	}
}

// run starts a worker over a handler of raw payloads and returns a stop
// function that waits for it.
func (f *fixture) run(h worker.Handler[[]byte], cfg worker.Config) (stop func() error) {
	f.t.Helper()
	return start(f, h, cfg)
}

// start starts a worker over any handler; see run.
func start[T any](f *fixture, h worker.Handler[T], cfg worker.Config) (stop func() error) {
	f.t.Helper()
	if cfg.Stage == "" {
		cfg.Stage = messages.StageScorer
	}
	if cfg.RetryDelay == nil {
		cfg.RetryDelay = func(int) time.Duration { return 50 * time.Millisecond }
	}
	if cfg.DeferDelay == nil {
		cfg.DeferDelay = func(int) time.Duration { return 100 * time.Millisecond }
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLog()
	}
	if cfg.Deferred == nil {
		cfg.Deferred = f.deferred
	}
	w := worker.New(f.js, f.cons, h, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	f.t.Cleanup(func() { _ = stop() })
	return stop
}

func (f *fixture) streamMsgs(name string) uint64 {
	f.t.Helper()
	s, err := f.js.Stream(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return info.State.Msgs
}

func (f *fixture) dlq() []*jetstream.RawStreamMsg {
	f.t.Helper()
	s, err := f.js.Stream(context.Background(), messages.StreamDLQ)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(context.Background(), seq, jetstream.WithGetMsgSubject(messages.SubjectDLQPrefix+">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

func fileOut(sid string) *nats.Msg {
	m, _ := messages.NewFileMsg(messages.File{SHA256: fmt.Sprintf("%064x", len(sid)), SID: sid, Score: 7000})
	return m
}

func TestSuccessPublishesOutputsThenAcks(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		req, err := messages.DecodeSID(m.Data)
		if err != nil {
			return nil, failure.Wrap(failure.Invalid, err)
		}
		if m.Attempt != 1 {
			t.Errorf("attempt = %d, want 1", m.Attempt)
		}
		return []*nats.Msg{fileOut(req.SID)}, nil
	}), worker.Config{Concurrency: 3})
	for i := range 20 {
		f.publishSID("sid" + strconv.Itoa(i))
	}
	testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
	// Outputs are de-duplicated by hash: "sid0".."sid9" have lengths 4, "sid10".. 5.
	if got := f.streamMsgs(messages.StreamFiles); got != 2 {
		t.Errorf("files stream has %d messages, want 2 distinct hashes", got)
	}
	if handled.Load() != 20 {
		t.Errorf("handled %d, want 20", handled.Load())
	}
	if n := len(f.dlq()); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name        string
		payload     string
		failUntil   int // attempts that fail (0 = all)
		err         error
		wantDLQ     bool
		wantReason  string
		wantHandled int
	}{
		{name: "transient then success", failUntil: 2, err: failure.Errorf(failure.Unavailable, "503 bad gateway"), wantHandled: 3},
		{name: "transient forever is dead-lettered after max attempts", err: failure.Errorf(failure.Unavailable, "HTTP 502"),
			wantDLQ: true, wantReason: "gave up after 4 attempts: HTTP 502", wantHandled: 4},
		{name: "permanent goes straight to the DLQ", err: failure.Errorf(failure.NotFound, "Submission ID x does not exists."),
			wantDLQ: true, wantReason: "Submission ID x does not exists.", wantHandled: 1},
		{name: "unclassified errors are retried", failUntil: 1, err: errors.New("surprise"), wantHandled: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 5*time.Second)
			var handled atomic.Int32
			f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
				n := int(handled.Add(1))
				if m.Attempt != n {
					t.Errorf("attempt = %d on handling %d", m.Attempt, n)
				}
				if tc.failUntil == 0 || n <= tc.failUntil {
					return nil, tc.err
				}
				return nil, nil
			}), worker.Config{MaxAttempts: 4})
			f.publishSID("abc")
			testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
			time.Sleep(200 * time.Millisecond) // no stray redelivery
			if int(handled.Load()) != tc.wantHandled {
				t.Errorf("handled %d times, want %d", handled.Load(), tc.wantHandled)
			}
			dl := f.dlq()
			if !tc.wantDLQ {
				if len(dl) != 0 {
					t.Fatalf("unexpected dead letter: %v", dl[0].Header)
				}
				return
			}
			if len(dl) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dl))
			}
			h := dl[0].Header
			if got := h.Get(messages.HeaderReason); got != tc.wantReason {
				t.Errorf("reason %q, want %q", got, tc.wantReason)
			}
			if h.Get(messages.HeaderStage) != messages.StageScorer || h.Get(messages.HeaderOriginalSubject) != messages.SubjectSIDs {
				t.Errorf("headers %v", h)
			}
			if h.Get(messages.HeaderDeliveries) != strconv.Itoa(tc.wantHandled) {
				t.Errorf("deliveries %q, want %d", h.Get(messages.HeaderDeliveries), tc.wantHandled)
			}
			if _, err := time.Parse(time.RFC3339Nano, h.Get(messages.HeaderFailedAt)); err != nil {
				t.Errorf("failed-at: %v", err)
			}
			if dl[0].Subject != messages.DLQSubject(messages.StageScorer) {
				t.Errorf("dlq subject %s", dl[0].Subject)
			}
			if string(dl[0].Data) != `{"sid":"abc","source":"test"}` {
				t.Errorf("payload changed: %s", dl[0].Data)
			}
		})
	}
}

func TestInvalidPayloadDeadLettersWithReason(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	start(f, sidHandler(func(context.Context, messages.SID, *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{})
	f.publishRaw("../../etc/passwd")
	testenv.Eventually(t, 10*time.Second, "dead letter", func() bool { return len(f.dlq()) == 1 })
	reason := f.dlq()[0].Header.Get(messages.HeaderReason)
	if want := `invalid message: sid "../../etc/passwd" has a character outside base62 at position 0`; reason != want {
		t.Errorf("reason %q, want %q", reason, want)
	}
	// The removal follows the dead letter; it is asynchronous.
	testenv.Eventually(t, 5*time.Second, "work queue emptied", f.drained)
	if n := handled.Load(); n != 0 {
		t.Errorf("an undecodable message reached the handler %d times", n)
	}
}

func TestDeferDoesNotUseUpAttempts(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	var attempts []int
	var mu sync.Mutex
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		n := handled.Add(1)
		mu.Lock()
		attempts = append(attempts, m.Attempt)
		mu.Unlock()
		if n <= 5 {
			return nil, failure.Errorf(failure.NotReady, "submission is submitted, not completed")
		}
		if n == 6 {
			return nil, failure.Errorf(failure.Unavailable, "one transient failure after deferrals")
		}
		return []*nats.Msg{fileOut("x")}, nil
	}), worker.Config{MaxAttempts: 3})
	f.publishSID("abc")
	testenv.Eventually(t, 20*time.Second, "handled 7 times", func() bool { return handled.Load() == 7 })
	testenv.Eventually(t, 5*time.Second, "queue drained", f.drained)
	if n := len(f.dlq()); n != 0 {
		t.Fatalf("dead-lettered despite attempts budget (%d letters): %s", n, f.dlq()[0].Header.Get(messages.HeaderReason))
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{1, 1, 1, 1, 1, 1, 2}
	if fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Errorf("attempts %v, want %v", attempts, want)
	}
	if f.streamMsgs(messages.StreamFiles) != 1 {
		t.Error("output not published")
	}
}

func TestDeferIsBoundedByAge(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.NotReady, "submission is submitted, not completed")
	}), worker.Config{MaxDeferAge: 500 * time.Millisecond})
	f.publishSID("abc")
	testenv.Eventually(t, 10*time.Second, "dead letter", func() bool { return len(f.dlq()) == 1 })
	reason := f.dlq()[0].Header.Get(messages.HeaderReason)
	if !strings.Contains(reason, "still not ready after") || !strings.Contains(reason, "not completed") {
		t.Errorf("reason %q", reason)
	}
	testenv.Eventually(t, 5*time.Second, "queue drained", f.drained)
}

func TestCrashLoopIsDeadLettered(t *testing.T) {
	const ackWait = 300 * time.Millisecond
	f := newFixture(t, ackWait)
	f.publishSID("abc")
	// Something takes the message and never settles it, three times over:
	// the signature of a process that dies while handling it.
	for range 3 {
		b, err := f.cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for range b.Messages() {
			n++
		}
		if n != 1 {
			t.Fatalf("fetched %d", n)
		}
		time.Sleep(ackWait + 100*time.Millisecond)
	}
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{MaxAttempts: 3, AckWait: ackWait})
	testenv.Eventually(t, 10*time.Second, "dead letter", func() bool { return len(f.dlq()) == 1 })
	if handled.Load() != 0 {
		t.Error("a crash-looping message was handled again")
	}
	if r := f.dlq()[0].Header.Get(messages.HeaderReason); !strings.Contains(r, "without reaching an outcome") {
		t.Errorf("reason %q", r)
	}
}

func TestHeartbeatKeepsSlowWorkFromRedelivery(t *testing.T) {
	const ackWait = 600 * time.Millisecond
	f := newFixture(t, ackWait)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		time.Sleep(4 * ackWait)
		return nil, nil
	}), worker.Config{AckWait: ackWait, Concurrency: 2})
	f.publishSID("slow")
	testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
	if handled.Load() != 1 {
		t.Errorf("handled %d times; the heartbeat did not hold the message", handled.Load())
	}
}

func TestHaltFailFastStopsRunAndKeepsMessage(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	w := worker.New(f.js, f.cons, worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.Auth, "Invalid user or APIKey")
	}), worker.Config{Stage: messages.StageScorer, FailFast: true, Grace: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	f.publishSID("abc")
	// Run stops by itself, without its context being cancelled.
	select {
	case err := <-errc:
		var herr *worker.HaltError
		if !errors.As(err, &herr) || failure.KindOf(err) != failure.Auth {
			t.Fatalf("Run returned %v, want a HaltError of kind auth", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	// The message is handed back as a copy; the original leaves the queue
	// once the server has processed its (asynchronous) ack.
	testenv.Eventually(t, 5*time.Second, "the message kept exactly once", func() bool { return f.streamMsgs(messages.StreamSIDs) == 1 })
	if n := len(f.dlq()); n != 0 {
		t.Errorf("%d dead letters; a halt must not dead-letter", n)
	}
}

func TestHaltPausesAndProbesUntilFixed(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var calls atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		if calls.Add(1) <= 3 {
			return nil, failure.Errorf(failure.QuotaDaily, "You've exceeded your daily maximum API calls quota of 5")
		}
		return nil, nil
	}), worker.Config{HaltProbe: func(int) time.Duration { return 100 * time.Millisecond }, MaxAttempts: 2})
	for i := range 5 {
		f.publishSID("s" + strconv.Itoa(i))
	}
	testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
	if n := len(f.dlq()); n != 0 {
		t.Errorf("%d dead letters; halts must not use up attempts", n)
	}
}

func TestShutdownHandsBackInFlightWork(t *testing.T) {
	f := newFixture(t, 30*time.Second)
	started := make(chan struct{}, 10)
	stop := f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		started <- struct{}{}
		<-ctx.Done() // never finishes on its own
		return nil, failure.Wrap(failure.Canceled, ctx.Err())
	}), worker.Config{Grace: 300 * time.Millisecond, Concurrency: 2})
	f.publishSID("a")
	f.publishSID("b")
	<-started
	<-started
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	// Handed back, not waiting out the 30 s ack deadline: a new worker gets
	// both at once.
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{})
	testenv.Eventually(t, 5*time.Second, "messages redelivered promptly", func() bool { return handled.Load() == 2 })
}

func TestShutdownLetsInFlightWorkFinish(t *testing.T) {
	f := newFixture(t, 30*time.Second)
	started := make(chan struct{})
	stop := f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return []*nats.Msg{fileOut("done")}, nil
	}), worker.Config{Grace: 5 * time.Second})
	f.publishSID("a")
	<-started
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "in-flight work finished during the grace period", func() bool {
		return f.streamMsgs(messages.StreamSIDs) == 0 && f.streamMsgs(messages.StreamFiles) == 1
	})

}

func TestPublishFailureRetriesInsteadOfAcking(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		if handled.Add(1) == 1 {
			// No stream captures this subject: JetStream cannot store it.
			return []*nats.Msg{nats.NewMsg("nowhere.at.all")}, nil
		}
		return nil, nil
	}), worker.Config{PublishTimeout: 2 * time.Second})
	f.publishSID("abc")
	testenv.Eventually(t, 15*time.Second, "queue drained", f.drained)
	if handled.Load() != 2 {
		t.Errorf("handled %d times, want 2 (the first publish failed)", handled.Load())
	}
}

func TestBackoffSchedule(t *testing.T) {
	tests := []struct {
		name           string
		initial, limit time.Duration
		n              int
		nominal        time.Duration // the delay before jitter
	}{
		{name: "first retry", initial: time.Second, limit: 5 * time.Minute, n: 1, nominal: time.Second},
		{name: "doubles", initial: time.Second, limit: 5 * time.Minute, n: 2, nominal: 2 * time.Second},
		{name: "keeps doubling", initial: time.Second, limit: 5 * time.Minute, n: 6, nominal: 32 * time.Second},
		{name: "last step below the cap", initial: time.Second, limit: 5 * time.Minute, n: 9, nominal: 256 * time.Second},
		{name: "capped", initial: time.Second, limit: 5 * time.Minute, n: 10, nominal: 5 * time.Minute},
		{name: "far past the cap", initial: time.Second, limit: 5 * time.Minute, n: 1000, nominal: 5 * time.Minute},
		{name: "no zero delays", initial: 0, limit: 0, n: 3, nominal: time.Millisecond},
		{name: "limit below initial", initial: time.Minute, limit: time.Second, n: 4, nominal: time.Minute},
		{name: "long schedules stay capped", initial: time.Hour, limit: 100 * 365 * 24 * time.Hour, n: 200, nominal: 100 * 365 * 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := worker.Backoff(tc.initial, tc.limit)
			lo, hi := tc.nominal-tc.nominal/5, tc.nominal+tc.nominal/5
			seen := map[time.Duration]bool{}
			for range 50 {
				d := b(tc.n)
				if d < lo || d > hi+1 || d <= 0 {
					t.Fatalf("delay %d = %s, want %s ± 20 %%", tc.n, d, tc.nominal)
				}
				seen[d] = true
			}
			// Jitter: replicas that failed together must not retry together.
			if len(seen) < 2 {
				t.Errorf("50 delays for retry %d all equal %s: no jitter", tc.n, tc.nominal)
			}
		})
	}
}

// sidHandler decodes SIDs, as the scorer does, and names them in logs.
type sidHandler func(ctx context.Context, sid messages.SID, m *worker.Message) ([]*nats.Msg, error)

func (sidHandler) Decode(m *worker.Message) (messages.SID, error) { return messages.DecodeSID(m.Data) }

func (h sidHandler) Handle(ctx context.Context, sid messages.SID, m *worker.Message) ([]*nats.Msg, error) {
	return h(ctx, sid, m)
}

func (sidHandler) LogAttrs(sid messages.SID) []slog.Attr {
	return []slog.Attr{slog.String("sid", sid.SID)}
}

func TestLogLinesNameTheMessage(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var buf testenv.Buffer
	start(f, sidHandler(func(context.Context, messages.SID, *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.NotFound, "Submission ID x does not exists.")
	}), worker.Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	f.publishRaw("abc")
	testenv.Eventually(t, 10*time.Second, "dead letter", func() bool { return len(f.dlq()) == 1 })
	// The line is written once the copy is stored and the original removed.
	testenv.Eventually(t, 5*time.Second, "log line", func() bool { return strings.Contains(buf.String(), `"msg":"dead-lettered"`) })
	line := buf.String()
	for _, want := range []string{`"msg":"dead-lettered"`, `"stage":"scorer"`, `"sid":"abc"`, `"attempt":1`} {
		if !strings.Contains(line, want) {
			t.Errorf("log lacks %s:\n%s", want, line)
		}
	}
}

// TestHandBacksDoNotSpendAttempts: a message handed back at every shutdown
// (rolling restarts with a backlog) must still get its full budget.
func TestHandBacksDoNotSpendAttempts(t *testing.T) {
	f := newFixture(t, 30*time.Second)
	f.publishSID("abc")
	for range 4 { // more stops than MaxAttempts
		started := make(chan struct{}, 1)
		stop := f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, failure.Wrap(failure.Canceled, ctx.Err())
		}), worker.Config{MaxAttempts: 3, Grace: 100 * time.Millisecond})
		<-started
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	var attempt atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		attempt.Store(int32(m.Attempt))
		return nil, nil
	}), worker.Config{MaxAttempts: 3})
	testenv.Eventually(t, 10*time.Second, "handled", func() bool { return attempt.Load() != 0 })
	if n := len(f.dlq()); n != 0 {
		t.Fatalf("dead-lettered after hand-backs: %s", f.dlq()[0].Header.Get(messages.HeaderReason))
	}
	if a := attempt.Load(); a != 1 {
		t.Errorf("attempt %d after only hand-backs, want 1", a)
	}
	testenv.Eventually(t, 5*time.Second, "queue drained", f.drained)
}

// TestPublishersControlHeadersDoNotBlockCopies: a publisher's JetStream
// expectations (Nats-Expected-Stream …) must not make the dead letter or the
// deferred copy fail forever.
func TestPublishersControlHeadersDoNotBlockCopies(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"dead letter", failure.Errorf(failure.NotFound, "Submission ID abc does not exists.")},
		{"deferral", failure.Errorf(failure.NotReady, "submission is submitted, not completed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 5*time.Second)
			var calls atomic.Int32
			f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
				if calls.Add(1) <= 2 {
					return nil, tc.err
				}
				return nil, nil
			}), worker.Config{MaxAttempts: 10, DeferDelay: func(int) time.Duration { return 50 * time.Millisecond }})
			m, _ := messages.NewSIDMsg("abc", "other-system")
			if _, err := f.js.PublishMsg(context.Background(), m, jetstream.WithExpectStream(messages.StreamSIDs)); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
			if tc.name == "dead letter" && len(f.dlq()) != 1 {
				t.Errorf("%d dead letters, want 1", len(f.dlq()))
			}
			if tc.name == "deferral" && (len(f.dlq()) != 0 || calls.Load() != 3) {
				t.Errorf("deferral: %d dead letters, %d calls", len(f.dlq()), calls.Load())
			}
		})
	}
}

// TestForgedNotBeforeIsCapped: a Not-Before far in the future, from any
// publisher, delays a message by at most one deferral interval.
func TestForgedNotBeforeIsCapped(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{DeferDelay: func(int) time.Duration { return 200 * time.Millisecond }})
	m, _ := messages.NewSIDMsg("abc", "")
	m.Header.Set(worker.HeaderNotBefore, "2999-01-01T00:00:00Z")
	m.Header.Set(worker.HeaderFirstSeen, "2999-01-01T00:00:00Z")
	if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "handled despite a forged Not-Before", func() bool { return handled.Load() == 1 })
}

// TestGenuineNotBeforeIsHonoured: the longest deferral the default schedule
// sets (10 min + 20 % jitter) is believed, for every message, not only when
// a random bound happens to allow it.
func TestGenuineNotBeforeIsHonoured(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{DeferDelay: worker.Backoff(15*time.Second, 10*time.Minute)}) // the default
	for i := range 20 {
		m, _ := messages.NewSIDMsg(fmt.Sprintf("held%d", i), "")
		m.Header.Set(worker.HeaderNotBefore, time.Now().Add(11*time.Minute+55*time.Second).UTC().Format(time.RFC3339Nano))
		if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	if n := handled.Load(); n != 0 {
		t.Errorf("%d of 20 deferred messages handled before their Not-Before", n)
	}
}

// TestDeletedConsumerIsRecreated: an operator deletes the durable consumer;
// the worker binds a new one and keeps consuming.
func TestDeletedConsumerIsRecreated(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	rebind := func(ctx context.Context) (jetstream.Consumer, error) {
		return broker.Consumer(ctx, f.js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{AckWait: 5 * time.Second}, nil)
	}
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{Rebind: rebind})
	f.publishSID("one")
	testenv.Eventually(t, 5*time.Second, "first message", func() bool { return handled.Load() == 1 })
	if err := f.js.DeleteConsumer(context.Background(), messages.StreamSIDs, messages.ConsumerScorer); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	f.publishSID("two")
	// The first message may come again (its ack can be lost with the old
	// consumer); what matters is that the queue drains.
	testenv.Eventually(t, 20*time.Second, "queue drained by the new consumer", func() bool {
		return handled.Load() >= 2 && f.streamMsgs(messages.StreamSIDs) == 0
	})

}

// awayServer is a stand-in for Assemblyline as the worker sees it: up or
// away, with a probe like the stages' cheap call.
type awayServer struct{ up atomic.Bool }

func (s *awayServer) call() error {
	if !s.up.Load() {
		return failure.Errorf(failure.Unavailable, "dial tcp 127.0.0.1:1: connect: connection refused")
	}
	return nil
}

func TestServerAwayPausesWithoutSpendingAttempts(t *testing.T) {
	for _, failFast := range []bool{false, true} {
		t.Run(fmt.Sprintf("failfast=%t", failFast), func(t *testing.T) {
			f := newFixture(t, 5*time.Second)
			var srv awayServer
			var mu sync.Mutex
			attempts := map[string]int{} // attempt number of each successful handling
			var failed atomic.Int32
			h := worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
				if err := srv.call(); err != nil {
					failed.Add(1)
					return nil, err
				}
				mu.Lock()
				attempts[string(m.Data)] = m.Attempt
				mu.Unlock()
				return nil, nil
			})
			w := worker.New(f.js, f.cons, h, worker.Config{
				Stage:         messages.StageScorer,
				Concurrency:   2,
				MaxAttempts:   2,
				RetryDelay:    func(int) time.Duration { return 20 * time.Millisecond },
				PauseProbe:    func(int) time.Duration { return 100 * time.Millisecond },
				CheckUpstream: func(context.Context) error { return srv.call() },
				FailFast:      failFast,
				Grace:         2 * time.Second,
				Logger:        quietLog(),
			})
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- w.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-errc })

			for i := range 6 {
				f.publishSID("s" + strconv.Itoa(i))
			}
			testenv.Eventually(t, 5*time.Second, "stage paused", func() bool {
				return w.Halted() && strings.Contains(w.HaltReason(), "assemblyline is away")
			})
			// Far longer than MaxAttempts retries at 20 ms would take.
			time.Sleep(time.Second)
			if n := len(f.dlq()); n != 0 {
				t.Fatalf("%d dead letters while the server was away", n)
			}
			if n := failed.Load(); n > 2 {
				t.Errorf("%d handler calls while paused; want at most one per handler (the probe decides)", n)
			}
			select {
			case err := <-errc:
				t.Fatalf("Run returned %v while the server was away; it must pause", err)
			default:
			}

			srv.up.Store(true)
			testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
			if w.Halted() || w.HaltReason() != "" {
				t.Errorf("still halted after the server came back: %q", w.HaltReason())
			}
			if n := len(f.dlq()); n != 0 {
				t.Errorf("%d dead letters", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(attempts) != 6 {
				t.Errorf("%d messages handled, want 6", len(attempts))
			}
			for sid, a := range attempts {
				if a != 1 {
					t.Errorf("%s handled at attempt %d; the pause must not spend attempts", sid, a)
				}
			}
		})
	}
}

func TestServerUpMeansTheFailureIsTheMessages(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var probes atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		return nil, failure.Errorf(failure.Unavailable, "malformed document for this submission")
	}), worker.Config{
		MaxAttempts:   3,
		CheckUpstream: func(context.Context) error { probes.Add(1); return nil },
	})
	f.publishSID("abc")
	testenv.Eventually(t, 10*time.Second, "dead-lettered", func() bool { return len(f.dlq()) == 1 })
	reason := f.dlq()[0].Header.Get(messages.HeaderReason)
	if !strings.Contains(reason, "gave up after 3 attempts") {
		t.Errorf("reason %q", reason)
	}
	if n := probes.Load(); n != 3 {
		t.Errorf("%d probes, want one per failed attempt (3)", n)
	}
}

// silentOnce is a real consumer whose first pull goes silent: it delivers
// nothing and never ends by itself, as a pull request whose answers were
// lost (a slow-consumer drop during a reconnect). Later pulls are the
// consumer's own.
type silentOnce struct {
	jetstream.Consumer
	calls atomic.Int32
}

func (c *silentOnce) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c.calls.Add(1) == 1 {
		return silentBatch{make(chan jetstream.Msg)}, nil
	}
	return c.Consumer.Fetch(n, opts...)
}

// silentBatch delivers nothing, ever.
type silentBatch struct{ msgs chan jetstream.Msg }

func (b silentBatch) Messages() <-chan jetstream.Msg { return b.msgs }
func (b silentBatch) Error() error                   { return nil }

// restartCounter counts ConsumerRestarted.
type restartCounter struct {
	worker.Observer
	n atomic.Int32
}

func (o *restartCounter) ConsumerRestarted(string) { o.n.Add(1) }

func TestSilentPullIsRecreated(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	cons := &silentOnce{Consumer: f.cons}
	obs := &restartCounter{Observer: noObserver{}}
	var handled atomic.Int32
	w := worker.New(f.js, cons, worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		handled.Add(1)
		return nil, nil
	}), worker.Config{Stage: messages.StageScorer, StallAfter: time.Second, Observer: obs, Logger: quietLog(), Grace: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-errc })

	for i := range 5 {
		f.publishSID("s" + strconv.Itoa(i))
	}
	began := time.Now()
	testenv.Eventually(t, 10*time.Second, "queue drained after the silent pull", func() bool {
		return f.streamMsgs(messages.StreamSIDs) == 0
	})
	t.Logf("recovered in %s (StallAfter 1s)", time.Since(began).Round(time.Millisecond))
	if n := obs.n.Load(); n != 1 {
		t.Errorf("%d restarts counted, want 1", n)
	}
	if n := handled.Load(); n != 5 {
		t.Errorf("%d handled, want 5", n)
	}
}

func TestIdleConsumerIsNotRestarted(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	obs := &restartCounter{Observer: noObserver{}}
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) { return nil, nil }),
		worker.Config{StallAfter: 100 * time.Millisecond, Observer: obs})
	f.publishSID("abc")
	testenv.Eventually(t, 5*time.Second, "drained", f.drained)
	time.Sleep(time.Second) // nothing waiting: a quiet pull is no stall
	if n := obs.n.Load(); n != 0 {
		t.Errorf("%d restarts of an idle consumer", n)
	}
}

// noObserver observes nothing.
type noObserver struct{}

func (noObserver) Received(string, bool)                        {}
func (noObserver) Settled(string, worker.Outcome, failure.Kind) {}
func (noObserver) InFlight(string, int)                         {}
func (noObserver) Halted(string, bool)                          {}
func (noObserver) ConsumerRestarted(string)                     {}

// TestPublishersBookkeepingHeadersAreIgnored: another system's
// Alharvest-Attempts, Alharvest-First-Seen, Alharvest-Deferrals (with or
// without a forged seal) cannot get a message dead-lettered before it was
// tried: only copies the worker sealed carry bookkeeping.
func TestPublishersBookkeepingHeadersAreIgnored(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		fail    error // the first attempt's failure, if any
	}{
		{"attempts", map[string]string{worker.HeaderAttempts: "9"}, nil},
		{"attempts with a forged seal", map[string]string{worker.HeaderAttempts: "9", worker.HeaderSeal: strings.Repeat("ab", 32)}, nil},
		{"first seen long ago", map[string]string{worker.HeaderFirstSeen: "1970-01-01T00:00:00Z"},
			failure.Errorf(failure.NotReady, "submission is submitted, not completed")},
		{"every header", map[string]string{worker.HeaderAttempts: "999", worker.HeaderFirstSeen: "2000-01-01T00:00:00Z",
			worker.HeaderDeferrals: "999999", "Nats-Expected-Stream": "NOPE"},
			failure.Errorf(failure.NotReady, "submission is submitted, not completed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 5*time.Second)
			var calls atomic.Int32
			var attempt atomic.Int32
			f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
				if calls.Add(1) == 1 && tc.fail != nil {
					return nil, tc.fail
				}
				attempt.Store(int32(m.Attempt))
				return nil, nil
			}), worker.Config{MaxAttempts: 3, MaxDeferAge: time.Hour, DeferDelay: func(int) time.Duration { return 50 * time.Millisecond }})
			m, _ := messages.NewSIDMsg("abc", "other-system")
			for k, v := range tc.headers {
				m.Header.Set(k, v)
			}
			if _, err := f.js.PublishMsg(context.Background(), m, jetstream.WithExpectStream(messages.StreamSIDs)); err != nil && tc.headers["Nats-Expected-Stream"] == "" {
				t.Fatal(err)
			} else if err != nil {
				// The server refuses a wrong expected stream; publish without it.
				m.Header.Del("Nats-Expected-Stream")
				if _, err := f.js.PublishMsg(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
			if n := len(f.dlq()); n != 0 {
				t.Fatalf("dead-lettered: %s", f.dlq()[0].Header.Get(messages.HeaderReason))
			}
			if a := attempt.Load(); a != 1 {
				t.Errorf("handled at attempt %d, want 1", a)
			}
		})
	}
}

func TestSealKeyIsSharedThroughTheBucket(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	k1, err := worker.SealKey(context.Background(), natstest.StateBucket(t, f.js))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := worker.SealKey(context.Background(), natstest.StateBucket(t, f.js))
	if err != nil {
		t.Fatal(err)
	}
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Errorf("keys %x and %x; want one shared 32-byte key", k1, k2)
	}
}

// panicky panics in Decode or Handle for the payloads named so.
type panicky struct{ handled *atomic.Int32 }

func (panicky) Decode(m *worker.Message) (string, error) {
	if strings.Contains(string(m.Data), "decodeboom") {
		panic("decoder bug")
	}
	return string(m.Data), nil
}

func (p panicky) Handle(ctx context.Context, v string, m *worker.Message) ([]*nats.Msg, error) {
	if strings.Contains(v, "handleboom") {
		var none []string
		_ = none[len(v)] // a real runtime panic: index out of range
	}
	time.Sleep(200 * time.Millisecond) // in flight while the others panic
	p.handled.Add(1)
	return nil, nil
}

func (panicky) LogAttrs(string) []slog.Attr { return nil }

func TestHandlerPanicIsDeadLetteredAndContained(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	var handled atomic.Int32
	stop := start(f, worker.Handler[string](panicky{&handled}), worker.Config{Concurrency: 4})
	for _, sid := range []string{"ok1", "handleboom", "ok2", "decodeboom", "ok3"} {
		f.publishSID(sid)
	}
	testenv.Eventually(t, 10*time.Second, "queue drained", f.drained)
	if n := handled.Load(); n != 3 {
		t.Errorf("%d good messages handled, want 3", n)
	}
	letters := f.dlq()
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2", len(letters))
	}
	for _, l := range letters {
		reason := l.Header.Get(messages.HeaderReason)
		if !strings.Contains(reason, "handler panicked: ") ||
			!(strings.Contains(reason, "index out of range") || strings.Contains(reason, "decoder bug")) {
			t.Errorf("reason %q does not name the panic", reason)
		}
		if l.Header.Get(messages.HeaderDeliveries) != "1" {
			t.Errorf("dead-lettered after %s deliveries, want 1", l.Header.Get(messages.HeaderDeliveries))
		}
	}
	if err := stop(); err != nil {
		t.Errorf("Run returned %v after the panics", err)
	}
}

// TestSlowHandlersLeaveNothingWaitingPastItsDeadline: with every handler
// busy for longer than AckWait, messages must not sit pulled but unhandled
// (and unheartbeated) until the server redelivers them: each is delivered
// once and handled once.
func TestSlowHandlersLeaveNothingWaitingPastItsDeadline(t *testing.T) {
	f := newFixture(t, time.Second)
	var mu sync.Mutex
	seen := map[string]int{}
	var redelivered atomic.Int32
	f.run(worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		mu.Lock()
		seen[string(m.Data)]++
		mu.Unlock()
		if m.Attempt > 1 {
			redelivered.Add(1)
		}
		time.Sleep(2500 * time.Millisecond) // 2.5 × AckWait, kept alive by the worker's heartbeat
		return nil, nil
	}), worker.Config{Concurrency: 2, AckWait: time.Second, MaxAttempts: 10})
	for i := range 6 {
		f.publishSID("slow" + strconv.Itoa(i))
	}
	testenv.Eventually(t, 30*time.Second, "queue drained", f.drained)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 6 {
		t.Errorf("%d distinct messages handled, want 6", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	if n := redelivered.Load(); n != 0 {
		t.Errorf("%d handlings of redelivered messages; buffered messages passed their ack deadline", n)
	}
}
