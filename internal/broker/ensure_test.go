package broker

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// apiWrites records the JetStream API requests that create or change a
// stream or consumer, as the server receives them.
type apiWrites struct {
	mu   sync.Mutex
	subj []string
}

func watchAPIWrites(t *testing.T, nc *nats.Conn) *apiWrites {
	t.Helper()
	w := &apiWrites{}
	sub, err := nc.Subscribe("$JS.API.>", func(m *nats.Msg) {
		for _, op := range []string{".STREAM.CREATE.", ".STREAM.UPDATE.", ".CONSUMER.CREATE.", ".CONSUMER.DURABLE.CREATE."} {
			if strings.Contains(m.Subject, op) {
				w.mu.Lock()
				w.subj = append(w.subj, m.Subject)
				w.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return w
}

// take returns the writes seen so far (after a round trip, so that every
// request sent before it has been delivered) and forgets them.
func (w *apiWrites) take(t *testing.T, nc *nats.Conn) []string {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.subj
	w.subj = nil
	return out
}

func TestProvisionWritesOnlyWhatDiffers(t *testing.T) {
	ctx, js := embeddedJS(t, EmbeddedConfig{})
	nc := js.Conn()
	writes := watchAPIWrites(t, nc)
	provision := func(top Topology) {
		t.Helper()
		if err := Provision(ctx, js, top, nil); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ stream, durable string }{
			{messages.StreamSIDs, messages.ConsumerScorer}, {messages.StreamFiles, messages.ConsumerDownloader},
		} {
			if _, err := Consumer(ctx, js, c.stream, c.durable, ConsumerConfig{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, stage := range []string{messages.StageScorer, messages.StageDownloader} {
			if _, err := DeferredConsumer(ctx, js, stage, 0, 0, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	searcher := Topology{DedupWindow: SIDDedupWindow(5*time.Minute, 10*time.Minute)}

	provision(searcher)
	// Five streams, the bucket's stream, four consumers.
	if got := writes.take(t, nc); len(got) != 10 {
		t.Fatalf("first start: %d writes, want 10: %q", len(got), got)
	}

	for _, top := range []Topology{searcher, {}, searcher} {
		provision(top)
		if got := writes.take(t, nc); len(got) != 0 {
			t.Fatalf("a replica starting on an unchanged topology %+v wrote %q", top, got)
		}
	}

	// A changed SEARCH_INTERVAL changes one stream, and only that one.
	provision(Topology{DedupWindow: SIDDedupWindow(time.Hour, 10*time.Minute)})
	got := writes.take(t, nc)
	if len(got) != 1 || !strings.HasSuffix(got[0], "STREAM.UPDATE."+messages.StreamSIDs) {
		t.Fatalf("changed dedup window: writes %q, want the SIDs stream's update", got)
	}
	s, err := js.Stream(ctx, messages.StreamSIDs)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.CachedInfo().Config.Duplicates; d != 70*time.Minute {
		t.Errorf("dedup window %v after the update, want 1h10m", d)
	}

	// A setting alharvest does not own, set by an operator, stays.
	cfg := s.CachedInfo().Config
	cfg.Compression = jetstream.S2Compression
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	writes.take(t, nc)
	provision(Topology{DedupWindow: SIDDedupWindow(time.Hour, 10*time.Minute)})
	if got := writes.take(t, nc); len(got) != 0 {
		t.Fatalf("an operator's compression made a replica write %q", got)
	}
	if s, err = js.Stream(ctx, messages.StreamSIDs); err != nil || s.CachedInfo().Config.Compression != jetstream.S2Compression {
		t.Errorf("operator's compression lost: %v", err)
	}

	// A consumer setting that differs is written.
	if _, err := Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, ConsumerConfig{AckWait: 45 * time.Second}, nil); err != nil {
		t.Fatal(err)
	}
	if got := writes.take(t, nc); len(got) != 1 {
		t.Fatalf("changed ack wait: writes %q, want one", got)
	}
}
