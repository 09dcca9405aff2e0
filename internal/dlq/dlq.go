// Package dlq reads and replays alharvest's dead letters: messages a stage
// gave up on, kept in ALHARVEST_DLQ with the reason in their headers.
package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Letter is one dead letter.
type Letter struct {
	// Seq is the letter's sequence in ALHARVEST_DLQ (what replay selects on).
	Seq             uint64      `json:"seq"`
	Stage           string      `json:"stage"`
	OriginalSubject string      `json:"subject"`
	Reason          string      `json:"reason"`
	Deliveries      int         `json:"deliveries"`
	FailedAt        time.Time   `json:"failed_at"`
	Payload         string      `json:"payload"`
	Header          nats.Header `json:"-"`
	Data            []byte      `json:"-"`
}

// Filter selects letters.
type Filter struct {
	// Stage limits to one stage ("" = all).
	Stage string
	// FromSeq starts at this DLQ sequence (0 = the beginning).
	FromSeq uint64
	// Seqs, when not empty, selects exactly these sequences.
	Seqs []uint64
	// Limit caps the number returned (0 = no cap).
	Limit int
}

// List returns the dead letters matching f, oldest first.
func List(ctx context.Context, js jetstream.JetStream, f Filter) ([]Letter, error) {
	stream, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	subject := messages.SubjectDLQPrefix + ">"
	if f.Stage != "" {
		subject = messages.DLQSubject(f.Stage)
	}
	want := map[uint64]bool{}
	for _, s := range f.Seqs {
		want[s] = true
	}
	var out []Letter
	seq := max(f.FromSeq, 1)
	for {
		if f.Limit > 0 && len(out) >= f.Limit {
			return out, nil
		}
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read dead letter at %d: %w", seq, err)
		}
		seq = m.Sequence + 1
		if len(want) > 0 && !want[m.Sequence] {
			continue
		}
		out = append(out, letter(m))
	}
}

func letter(m *jetstream.RawStreamMsg) Letter {
	l := Letter{
		Seq:             m.Sequence,
		Stage:           clean(m.Header.Get(messages.HeaderStage)),
		OriginalSubject: clean(m.Header.Get(messages.HeaderOriginalSubject)),
		Reason:          clean(m.Header.Get(messages.HeaderReason)),
		Header:          m.Header,
		Data:            m.Data,
		Payload:         clean(printable(m.Data)),
	}
	l.Deliveries, _ = strconv.Atoi(m.Header.Get(messages.HeaderDeliveries))
	if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(messages.HeaderFailedAt)); err == nil {
		l.FailedAt = t
	} else {
		l.FailedAt = m.Time
	}
	return l
}

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// Keep leaves the letters in the DLQ after replaying them.
	Keep bool
}

// Replay publishes each letter's payload back to its original subject and,
// unless Keep, removes it from the DLQ once JetStream stored the copy. The
// copy gets a fresh de-duplication ID: the original's may still be inside
// the work queue's window, which would silently drop it.
func Replay(ctx context.Context, js jetstream.JetStream, letters []Letter, o ReplayOptions) (int, error) {
	stream, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream: %w", err)
	}
	n := 0
	for _, l := range letters {
		subject, err := replaySubject(l)
		if err != nil {
			return n, err
		}
		m := nats.NewMsg(subject)
		m.Data = l.Data
		m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("replay.%d.%d", l.Seq, time.Now().UnixNano()))
		m.Header.Set("Alharvest-Replayed-From", strconv.FormatUint(l.Seq, 10))
		if _, err := js.PublishMsg(ctx, m); err != nil {
			return n, fmt.Errorf("replay dead letter %d: %w", l.Seq, err)
		}
		n++
		if !o.Keep {
			if err := stream.DeleteMsg(ctx, l.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
				return n, fmt.Errorf("replayed dead letter %d but could not remove it: %w", l.Seq, err)
			}
		}
	}
	return n, nil
}

// replaySubject is where a letter goes back to: its original work queue,
// or, for a collected event a feed gave up on, that feed's own replay
// subject, so that no other feed or reader of alharvest.collected sees
// the file again.
func replaySubject(l Letter) (string, error) {
	switch l.OriginalSubject {
	case messages.SubjectSIDs, messages.SubjectFiles:
		return l.OriginalSubject, nil
	case messages.SubjectCollected:
		durable := l.Header.Get(messages.HeaderConsumer)
		if err := messages.ValidateDurable(durable); err != nil {
			return "", fmt.Errorf("dead letter %d: a collected event without the feed that gave up on it (%s): %w", l.Seq, messages.HeaderConsumer, err)
		}
		return messages.FeedSubject(durable), nil
	}
	if strings.HasPrefix(l.OriginalSubject, messages.SubjectFeedPrefix) {
		// Given up on again after a replay: back to the same feed.
		if err := messages.ValidateDurable(strings.TrimPrefix(l.OriginalSubject, messages.SubjectFeedPrefix)); err == nil {
			return l.OriginalSubject, nil
		}
	}
	return "", fmt.Errorf("dead letter %d: cannot replay to subject %q", l.Seq, l.OriginalSubject)
}

// printable renders a payload for a terminal: text as is (shortened), binary as a note.
func printable(b []byte) string {
	const max = 200
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return fmt.Sprintf("<%d bytes of binary data>", len(b))
		}
	}
	s := string(b)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
