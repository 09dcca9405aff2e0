package broker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Healer re-creates alharvest's layout — the streams and the state bucket —
// when a stage finds part of it missing while NATS answers: an operator
// deleted a stream or the bucket, a volume was restored from an older
// backup, or the server came back with an empty store. Every stage holds
// one and calls Heal when an operation fails in a way Missing recognises,
// so the layout is back within one failed operation of the loss rather
// than at the next restart. Consumers are re-created by their own stages
// (the worker's Rebind), after a Heal.
type Healer struct {
	js   jetstream.JetStream
	topo Topology
	log  *slog.Logger

	mu        sync.Mutex
	last      time.Time // end of the latest run
	err       error     // its result
	onCreated []func(ctx context.Context)
}

// OnBucketCreated registers fn to run after Heal has re-created the state
// bucket, for what a process must put back in it (the stages' seal key).
func (h *Healer) OnBucketCreated(fn func(ctx context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onCreated = append(h.onCreated, fn)
}

// healEvery bounds how often Heal provisions: every failing operation of
// every goroutine may ask, and a run reads six things from the server.
const healEvery = time.Second

// NewHealer returns a Healer provisioning t on js.
func NewHealer(js jetstream.JetStream, t Topology, log *slog.Logger) *Healer {
	if log == nil {
		log = slog.Default()
	}
	return &Healer{js: js, topo: t, log: log}
}

// Heal makes sure every stream and the bucket exist, creating what is
// missing (what exists is only read, see ensure.go). Callers within a
// second of the latest run share its result; concurrent callers wait for
// the run under way. While NATS is disconnected it returns at once with
// nats.ErrDisconnected: the reconnect, not a re-creation, is what heals that.
func (h *Healer) Heal(ctx context.Context) error {
	if nc := h.js.Conn(); nc != nil && !nc.IsConnected() {
		return nats.ErrDisconnected
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.last) < healEvery {
		return h.err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	created, err := provisionOnce(ctx, h.js, h.topo)
	if len(created) > 0 {
		h.log.Warn("re-created missing parts of the NATS layout", "created", created)
	}
	if slices.Contains(created, "KV_"+messages.BucketState) {
		for _, fn := range h.onCreated {
			fn(ctx)
		}
	}
	if err != nil {
		h.log.Warn("cannot re-create the NATS layout; will retry", "err", err)
	}
	h.last, h.err = time.Now(), err
	return err
}

// Missing reports whether err may mean that a stream, the bucket or a
// consumer does not exist: the server says so, or nothing answered a
// request that only a stream answers. Heal tells which, if any.
func Missing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders)
}

// provisionOnce ensures every stream and the bucket, once each, and returns
// the names of those it had to create.
func provisionOnce(ctx context.Context, js jetstream.JetStream, t Topology) ([]string, error) {
	if t.DedupWindow <= 0 {
		// Keep what the searcher set; only a new stream gets the default.
		if s, err := js.Stream(ctx, messages.StreamSIDs); err == nil && s.CachedInfo().Config.Duplicates > 0 {
			t.DedupWindow = s.CachedInfo().Config.Duplicates
		}
	}
	var created []string
	for _, sc := range t.Streams() {
		c, err := ensureStream(ctx, js, sc)
		if err != nil {
			return created, err
		}
		if c {
			created = append(created, sc.Name)
		}
	}
	c, err := ensureBucket(ctx, js, t.Bucket())
	if c {
		created = append(created, "KV_"+messages.BucketState)
	}
	return created, err
}
