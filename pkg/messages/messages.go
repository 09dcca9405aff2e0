// Package messages is alharvest's wire contract: the NATS subjects, JetStream
// streams, consumers and KV bucket the stages share, and the payloads that
// travel on them.
//
// Other systems import this package to feed alharvest. Publishing a SID for
// collection takes three lines:
//
//	m, err := messages.NewSIDMsg("4EZNjXD44dmYMRbXYPAe6t", "my-system")
//	if err != nil { return err }
//	_, err = js.PublishMsg(ctx, m) // js is a jetstream.JetStream
//
// # Compatibility policy
//
// Names (subjects, streams, consumers, bucket, header keys) and the JSON field
// names of every payload are stable for the whole v1 line of alharvest: they
// are never renamed or removed, and a field never changes type. New optional
// fields may be added; decoders in this package ignore fields they do not
// know, so an older alharvest reads a newer producer's messages and the
// reverse. An added field may be a slice (Provenance.Names is one), so
// compare payload structs field by field or with reflect.DeepEqual, not
// with ==; an absent list decodes as nil, never as an empty slice. A
// breaking change would come with new subject names (for example
// alharvest.v2.sids) served side by side with the old ones for a release.
package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects, streams, consumers and the KV bucket, exactly as the public
// contract names them.
const (
	// SubjectSIDs carries submission IDs to score; searcher and other systems publish here.
	SubjectSIDs = "alharvest.sids"
	// SubjectFiles carries files that qualified, for the downloader.
	SubjectFiles = "alharvest.files"
	// SubjectCollected announces each file written to OUTPUT_DIR, for downstream processes.
	SubjectCollected = "alharvest.collected"
	// SubjectDLQPrefix prefixes the dead-letter subject of each stage: alharvest.dlq.<stage>.
	SubjectDLQPrefix = "alharvest.dlq."

	// StreamSIDs is the work-queue stream behind SubjectSIDs.
	StreamSIDs = "ALHARVEST_SIDS"
	// StreamFiles is the work-queue stream behind SubjectFiles.
	StreamFiles = "ALHARVEST_FILES"
	// StreamCollected keeps collected events (limits retention).
	StreamCollected = "ALHARVEST_COLLECTED"
	// StreamDLQ keeps dead letters of every stage (limits retention).
	StreamDLQ = "ALHARVEST_DLQ"

	// ConsumerScorer is the durable pull consumer on StreamSIDs shared by every scorer.
	ConsumerScorer = "scorer"
	// ConsumerDownloader is the durable pull consumer on StreamFiles shared by every downloader.
	ConsumerDownloader = "downloader"

	// BucketState is the KV bucket holding checkpoints such as the searcher's watermark.
	BucketState = "ALHARVEST_STATE"
)

// Stage names, used in DLQ subjects, headers, logs and metrics.
const (
	StageSearcher   = "searcher"
	StageScorer     = "scorer"
	StageDownloader = "downloader"
)

// Headers set on dead letters. The payload of a dead letter is the original
// message's payload, unchanged.
const (
	// HeaderStage names the stage that gave up on the message.
	HeaderStage = "Alharvest-Stage"
	// HeaderReason says why, in words meant for a person.
	HeaderReason = "Alharvest-Reason"
	// HeaderDeliveries is how many times JetStream delivered the message.
	HeaderDeliveries = "Alharvest-Deliveries"
	// HeaderOriginalSubject is where the message was first published; replay sends it back there.
	HeaderOriginalSubject = "Alharvest-Original-Subject"
	// HeaderOriginalSequence is the message's sequence in its original stream.
	HeaderOriginalSequence = "Alharvest-Original-Sequence"
	// HeaderFailedAt is when the stage gave up (RFC 3339, UTC).
	HeaderFailedAt = "Alharvest-Failed-At"
	// HeaderMsgID is JetStream's de-duplication header.
	HeaderMsgID = "Nats-Msg-Id"
)

// MaxMessageSize bounds every payload this package decodes. A valid message is
// a few hundred bytes; anything larger is refused before parsing.
const MaxMessageSize = 64 << 10

// DLQSubject returns the dead-letter subject of a stage.
func DLQSubject(stage string) string { return SubjectDLQPrefix + stage }

// ErrInvalid is wrapped by every validation and decoding error of this package,
// so callers can tell bad input from other failures with errors.Is.
var ErrInvalid = errors.New("invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// SID asks alharvest to score one Assemblyline submission.
type SID struct {
	// SID is the submission ID: base62, 1 to 22 characters.
	SID string `json:"sid"`
	// PublishedBy optionally names the publisher (the JSON field "source"),
	// for logs and dead letters.
	PublishedBy string `json:"source,omitempty"`
}

// Validate reports whether the message can be processed.
func (m SID) Validate() error { return ValidateSID(m.SID) }

// File asks the downloader to collect one file.
type File struct {
	// SHA256 is the file's hash: 64 lowercase hex characters.
	SHA256 string `json:"sha256"`
	// SID is the submission in which the file qualified.
	SID string `json:"sid"`
	// Score is the file's summed score in that submission.
	Score int64 `json:"score"`
	Provenance
}

// Validate reports whether the message can be processed. Only the hash is
// required; SID and Score are informational.
func (m File) Validate() error {
	if err := ValidateSHA256(m.SHA256); err != nil {
		return err
	}
	if m.SID != "" {
		if err := ValidateSID(m.SID); err != nil {
			return err
		}
	}
	return m.Provenance.validate()
}

// Collected announces a verified file in OUTPUT_DIR.
type Collected struct {
	SHA256 string `json:"sha256"`
	// Path is the file's absolute path on the downloader's host.
	Path string `json:"path"`
	// Size is the size in bytes of the cART file.
	Size  int64  `json:"size"`
	Score int64  `json:"score"`
	SID   string `json:"sid"`
	Provenance
	// CollectedAt is when the downloader wrote the file (or, for a file
	// already present, found it verified).
	CollectedAt time.Time `json:"collected_at,omitzero"`
}

// Validate reports whether the event is well formed.
func (m Collected) Validate() error {
	if err := ValidateSHA256(m.SHA256); err != nil {
		return err
	}
	if m.Path == "" {
		return invalid("collected event without a path")
	}
	if m.SID != "" {
		if err := ValidateSID(m.SID); err != nil {
			return err
		}
	}
	return m.Provenance.validate()
}

// ValidateSID checks the Assemblyline SID format: 1 to 22 base62 characters.
func ValidateSID(sid string) error {
	if sid == "" {
		return invalid("empty sid")
	}
	if len(sid) > 22 {
		return invalid("sid is %d characters long, at most 22 allowed", len(sid))
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return invalid("sid %q has a character outside base62 at position %d", printable(sid), i)
		}
	}
	return nil
}

// ValidateSHA256 checks for exactly 64 lowercase hex characters. Uppercase is
// refused rather than folded: Assemblyline itself only knows lowercase, and a
// hash is also a file name in OUTPUT_DIR, which must never be ambiguous.
func ValidateSHA256(h string) error {
	if len(h) != 64 {
		return invalid("sha256 %q is %d characters long, want 64", printable(h), len(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid("sha256 %q has a character other than lowercase hex at position %d", printable(h), i)
		}
	}
	return nil
}

// printable shortens and quotes attacker-controlled input for error messages.
func printable(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "�")
}

// Decode decodes and validates one message of type T: SID, File or
// Collected (as in Decode[messages.File](data)). Surrounding whitespace is
// ignored; a SID message may also be a bare SID as plain text. Every error
// wraps ErrInvalid.
func Decode[T any, P decodable[T]](data []byte) (T, error) {
	var m T
	p := P(&m)
	if len(data) > MaxMessageSize {
		return m, invalid("%s of %d bytes exceeds %d", p.kind(), len(data), MaxMessageSize)
	}
	if err := p.decode(bytes.TrimSpace(data)); err != nil {
		return *new(T), err
	}
	if err := p.Validate(); err != nil {
		return *new(T), err
	}
	return m, nil
}

// decodable is a pointer to a message type that Decode can fill.
type decodable[T any] interface {
	*T
	// kind names the message in errors.
	kind() string
	// decode fills the message from its trimmed payload.
	decode(trimmed []byte) error
	Validate() error
}

// DecodeSID is Decode[SID]: the JSON object {"sid": "..."} or a bare SID.
func DecodeSID(data []byte) (SID, error) { return Decode[SID](data) }

// DecodeFile is Decode[File].
func DecodeFile(data []byte) (File, error) { return Decode[File](data) }

// DecodeCollected is Decode[Collected].
func DecodeCollected(data []byte) (Collected, error) { return Decode[Collected](data) }

func (*SID) kind() string       { return "sid message" }
func (*File) kind() string      { return "file message" }
func (*Collected) kind() string { return "collected event" }

func (m *SID) decode(b []byte) error {
	switch {
	case len(b) == 0:
		return invalid("empty sid message")
	case b[0] != '{':
		m.SID = string(b)
		return nil
	}
	return decodeJSON(b, m)
}

func (m *File) decode(b []byte) error {
	if err := decodeJSON(b, m); err != nil {
		return err
	}
	m.Names = nilIfEmpty(m.Names)
	return nil
}

func (m *Collected) decode(b []byte) error {
	if err := decodeJSON(b, m); err != nil {
		return err
	}
	m.Names = nilIfEmpty(m.Names)
	return nil
}

// decodeJSON decodes exactly one JSON object. Unknown fields are accepted (the
// compatibility policy lets producers add fields) but trailing data is not.
func decodeJSON(data []byte, v any) error {
	if len(data) == 0 || data[0] != '{' {
		return invalid("payload is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return invalid("malformed JSON: %v", err)
	}
	// dec.More() is false before a stray ']' or '}', so ask for the next
	// token: only the end of the input is acceptable.
	if _, err := dec.Token(); err != io.EOF {
		return invalid("trailing data after the JSON object")
	}
	return nil
}

// NewSIDMsg builds a message for SubjectSIDs with the de-duplication header
// set to the SID, ready for jetstream's PublishMsg.
func NewSIDMsg(sid, publishedBy string) (*nats.Msg, error) {
	m := SID{SID: sid, PublishedBy: publishedBy}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return newMsg(SubjectSIDs, sid, m)
}

// NewFileMsg builds a message for SubjectFiles, de-duplicated on the hash.
func NewFileMsg(f File) (*nats.Msg, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return newMsg(SubjectFiles, f.SHA256, f)
}

// NewCollectedMsg builds a message for SubjectCollected, de-duplicated on the hash.
func NewCollectedMsg(c Collected) (*nats.Msg, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return newMsg(SubjectCollected, c.SHA256, c)
}

func newMsg(subject, id string, v any) (*nats.Msg, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s message: %w", subject, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(HeaderMsgID, id)
	return m, nil
}
