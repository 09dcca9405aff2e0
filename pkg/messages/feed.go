package messages

import "strings"

// The feed (`alharvest feed`) hands each collected event to a program of
// the user's through its own durable consumer on StreamCollected. Every
// feed's consumer reads SubjectCollected and its own feed subject, which
// holds only the events `alharvest dlq replay` sends back to that one
// feed: replaying on SubjectCollected would hand the file again to every
// feed and to every other reader of the stream.
const (
	// StageFeed names the feed in DLQ subjects and headers, logs and metrics.
	StageFeed = "feed"
	// ConsumerFeed is the default durable name of a feed's consumer on
	// StreamCollected (`alharvest feed --durable`).
	ConsumerFeed = "feed"
	// SubjectFeedPrefix prefixes the replay subject of each feed:
	// alharvest.feed.<durable>, stored in StreamCollected.
	SubjectFeedPrefix = "alharvest.feed."
	// HeaderConsumer names, on a dead letter, the durable consumer that gave
	// up on the message: for a feed, the feed that replay sends it back to.
	HeaderConsumer = "Alharvest-Consumer"
)

// FeedSubject returns the subject on which a feed receives replayed events.
func FeedSubject(durable string) string { return SubjectFeedPrefix + durable }

// ValidateDurable checks a consumer name for use as a feed's durable name
// and subject token: 1 to 64 characters of ASCII letters, digits, '-' and
// '_' (what NATS allows in a consumer name and a subject token alike).
func ValidateDurable(name string) error {
	if name == "" {
		return invalid("empty durable name")
	}
	if len(name) > 64 {
		return invalid("durable name is %d characters long, at most 64 allowed", len(name))
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || r == '-' || r == '_')
	}); i >= 0 {
		return invalid("durable name %q has a character other than a letter, digit, '-' or '_' at position %d", printable(name), i)
	}
	return nil
}
