package worker_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// BenchmarkPublishAck measures the worker loop's own cost per message on a
// real JetStream server (file storage): consume, hand to a handler that
// returns one output, publish it and wait for JetStream's acknowledgement,
// ack the input. One op is one message through.
func BenchmarkPublishAck(b *testing.B) {
	srv := natstest.Start(b)
	_, js := natstest.Connect(b, srv.URL)
	natstest.Provision(b, js)
	ctx := context.Background()
	cons, err := broker.Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{AckWait: time.Minute}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	w := worker.New(js, cons, worker.HandlerFunc(func(ctx context.Context, m *worker.Message) ([]*nats.Msg, error) {
		n := handled.Add(1)
		out, _ := messages.NewFileMsg(messages.File{SHA256: sha(n), SID: "a", Score: 7000})
		return []*nats.Msg{out}, nil
	}), worker.Config{Stage: messages.StageScorer, Concurrency: 16, Logger: quietLog()})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { cancel(); <-done }()

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, _ := messages.NewSIDMsg("s"+strconv.Itoa(i), "bench")
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
	for handled.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	// Wait for the acks too: the queue is empty once all are processed.
	s, _ := js.Stream(ctx, messages.StreamSIDs)
	for {
		info, err := s.Info(ctx)
		if err == nil && info.State.Msgs == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func sha(n int64) string {
	s := strconv.FormatInt(n, 16)
	for len(s) < 64 {
		s = "0" + s
	}
	return s
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkBackoff measures drawing one delay of the retry schedule over
// the attempts a message can reach (1–20).
func BenchmarkBackoff(b *testing.B) {
	delay := worker.Backoff(time.Second, 5*time.Minute)
	n := 0
	for b.Loop() {
		_ = delay(n%20 + 1)
		n++
	}
}
