package feed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/pkg/messages"
)

// ConsumerConfig says how a feed's durable consumer is made.
type ConsumerConfig struct {
	// Durable is the consumer's name (default messages.ConsumerFeed).
	Durable string
	// DeliverAll starts a new consumer at the oldest collected event still
	// in the stream rather than at the next one (--from all). It applies
	// only when the consumer is created: an existing one goes on from
	// where it is.
	DeliverAll bool
	// AckWait is how long a delivered event may go without an ack or a
	// heartbeat before it is delivered again (default 30 s; the worker
	// keeps a running program's event alive).
	AckWait time.Duration
	// MaxAckPending caps events in flight, waiting out a retry among them
	// (default 1000).
	MaxAckPending int
}

// Consumer binds the feed's durable consumer on ALHARVEST_COLLECTED,
// creating it when it does not exist. It never changes an existing
// consumer, and needs no other right than the consumer's own (info and
// create), which a reader identity has: the stream is provisioned by the
// stages, never by a feed.
//
// A new consumer reads alharvest.collected and alharvest.feed.<durable>,
// where replayed dead letters of this feed arrive. (On a stream laid out by
// an older alharvest, without that subject, the server accepts the filter;
// replays to the feed are refused until a stage of this version updates
// the stream.) A feed started before the stages waits for the stream.
func Consumer(ctx context.Context, js jetstream.JetStream, c ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	if c.Durable == "" {
		c.Durable = messages.ConsumerFeed
	}
	if err := messages.ValidateDurable(c.Durable); err != nil {
		return nil, err
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 1000
	}
	policy := jetstream.DeliverNewPolicy
	if c.DeliverAll {
		policy = jetstream.DeliverAllPolicy
	}
	cc := jetstream.ConsumerConfig{
		Durable:        c.Durable,
		Description:    "alharvest feed " + c.Durable + " (shared by its replicas)",
		FilterSubjects: []string{messages.SubjectCollected, messages.FeedSubject(c.Durable)},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		// The worker dead-letters with a reason; the server never drops.
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		DeliverPolicy: policy,
	}
	var cons jetstream.Consumer
	// The stages create the stream; a feed started before them waits.
	waited := false
	for {
		err := bind(ctx, js, cc, &cons, log)
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			if err != nil {
				return nil, fmt.Errorf("feed consumer %s on %s: %w", c.Durable, messages.StreamCollected, err)
			}
			return cons, nil
		}
		if !waited {
			log.Warn("no collected stream yet: waiting for the stages (downloader, alharvest) to create it", "stream", messages.StreamCollected)
			waited = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("feed consumer %s: %w while waiting for %s", c.Durable, ctx.Err(), messages.StreamCollected)
		case <-time.After(2 * time.Second):
		}
	}
}

// bind gets or creates the consumer cc describes into *cons.
func bind(ctx context.Context, js jetstream.JetStream, cc jetstream.ConsumerConfig, cons *jetstream.Consumer, log *slog.Logger) error {
	return broker.Retry(ctx, log, "consumer "+cc.Durable, func(ctx context.Context) error {
		got, err := js.Consumer(ctx, messages.StreamCollected, cc.Durable)
		if err == nil || !errors.Is(err, jetstream.ErrConsumerNotFound) {
			*cons = got
			return err
		}
		got, err = js.CreateConsumer(ctx, messages.StreamCollected, cc)
		if errors.Is(err, jetstream.ErrConsumerExists) {
			// A replica created it a moment ago.
			got, err = js.Consumer(ctx, messages.StreamCollected, cc.Durable)
		}
		*cons = got
		return err
	})
}
