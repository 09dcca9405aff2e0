package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Every replica of every stage provisions the topology when it starts, so a
// deployment of 10 + 10 replicas asks for the same five streams, one bucket
// and two consumers per stage twenty times over. An update is a write to
// the server's store (a meta-layer proposal in a cluster) and the server
// handles them one at a time: 21 processes starting together spent
// 175–210 ms queued behind each other's updates of streams that had not
// changed, against 29 ms to read them. So each part is read first and
// written only when a setting alharvest owns differs. Settings alharvest
// does not set (an operator's compression or placement) are left alone.

// ensureStream creates the stream, or updates it when a setting of sc
// differs; it reports whether it created it.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (bool, error) {
	s, err := js.Stream(ctx, sc.Name)
	if err == nil && streamCovers(s.CachedInfo().Config, sc) {
		return false, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, sc); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err == nil, err
		}
		// Another process created it a moment ago, perhaps from an
		// older configuration: fall through to the update.
	} else if err != nil {
		return false, err
	}
	_, err = js.UpdateStream(ctx, sc)
	return false, err
}

// ensureBucket creates the bucket, or updates it when a setting of kc
// differs; it reports whether it created it.
func ensureBucket(ctx context.Context, js jetstream.JetStream, kc jetstream.KeyValueConfig) (bool, error) {
	s, err := js.Stream(ctx, "KV_"+kc.Bucket)
	if err == nil && bucketCovers(s.CachedInfo().Config, kc) {
		return false, nil
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateKeyValue(ctx, kc); !errors.Is(err, jetstream.ErrBucketExists) {
			return err == nil, err
		}
	} else if err != nil {
		return false, err
	}
	_, err = js.UpdateKeyValue(ctx, kc)
	return false, err
}

// ensureConsumer returns the durable consumer, created or updated when a
// setting of cc differs.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := js.Consumer(ctx, stream, cc.Durable)
	if err == nil && consumerCovers(c.CachedInfo().Config, cc) {
		return c, nil
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if c, err = js.CreateConsumer(ctx, stream, cc); !errors.Is(err, jetstream.ErrConsumerExists) {
			return c, err
		}
	} else if err != nil {
		return nil, err
	}
	return js.UpdateConsumer(ctx, stream, cc)
}

// streamCovers reports whether have already has every setting of want.
func streamCovers(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description &&
		slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention &&
		have.Storage == want.Storage &&
		replicas(have.Replicas) == replicas(want.Replicas) &&
		have.Duplicates == dedupWindow(want.Duplicates) &&
		limit(int64(have.MaxMsgSize)) == limit(int64(want.MaxMsgSize)) &&
		limit(have.MaxMsgs) == limit(want.MaxMsgs) &&
		limit(have.MaxBytes) == limit(want.MaxBytes) &&
		limit(have.MaxMsgsPerSubject) == limit(want.MaxMsgsPerSubject) &&
		have.Discard == want.Discard &&
		have.DiscardNewPerSubject == want.DiscardNewPerSubject &&
		have.MaxAge == want.MaxAge
}

// bucketCovers reports whether the bucket's stream already has every
// setting of want.
func bucketCovers(have jetstream.StreamConfig, want jetstream.KeyValueConfig) bool {
	history := int64(max(want.History, 1))
	return have.Description == want.Description &&
		have.MaxMsgsPerSubject == history &&
		have.Storage == want.Storage &&
		replicas(have.Replicas) == replicas(want.Replicas) &&
		have.MaxAge == want.TTL &&
		limit(have.MaxBytes) == limit(want.MaxBytes)
}

// consumerCovers reports whether have already has every setting of want.
func consumerCovers(have, want jetstream.ConsumerConfig) bool {
	return have.Description == want.Description &&
		have.FilterSubject == want.FilterSubject &&
		have.AckPolicy == want.AckPolicy &&
		have.AckWait == want.AckWait &&
		limit(int64(have.MaxDeliver)) == limit(int64(want.MaxDeliver)) &&
		have.MaxAckPending == want.MaxAckPending &&
		have.DeliverPolicy == want.DeliverPolicy &&
		// The server reports 0 for "as many as the stream".
		(have.Replicas == want.Replicas || have.Replicas == 0)
}

// limit normalises a limit: the server stores "none" as -1, a config may say 0.
func limit(v int64) int64 {
	if v <= 0 {
		return -1
	}
	return v
}

func replicas(n int) int { return max(n, 1) }

// dedupWindow is the window the server keeps for a requested one: its
// default, 2 minutes, when none is asked for.
func dedupWindow(d time.Duration) time.Duration {
	if d <= 0 {
		return 2 * time.Minute
	}
	return d
}
