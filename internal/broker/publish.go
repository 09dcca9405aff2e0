package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/failure"
)

// AsyncPublisher is the part of JetStream that PublishAll needs;
// jetstream.JetStream has it.
type AsyncPublisher interface {
	PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error)
}

// PublishAll publishes msgs and waits until JetStream has stored every one,
// so that a caller may then ack its input or move its watermark. The
// messages are sent without waiting in between, which is what makes a batch
// cheap; their Nats-Msg-Id headers, if set, make a repeat harmless.
//
// It returns the acknowledgements received, in the order of msgs: all of
// them, or on error those that came before the first failure. The error is
// tagged Canceled if ctx was cancelled (the caller is shutting down) and
// Unavailable otherwise (JetStream refused or did not answer in time).
func PublishAll(ctx context.Context, js AsyncPublisher, msgs []*nats.Msg) ([]*jetstream.PubAck, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			return nil, failure.Wrap(failure.Unavailable, fmt.Errorf("publish to %s: %w", m.Subject, err))
		}
		futures = append(futures, f)
	}
	acks := make([]*jetstream.PubAck, 0, len(futures))
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			acks = append(acks, ack)
		case err := <-f.Err():
			return acks, failure.Wrap(failure.Unavailable, fmt.Errorf("publish to %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			kind := failure.Unavailable
			if errors.Is(ctx.Err(), context.Canceled) {
				kind = failure.Canceled
			}
			return acks, failure.Wrap(kind, fmt.Errorf("publish to %s: no acknowledgement: %w", f.Msg().Subject, ctx.Err()))
		}
	}
	return acks, nil
}
