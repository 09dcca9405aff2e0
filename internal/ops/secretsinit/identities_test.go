package secretsinit_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
	"github.com/alharvest/alharvest/pkg/messages"
)

// startServer runs a JetStream server on a free loopback port with the
// configuration secrets-init wrote in dir.
func startServer(t *testing.T, conf string) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("the generated configuration does not load: %v", err)
	}
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// connect connects as the identity whose seed is file; async errors (the
// server's permissions violations) go to errs.
func connect(t *testing.T, url, file string, errs chan<- error) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("connect with %s: %v", filepath.Base(file), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// refused runs op, which the server must refuse: the server's
// permissions violation (naming subject) reaches the client's error
// handler within a second or two, and op fails. nats.go reports a refused
// request only there; the request itself ends at its deadline.
func refused(t *testing.T, errs chan error, what, subject string, op func(context.Context) error) {
	t.Helper()
	for len(errs) > 0 {
		<-errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- op(ctx) }()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("%s: the server reported %v, want a permissions violation", what, err)
		} else if !strings.Contains(err.Error(), subject) {
			t.Errorf("%s: %v does not name %s", what, err, subject)
		}
		t.Logf("%s: refused after %v: %v", what, time.Since(start).Round(time.Millisecond), err)
	case err := <-done:
		t.Errorf("%s: done (%v) without a permissions violation", what, err)
		return
	case <-time.After(2 * time.Second):
		t.Errorf("%s: no permissions violation within 2s", what)
	}
	cancel() // the request would otherwise last to its deadline
	if err := <-done; err == nil {
		t.Errorf("%s: succeeded", what)
	}
}

func publish(nc *nats.Conn, subject string) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := nc.Publish(subject, []byte("{}")); err != nil {
			return err
		}
		nc.Flush()
		<-ctx.Done()
		return nc.LastError()
	}
}

// TestIdentities runs the generated configuration on a real server: each
// identity does its job and is refused, promptly, everything else.
func TestIdentities(t *testing.T) {
	dir := t.TempDir()
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self()}, io.Discard); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, secretsinit.ServerConfFile))
	url := s.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a client without credentials was admitted")
	}

	// The stages lay out every stream and the bucket, and publish.
	_, stages := connect(t, url, filepath.Join(dir, secretsinit.StagesSeedFile), make(chan error, 1))
	if err := broker.Provision(ctx, stages, broker.Topology{}, nil); err != nil {
		t.Fatalf("stages cannot provision: %v", err)
	}
	for i, sha := range []string{strings.Repeat("a", 64), strings.Repeat("b", 64)} {
		ev := `{"sha256":"` + sha + `","path":"/collected/` + sha + `.cart","sid":"s` + string(rune('0'+i)) + `","score":9000}`
		if _, err := stages.Publish(ctx, messages.SubjectCollected, []byte(ev)); err != nil {
			t.Fatalf("stages cannot publish a collected event: %v", err)
		}
	}

	t.Run("feeder", func(t *testing.T) {
		errs := make(chan error, 16)
		nc, js := connect(t, url, filepath.Join(dir, secretsinit.FeederSeedFile), errs)
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: messages.SubjectSIDs, Data: []byte(`{"sid":"feeder-1"}`),
			Header: nats.Header{messages.HeaderMsgID: []string{"feeder-1"}}})
		if err != nil {
			t.Fatalf("the feeder cannot publish a SID: %v", err)
		}
		if ack.Stream != messages.StreamSIDs {
			t.Errorf("the feeder's SID went to %s", ack.Stream)
		}
		for _, subj := range []string{messages.SubjectFiles, messages.SubjectCollected, messages.DLQSubject("searcher")} {
			refused(t, errs, "feeder publishes to "+subj, subj, func(ctx context.Context) error {
				_, err := js.Publish(ctx, subj, []byte("{}"))
				return err
			})
			refused(t, errs, "feeder publishes to "+subj+" (core NATS)", subj, publish(nc, subj))
		}
		refused(t, errs, "feeder deletes a stream", "$JS.API.STREAM.DELETE."+messages.StreamSIDs, func(ctx context.Context) error {
			return js.DeleteStream(ctx, messages.StreamSIDs)
		})
		refused(t, errs, "feeder reads stream info", "$JS.API.STREAM.INFO."+messages.StreamSIDs, func(ctx context.Context) error {
			_, err := js.Stream(ctx, messages.StreamSIDs)
			return err
		})
		refused(t, errs, "feeder subscribes to "+messages.SubjectCollected, messages.SubjectCollected, func(context.Context) error {
			sub, err := nc.SubscribeSync(messages.SubjectCollected)
			if err != nil {
				return err
			}
			nc.Flush()
			_, err = sub.NextMsg(time.Second)
			return err
		})
	})

	t.Run("reader", func(t *testing.T) {
		errs := make(chan error, 16)
		nc, js := connect(t, url, filepath.Join(dir, secretsinit.ReaderSeedFile), errs)
		// Its own durable consumer, created, looked up, pulled from, acked.
		cons, err := js.CreateOrUpdateConsumer(ctx, messages.StreamCollected, jetstream.ConsumerConfig{
			Durable: "feed", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: messages.SubjectCollected, MaxDeliver: 5,
		})
		if err != nil {
			t.Fatalf("the reader cannot create its consumer: %v", err)
		}
		if _, err := js.Consumer(ctx, messages.StreamCollected, "feed"); err != nil {
			t.Fatalf("the reader cannot look up its consumer: %v", err)
		}
		if _, err := js.Stream(ctx, messages.StreamCollected); err != nil {
			t.Fatalf("the reader cannot look up %s: %v", messages.StreamCollected, err)
		}
		batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []jetstream.Msg
		for m := range batch.Messages() {
			got = append(got, m)
		}
		if len(got) != 2 {
			t.Fatalf("the reader pulled %d events, want 2 (%v)", len(got), batch.Error())
		}
		if err := got[0].InProgress(); err != nil {
			t.Errorf("in progress: %v", err)
		}
		if err := got[0].DoubleAck(ctx); err != nil {
			t.Errorf("the reader cannot ack: %v", err)
		}
		if err := got[1].NakWithDelay(time.Millisecond); err != nil {
			t.Errorf("the reader cannot nak: %v", err)
		}
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.AckFloor.Stream != 1 {
			t.Errorf("ack floor %d after the reader's ack, want 1", info.AckFloor.Stream)
		}
		// A second feed under another name sees every event too.
		if _, err := js.CreateOrUpdateConsumer(ctx, messages.StreamCollected, jetstream.ConsumerConfig{
			Durable: "archive", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Errorf("the reader cannot create a second consumer: %v", err)
		}
		// Its dead letters.
		ack, err := js.Publish(ctx, messages.DLQSubject("feed"), got[1].Data())
		if err != nil {
			t.Fatalf("the reader cannot dead-letter: %v", err)
		}
		if ack.Stream != messages.StreamDLQ {
			t.Errorf("the reader's dead letter went to %s", ack.Stream)
		}

		for _, subj := range []string{messages.SubjectSIDs, messages.SubjectFiles, messages.SubjectCollected, messages.DLQSubject("downloader")} {
			refused(t, errs, "reader publishes to "+subj, subj, func(ctx context.Context) error {
				_, err := js.Publish(ctx, subj, []byte("{}"))
				return err
			})
		}
		refused(t, errs, "reader publishes to "+messages.SubjectSIDs+" (core NATS)", messages.SubjectSIDs, publish(nc, messages.SubjectSIDs))
		for _, stream := range []string{messages.StreamCollected, messages.StreamSIDs, messages.StreamDLQ} {
			refused(t, errs, "reader deletes "+stream, "$JS.API.STREAM.DELETE."+stream, func(ctx context.Context) error {
				return js.DeleteStream(ctx, stream)
			})
		}
		refused(t, errs, "reader deletes its consumer", "$JS.API.CONSUMER.DELETE."+messages.StreamCollected, func(ctx context.Context) error {
			return js.DeleteConsumer(ctx, messages.StreamCollected, "feed")
		})
		for _, stream := range []string{messages.StreamSIDs, messages.StreamFiles, messages.StreamDLQ} {
			refused(t, errs, "reader creates a consumer on "+stream, "$JS.API.CONSUMER.CREATE."+stream, func(ctx context.Context) error {
				_, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "feed", AckPolicy: jetstream.AckExplicitPolicy})
				return err
			})
		}
		s, err := js.Stream(ctx, messages.StreamCollected)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, errs, "reader purges "+messages.StreamCollected, "$JS.API.STREAM.PURGE."+messages.StreamCollected, func(ctx context.Context) error {
			return s.Purge(ctx)
		})
		refused(t, errs, "reader opens the state bucket", "$JS.API.STREAM.INFO.KV_"+messages.BucketState, func(ctx context.Context) error {
			_, err := js.KeyValue(ctx, messages.BucketState)
			return err
		})
	})
}
