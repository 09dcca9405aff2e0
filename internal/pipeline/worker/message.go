package worker

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is what a Handler sees of a JetStream message.
type Message struct {
	Subject string
	Data    []byte
	Header  nats.Header
	// Attempt counts this message's handling attempts, starting at 1. It
	// excludes deliveries spent waiting out a deferral.
	Attempt int
	// Sequence is the message's sequence in its stream.
	Sequence uint64
	// FirstSeen is when the message (or the original it was deferred from)
	// entered the stream.
	FirstSeen time.Time

	notBefore time.Time // a deferred copy's time to be handled; zero if none
	deferrals int       // how many times it was deferred (sealed copies only)
}

// Headers the worker sets on deferred copies of a message.
const (
	// HeaderNotBefore holds the earliest time (RFC 3339) a deferred copy may be handled.
	HeaderNotBefore = "Alharvest-Not-Before"
	// HeaderDeferrals counts how many times the message was deferred.
	HeaderDeferrals = "Alharvest-Deferrals"
	// HeaderFirstSeen is when the original message entered the stream.
	HeaderFirstSeen = "Alharvest-First-Seen"
	// HeaderDeferredSubject names the work subject a copy in the deferred
	// store goes back to when its Not-Before time comes.
	HeaderDeferredSubject = "Alharvest-Deferred-Subject"
	// HeaderAttempts counts the attempts a re-published copy inherits from
	// the message it replaces.
	HeaderAttempts = "Alharvest-Attempts"
)

// message builds the handler's view, counting attempts without the
// deliveries that only waited out a deferral.
func (w *Worker) message(m jetstream.Msg, meta *jetstream.MsgMetadata) *Message {
	attempt := int(meta.NumDelivered)
	firstSeen := meta.Timestamp
	h := m.Headers()
	notBefore, deferred := w.notBefore(h, meta)
	if deferred && attempt > 1 {
		// A deferred copy's first delivery arrives at once and is put back
		// until its Not-Before time; it is not an attempt.
		attempt--
	}
	// The bookkeeping of a copy the worker re-published, and only of such a
	// copy: a publisher's Alharvest-Attempts or -First-Seen must not get a
	// message dead-lettered before it was tried (see HeaderSeal).
	deferrals := 0
	if w.sealed(m.Subject(), m.Data(), h) {
		// A copy re-published by a hand-back carries the attempts already spent.
		if n, err := strconv.Atoi(h.Get(HeaderAttempts)); err == nil && n > 0 && n < 1_000_000 {
			attempt += n
		}
		// The age of a deferred copy counts from its original.
		if t, err := time.Parse(time.RFC3339Nano, h.Get(HeaderFirstSeen)); err == nil && !t.After(meta.Timestamp) {
			firstSeen = t
		}
		if n, err := strconv.Atoi(h.Get(HeaderDeferrals)); err == nil && n > 0 && n < 1_000_000 {
			deferrals = n
		}
	}
	return &Message{
		deferrals: deferrals,
		Subject:   m.Subject(),
		Data:      m.Data(),
		Header:    h,
		Attempt:   attempt,
		Sequence:  meta.Sequence.Stream,
		FirstSeen: firstSeen,
		notBefore: notBefore,
	}
}

// notBefore reads a deferred copy's Not-Before time. One further in the
// future than any deferral sets is not ours (a publisher's header) and is
// ignored: it could otherwise hold a message for centuries.
func (w *Worker) notBefore(h nats.Header, meta *jetstream.MsgMetadata) (time.Time, bool) {
	v := h.Get(HeaderNotBefore)
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.After(meta.Timestamp.Add(w.notBeforeLimit)) {
		return time.Time{}, false
	}
	return t, true
}

// copyHeaders copies a message's headers for a dead letter or a re-published
// copy, leaving out JetStream's own control headers (a publisher's
// Nats-Expected-Stream would make the copy fail forever) and the
// Not-Before of a finished wait.
func copyHeaders(dst, src nats.Header) {
	for k, v := range src {
		if (len(k) >= 5 && strings.EqualFold(k[:5], "nats-")) || k == HeaderNotBefore || k == HeaderDeferredSubject {
			continue
		}
		dst[k] = slices.Clone(v)
	}
}
