package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Topology sizes the streams, consumers and bucket. Every replica of every
// stage provisions it at start-up, idempotently, so they must agree on it.
type Topology struct {
	// Replicas for streams, consumers and the bucket: 1 on a single server,
	// 3 on a three-node cluster (NATS_REPLICAS).
	Replicas int
	// DedupWindow is how long JetStream drops a re-published SID. It absorbs
	// the searcher's overlapping sweeps, so it is derived from
	// SEARCH_INTERVAL + SEARCH_OVERLAP (SIDDedupWindow) by the processes
	// that know them. Zero, for a stage that does not search, keeps the
	// existing stream's window rather than fighting over it, and creates a
	// new stream with the default settings' 15 min. The other streams keep
	// shorter windows: a re-published hash costs only a check of the file
	// already on disk, and JetStream keeps every ID of the window in memory.
	DedupWindow time.Duration
	// WorkQueueMaxMsgs and WorkQueueMaxBytes cap each work queue (SIDs,
	// files) so that one publisher flooding alharvest.sids cannot fill the
	// store: past them a publish fails with an error to the publisher
	// (DiscardNew) and nothing queued is dropped. Defaults 5 000 000
	// messages and 2 GiB.
	WorkQueueMaxMsgs  int64
	WorkQueueMaxBytes int64
	// DLQMaxAge is how long dead letters are kept (default 90 days).
	DLQMaxAge time.Duration
	// CollectedMaxAge is how long collected events are kept (default 30 days).
	CollectedMaxAge time.Duration
	// DeferredMax bounds each stage's deferred copies (messages waiting for
	// Assemblyline to finish a submission) in ALHARVEST_DEFERRED: past it a
	// deferral fails and the worker delays the message in place instead
	// (default 100 000). It is also the deferred consumers' MaxAckPending,
	// so every stored copy is on a server timer and none waits past its
	// time behind others.
	DeferredMax int64
	// MaxMsgSize bounds a message on the work queues. Larger than any valid
	// message so oversized ones reach a stage and get dead-lettered with a
	// reason, but bounded so nobody can fill the store with one publish.
	MaxMsgSize int32
}

func (t *Topology) setDefaults() {
	if t.Replicas <= 0 {
		t.Replicas = 1
	}
	if t.DedupWindow <= 0 {
		t.DedupWindow = SIDDedupWindow(5*time.Minute, 10*time.Minute)
	}
	if t.WorkQueueMaxMsgs <= 0 {
		t.WorkQueueMaxMsgs = 5_000_000
	}
	if t.WorkQueueMaxBytes <= 0 {
		t.WorkQueueMaxBytes = 2 << 30
	}
	if t.DLQMaxAge <= 0 {
		t.DLQMaxAge = 90 * 24 * time.Hour
	}
	if t.CollectedMaxAge <= 0 {
		t.CollectedMaxAge = 30 * 24 * time.Hour
	}
	if t.DeferredMax <= 0 {
		t.DeferredMax = DefaultDeferredMax
	}
	if t.MaxMsgSize <= 0 {
		t.MaxMsgSize = 1 << 20
	}
}

// DefaultDeferredMax is Topology.DeferredMax's default.
const DefaultDeferredMax = 100_000

// Streams returns the five stream configurations.
func (t Topology) Streams() []jetstream.StreamConfig {
	t.setDefaults()
	return []jetstream.StreamConfig{
		{
			Name:        messages.StreamSIDs,
			Description: "alharvest: submission IDs to score (work queue)",
			Subjects:    []string{messages.SubjectSIDs},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			Duplicates:  t.DedupWindow,
			MaxMsgSize:  t.MaxMsgSize,
			MaxMsgs:     t.WorkQueueMaxMsgs,
			MaxBytes:    t.WorkQueueMaxBytes,
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        messages.StreamFiles,
			Description: "alharvest: qualifying files to download (work queue)",
			Subjects:    []string{messages.SubjectFiles},
			Retention:   jetstream.WorkQueuePolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			Duplicates:  2 * time.Minute,
			MaxMsgSize:  t.MaxMsgSize,
			MaxMsgs:     t.WorkQueueMaxMsgs,
			MaxBytes:    t.WorkQueueMaxBytes,
			Discard:     jetstream.DiscardNew,
		},
		{
			// Deferred copies wait here, not in the work queues, so that
			// waiting never holds a work consumer's MaxAckPending (see the
			// worker package). Discard-new per subject bounds each stage.
			Name:                 messages.StreamDeferred,
			Description:          "alharvest: messages waiting for Assemblyline to finish (work queue per stage)",
			Subjects:             []string{messages.SubjectDeferredPrefix + ">"},
			Retention:            jetstream.WorkQueuePolicy,
			Storage:              jetstream.FileStorage,
			Replicas:             t.Replicas,
			Duplicates:           2 * time.Minute,
			MaxMsgSize:           t.MaxMsgSize,
			MaxMsgsPerSubject:    t.DeferredMax,
			Discard:              jetstream.DiscardNew,
			DiscardNewPerSubject: true,
		},
		{
			Name:        messages.StreamCollected,
			Description: "alharvest: files written to OUTPUT_DIR, for downstream processes",
			// alharvest.feed.<durable>: dead letters replayed to one feed.
			Subjects:   []string{messages.SubjectCollected, messages.SubjectFeedPrefix + ">"},
			Retention:  jetstream.LimitsPolicy,
			Storage:    jetstream.FileStorage,
			Replicas:   t.Replicas,
			Duplicates: 30 * time.Second,
			MaxAge:     t.CollectedMaxAge,
		},
		{
			Name:        messages.StreamDLQ,
			Description: "alharvest: dead letters of every stage, with their reason",
			Subjects:    []string{messages.SubjectDLQPrefix + ">"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			Duplicates:  2 * time.Minute,
			MaxAge:      t.DLQMaxAge,
		},
	}
}

// Bucket returns the KV bucket configuration.
func (t Topology) Bucket() jetstream.KeyValueConfig {
	t.setDefaults()
	return jetstream.KeyValueConfig{
		Bucket:      messages.BucketState,
		Description: "alharvest: checkpoints (searcher watermark, last sweep)",
		History:     5,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
	}
}

// SIDDedupWindow is the SIDs stream's de-duplication window for a searcher
// sweeping every interval from its watermark minus overlap: a SID found by
// one sweep is found again by the next, interval later, while it lies within
// the overlap. It is zero when interval is (a process that does not search).
func SIDDedupWindow(interval, overlap time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return max(interval+max(overlap, 0), 2*time.Minute)
}

// Provision creates or updates the streams and the bucket. Settings of an
// existing stream that differ (an upgrade, a changed SEARCH_INTERVAL) are
// updated in place; its messages stay. What already matches is only read
// (see ensure.go).
func Provision(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if t.DedupWindow <= 0 {
		// Keep what the searcher set; only a new stream gets the default.
		if s, err := js.Stream(ctx, messages.StreamSIDs); err == nil && s.CachedInfo().Config.Duplicates > 0 {
			t.DedupWindow = s.CachedInfo().Config.Duplicates
		}
	}
	for _, sc := range t.Streams() {
		err := Retry(ctx, log, "stream "+sc.Name, func(ctx context.Context) error {
			_, err := ensureStream(ctx, js, sc)
			return err
		})
		if err != nil {
			return err
		}
	}
	return Retry(ctx, log, "bucket "+messages.BucketState, func(ctx context.Context) error {
		_, err := ensureBucket(ctx, js, t.Bucket())
		return err
	})
}

// ConsumerConfig tunes a stage's durable consumer.
type ConsumerConfig struct {
	// AckWait is how long a delivered message may go without an ack or a
	// heartbeat before JetStream redelivers it.
	AckWait time.Duration
	// MaxAckPending caps messages in flight across all replicas (default
	// 20 000). Messages waiting out a retry delay count too, so it must be
	// far above the handlers' concurrency. Deferred messages (submissions
	// still running) do not: they wait in ALHARVEST_DEFERRED (see
	// DeferredConsumer), so they cannot starve the completed ones.
	MaxAckPending int
	// Replicas as for the streams.
	Replicas int
}

// Consumer creates or updates a stage's durable pull consumer and returns it.
// MaxDeliver is unlimited on purpose: the worker loop dead-letters messages
// itself, with their reason, so none is ever stranded in the work queue by
// the server's own delivery limit.
func Consumer(ctx context.Context, js jetstream.JetStream, stream, durable string, c ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 20000
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	var cons jetstream.Consumer
	err := Retry(ctx, log, "consumer "+durable, func(ctx context.Context) error {
		var err error
		cons, err = ensureConsumer(ctx, js, stream, jetstream.ConsumerConfig{
			Durable:       durable,
			Description:   "alharvest " + durable + " (shared by every replica)",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: c.MaxAckPending,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			Replicas:      c.Replicas,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return cons, nil
}

// DeferredConsumer creates or updates the durable consumer through which a
// stage's replicas move its deferred copies back to work, filtered to the
// stage's subject. Its MaxAckPending is max (Topology.DeferredMax): every
// copy waits out its delay on a server timer, ack-pending here and nowhere
// else.
func DeferredConsumer(ctx context.Context, js jetstream.JetStream, stage string, max int64, replicas int, log *slog.Logger) (jetstream.Consumer, error) {
	if max <= 0 {
		max = DefaultDeferredMax
	}
	if replicas <= 0 {
		replicas = 1
	}
	durable := messages.DeferredConsumer(stage)
	var cons jetstream.Consumer
	err := Retry(ctx, log, "consumer "+durable, func(ctx context.Context) error {
		var err error
		cons, err = ensureConsumer(ctx, js, messages.StreamDeferred, jetstream.ConsumerConfig{
			Durable:       durable,
			Description:   "alharvest " + stage + " deferred copies (shared by every replica)",
			FilterSubject: messages.DeferredSubject(stage),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxDeliver:    -1,
			MaxAckPending: int(min(max, 1<<30)),
			DeliverPolicy: jetstream.DeliverAllPolicy,
			Replicas:      replicas,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return cons, nil
}

// StreamCounts reports messages waiting in each work queue; the one-command
// run uses it to know when everything is drained.
func StreamCounts(ctx context.Context, js jetstream.JetStream, names ...string) (map[string]uint64, error) {
	out := make(map[string]uint64, len(names))
	for _, n := range names {
		// Stream asks the server for the stream's info: one request.
		s, err := js.Stream(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", n, err)
		}
		out[n] = s.CachedInfo().State.Msgs
	}
	return out, nil
}
