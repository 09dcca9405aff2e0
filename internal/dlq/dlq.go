// Package dlq reads and replays alharvest's dead letters: messages a stage
// gave up on, kept in ALHARVEST_DLQ with the reason in their headers.
package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Letter is one dead letter. Its JSON form (see MarshalJSON) carries the
// whole payload; Payload is the short, terminal-safe preview for tables.
type Letter struct {
	// Seq is the letter's sequence in ALHARVEST_DLQ (what replay selects on).
	Seq             uint64
	Stage           string
	OriginalSubject string
	Reason          string
	Deliveries      int
	FailedAt        time.Time
	Payload         string
	Header          nats.Header
	Data            []byte
}

// Payload encodings of a letter's JSON form.
const (
	// EncodingText: "payload" is the payload itself, a JSON string.
	EncodingText = "text"
	// EncodingBase64: "payload" is the payload in standard base64, because
	// it is not UTF-8 or holds control characters a terminal would obey.
	EncodingBase64 = "base64"
)

// letterJSON is a Letter as `alharvest dlq list --json` prints it.
type letterJSON struct {
	Seq             uint64    `json:"seq"`
	Stage           string    `json:"stage"`
	OriginalSubject string    `json:"subject"`
	Reason          string    `json:"reason"`
	Deliveries      int       `json:"deliveries"`
	FailedAt        time.Time `json:"failed_at"`
	Payload         string    `json:"payload"`
	PayloadEncoding string    `json:"payload_encoding"`
}

// MarshalJSON writes the letter with its complete payload: as text when it
// is UTF-8 without control characters (tab and newline allowed), otherwise
// in base64, so that the document is valid and nothing in it can drive the
// terminal of whoever pipes it through jq.
func (l Letter) MarshalJSON() ([]byte, error) {
	j := letterJSON{Seq: l.Seq, Stage: l.Stage, OriginalSubject: l.OriginalSubject, Reason: l.Reason,
		Deliveries: l.Deliveries, FailedAt: l.FailedAt, Payload: string(l.Data), PayloadEncoding: EncodingText}
	if !plainText(l.Data) {
		j.Payload, j.PayloadEncoding = base64.StdEncoding.EncodeToString(l.Data), EncodingBase64
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes, payload into Data.
func (l *Letter) UnmarshalJSON(b []byte) error {
	var j letterJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	data := []byte(j.Payload)
	if j.PayloadEncoding == EncodingBase64 {
		var err error
		if data, err = base64.StdEncoding.DecodeString(j.Payload); err != nil {
			return fmt.Errorf("dead letter %d: payload: %w", j.Seq, err)
		}
	}
	*l = Letter{Seq: j.Seq, Stage: j.Stage, OriginalSubject: j.OriginalSubject, Reason: j.Reason,
		Deliveries: j.Deliveries, FailedAt: j.FailedAt, Data: data, Payload: clean(printable(data))}
	return nil
}

// plainText reports whether b can travel as a JSON string and be shown
// as is: valid UTF-8, no control or format character but tab and newline.
func plainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\t' && r != '\n' && unsafeRune(r) {
			return false
		}
	}
	return true
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

// Missing lists the sequences f selects by number that are not among
// letters (what List found): asking for a letter that does not exist is
// an error to the operator, not an empty success.
func Missing(f Filter, letters []Letter) []uint64 {
	have := map[uint64]bool{}
	for _, l := range letters {
		have[l.Seq] = true
	}
	var out []uint64
	for _, s := range f.Seqs {
		if !have[s] {
			out = append(out, s)
		}
	}
	return out
}

// Delete removes the letters from the DLQ and returns how many it removed.
func Delete(ctx context.Context, js jetstream.JetStream, letters []Letter) (int, error) {
	stream, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream: %w", err)
	}
	n := 0
	for _, l := range letters {
		if err := stream.DeleteMsg(ctx, l.Seq); err != nil {
			return n, fmt.Errorf("delete dead letter %d: %w", l.Seq, err)
		}
		n++
	}
	return n, nil
}

// Purge removes every dead letter, or only one stage's when stage is not
// empty, and returns how many there were.
func Purge(ctx context.Context, js jetstream.JetStream, stage string) (uint64, error) {
	stream, err := js.Stream(ctx, messages.StreamDLQ)
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream: %w", err)
	}
	subject := messages.SubjectDLQPrefix + ">"
	if stage != "" {
		subject = messages.DLQSubject(stage)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, fmt.Errorf("dead-letter stream: %w", err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return 0, fmt.Errorf("purge dead letters: %w", err)
	}
	return n, nil
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
