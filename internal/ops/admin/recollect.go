package admin

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Queued is one recollect request stored in its stream.
type Queued struct {
	// Kind is "submission" or "file".
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
}

// RecollectMsg builds the request for one SID or sha256: a files message
// for a hash (the downloader fetches it unless OUTPUT_DIR holds a verified
// copy), a SID message otherwise (the scorer scores the submission again
// and re-queues each qualifying file). Either way the message, and what the
// scorer derives from it, bypass the streams' duplicate windows.
func RecollectMsg(id, who string) (*nats.Msg, string, error) {
	var (
		m    *nats.Msg
		kind string
		err  error
	)
	if messages.ValidateSHA256(id) == nil {
		m, err = messages.NewFileMsg(messages.File{SHA256: id})
		kind = "file"
	} else if messages.ValidateSID(id) == nil {
		m, err = messages.NewSIDMsg(id, who)
		kind = "submission"
	} else {
		return nil, "", fmt.Errorf("%q is neither a SID nor a sha256 (64 lowercase hex characters)", id)
	}
	if err != nil {
		return nil, "", err
	}
	messages.MarkRecollect(m, who)
	return m, kind, nil
}

// Recollect queues each SID or sha256 for collection again. All ids are
// checked before anything is published.
func Recollect(ctx context.Context, js jetstream.JetStream, ids []string, who string) ([]Queued, error) {
	type item struct {
		m    *nats.Msg
		kind string
		id   string
	}
	var items []item
	for _, id := range ids {
		m, kind, err := RecollectMsg(id, who)
		if err != nil {
			return nil, err
		}
		items = append(items, item{m, kind, id})
	}
	var out []Queued
	for _, it := range items {
		ack, err := js.PublishMsg(ctx, it.m)
		if err != nil {
			return out, fmt.Errorf("queue %s %s: %w", it.kind, it.id, err)
		}
		out = append(out, Queued{Kind: it.kind, ID: it.id, Stream: ack.Stream, Seq: ack.Sequence})
	}
	return out, nil
}
