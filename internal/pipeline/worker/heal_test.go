package worker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestSealKeySurvivesALostBucket: the bucket holding the shared seal key
// is deleted; the process that re-creates it puts back the key it seals
// with, so a replica starting afterwards loads the same key rather than a
// new one that would take the running replicas' copies for forgeries.
func TestSealKeySurvivesALostBucket(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	ctx := context.Background()
	k1, err := worker.SealKey(ctx, natstest.StateBucket(t, f.js))
	if err != nil {
		t.Fatal(err)
	}
	h := broker.NewHealer(f.js, broker.Topology{}, slog.New(slog.DiscardHandler))
	h.OnBucketCreated(func(ctx context.Context) {
		if err := worker.RestoreSealKey(ctx, natstest.StateBucket(t, f.js), k1); err != nil {
			t.Error(err)
		}
	})
	if err := f.js.DeleteKeyValue(ctx, messages.BucketState); err != nil {
		t.Fatal(err)
	}
	if err := h.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	k2, err := worker.SealKey(ctx, natstest.StateBucket(t, f.js))
	if err != nil {
		t.Fatal(err)
	}
	if string(k1) != string(k2) {
		t.Errorf("after the bucket was re-created a new replica seals with %x, the running ones with %x", k2, k1)
	}
}
