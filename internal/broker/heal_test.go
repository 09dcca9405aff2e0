package broker

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// TestHealerRecreatesWhatIsMissing deletes a stream and the bucket under a
// provisioned layout: the failures they cause are recognised by Missing,
// one Heal re-creates both and runs the bucket hooks, and a Heal within a
// second of it does nothing more.
func TestHealerRecreatesWhatIsMissing(t *testing.T) {
	ctx, js := embeddedJS(t, EmbeddedConfig{})
	if err := Provision(ctx, js, Topology{}, nil); err != nil {
		t.Fatal(err)
	}
	h := NewHealer(js, Topology{}, slog.New(slog.DiscardHandler))
	hooks := 0
	h.OnBucketCreated(func(context.Context) { hooks++ })
	if err := h.Heal(ctx); err != nil || hooks != 0 {
		t.Fatalf("heal of a whole layout: %v, %d hooks run", err, hooks)
	}

	kv, err := js.KeyValue(ctx, messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, messages.StreamFiles); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(ctx, messages.BucketState); err != nil {
		t.Fatal(err)
	}
	_, perr := js.Publish(ctx, messages.SubjectFiles, []byte("{}"))
	_, gerr := kv.Get(ctx, "any")
	_, cerr := js.Consumer(ctx, messages.StreamFiles, messages.ConsumerDownloader)
	for _, err := range []error{perr, gerr, cerr} {
		if !Missing(err) {
			t.Errorf("Missing(%v) = false", err)
		}
	}
	if Missing(nats.ErrTimeout) || Missing(errors.New("other")) {
		t.Error("Missing says yes to a timeout or an unrelated error")
	}

	// Within a second of the last run: shared, nothing done.
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, messages.StreamFiles); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("a heal within a second ran again: %v", err)
	}
	time.Sleep(healEvery)
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(ctx, messages.StreamFiles); err != nil {
		t.Errorf("stream not re-created: %v", err)
	}
	if _, err := kv.Put(ctx, "any", []byte("x")); err != nil {
		t.Errorf("bucket not re-created: %v", err)
	}
	if hooks != 1 {
		t.Errorf("%d bucket hooks run, want 1", hooks)
	}
}
