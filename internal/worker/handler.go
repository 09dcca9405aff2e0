package worker

import (
	"context"

	"github.com/nats-io/nats.go"
)

// Handler turns one message into the messages it produces.
//
// Returned messages are published (with their Nats-Msg-Id, if set) and
// acknowledged by JetStream before the input is acked. A returned error is
// classified with failure.ActionFor; handlers tag their errors with
// failure.Wrap or return errors that implement failure.Kinder.
type Handler interface {
	Handle(ctx context.Context, m *Message) ([]*nats.Msg, error)
}

// Describer is implemented by handlers that can name what a message is
// about (a SID, a hash), so every log line of the worker loop carries it.
type Describer interface {
	Describe(m *Message) []any
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m *Message) ([]*nats.Msg, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, m *Message) ([]*nats.Msg, error) { return f(ctx, m) }
