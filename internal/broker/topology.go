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
	// the searcher's overlapping sweeps (default 20 min). The other streams
	// keep shorter windows: a re-published hash costs only a check of the
	// file already on disk, and JetStream keeps every ID of the window in
	// memory.
	DedupWindow time.Duration
	// DLQMaxAge is how long dead letters are kept (default 90 days).
	DLQMaxAge time.Duration
	// CollectedMaxAge is how long collected events are kept (default 30 days).
	CollectedMaxAge time.Duration
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
		t.DedupWindow = 20 * time.Minute
	}
	if t.DLQMaxAge <= 0 {
		t.DLQMaxAge = 90 * 24 * time.Hour
	}
	if t.CollectedMaxAge <= 0 {
		t.CollectedMaxAge = 30 * 24 * time.Hour
	}
	if t.MaxMsgSize <= 0 {
		t.MaxMsgSize = 1 << 20
	}
}

// Streams returns the four stream configurations.
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
			Discard:     jetstream.DiscardNew,
		},
		{
			Name:        messages.StreamCollected,
			Description: "alharvest: files written to OUTPUT_DIR, for downstream processes",
			Subjects:    []string{messages.SubjectCollected},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			Replicas:    t.Replicas,
			Duplicates:  30 * time.Second,
			MaxAge:      t.CollectedMaxAge,
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

// Provision creates or updates the streams and the bucket.
func Provision(ctx context.Context, js jetstream.JetStream, t Topology, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	for _, sc := range t.Streams() {
		err := Retry(ctx, log, "stream "+sc.Name, func(ctx context.Context) error {
			_, err := js.CreateOrUpdateStream(ctx, sc)
			return err
		})
		if err != nil {
			return err
		}
	}
	return Retry(ctx, log, "bucket "+messages.BucketState, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateKeyValue(ctx, t.Bucket())
		return err
	})
}

// ConsumerConfig tunes a stage's durable consumer.
type ConsumerConfig struct {
	// AckWait is how long a delivered message may go without an ack or a
	// heartbeat before JetStream redelivers it.
	AckWait time.Duration
	// MaxAckPending caps messages in flight across all replicas (default
	// 20 000). Messages waiting out a retry or deferral delay count too, so
	// it must be far above the handlers' concurrency: a scorer holding many
	// still-running submissions must not starve the completed ones.
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
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
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
