package worker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/failure"
)

// Handler is a stage's job: it turns one message, decoded into a T, into
// the messages it produces.
//
// The worker decodes each message once, before anything else, and hands the
// value to LogAttrs (for every log line about the message) and to Handle
// (once, or again while probing a halt).
type Handler[T any] interface {
	// Decode parses and validates a message's payload. An error means the
	// message can never be handled: it is dead-lettered at once with the
	// error as its reason.
	Decode(m *Message) (T, error)
	// Handle does the job. Returned messages are published (with their
	// Nats-Msg-Id, if set) and acknowledged by JetStream before the input is
	// acked. A returned error is classified with failure.ActionFor;
	// handlers tag their errors with failure.Wrap or return errors that
	// implement failure.Kinder.
	Handle(ctx context.Context, v T, m *Message) ([]*nats.Msg, error)
	// LogAttrs names what v is about (a SID, a hash), so that every log
	// line of the worker loop about the message carries it.
	LogAttrs(v T) []slog.Attr
}

// HandlerFunc adapts a function of the raw message to Handler, for handlers
// that decode nothing (tests, mostly). Its T is the payload.
type HandlerFunc func(ctx context.Context, m *Message) ([]*nats.Msg, error)

// Decode returns the payload as it is.
func (f HandlerFunc) Decode(m *Message) ([]byte, error) { return m.Data, nil }

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, _ []byte, m *Message) ([]*nats.Msg, error) {
	return f(ctx, m)
}

// LogAttrs names nothing: the payload means nothing to the worker.
func (f HandlerFunc) LogAttrs([]byte) []slog.Attr { return nil }

// HandleOnce decodes and handles one message the way the worker does, with
// no server, consumer or settlement: a decode error comes back tagged
// failure.Invalid. Handler tests use it.
func HandleOnce[T any](ctx context.Context, h Handler[T], m *Message) ([]*nats.Msg, error) {
	j, err := bind(h, m)
	if err != nil {
		return nil, err
	}
	return j.handle(ctx)
}

// job is a decoded message bound to its handler: what the worker runs, and
// runs again while it probes a halt.
type job struct {
	handle func(ctx context.Context) ([]*nats.Msg, error)
	attrs  []any // for slog.Logger.With
}

// bind decodes m for h. Decode errors are permanent: no retry can make a
// malformed payload valid.
func bind[T any](h Handler[T], m *Message) (j job, err error) {
	defer recoverPanic(&err)
	v, err := h.Decode(m)
	if err != nil {
		return job{}, failure.Wrap(failure.Invalid, err) // its text is the dead letter's reason
	}
	attrs := h.LogAttrs(v)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return job{
		handle: func(ctx context.Context) (outs []*nats.Msg, err error) {
			defer recoverPanic(&err)
			return h.Handle(ctx, v, m)
		},
		attrs: args,
	}, nil
}

// PanicError is a handler's panic, turned into the failure of its message
// (kind failure.Panic: dead-lettered with the panic's value as the reason)
// so that the process and the other messages in flight go on. Only panics
// in the handler's own goroutine can be caught.
type PanicError struct {
	Value any
	Stack []byte
}

// Error names the panic's value; the stack goes to the log only.
func (e *PanicError) Error() string { return fmt.Sprintf("handler panicked: %v", e.Value) }

// FailureKind is failure.Panic.
func (e *PanicError) FailureKind() failure.Kind { return failure.Panic }

// recoverPanic turns a panic of the calling function into *err.
func recoverPanic(err *error) {
	if r := recover(); r != nil {
		*err = &PanicError{Value: r, Stack: debug.Stack()}
	}
}
