// Package secret is the one place that knows how a secret is kept out of
// what alharvest prints: a string type that never prints its value,
// credentials masked in URLs, and known secret values scrubbed from text
// that came from elsewhere (a server's answer, an error, a log record).
package secret

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Mask is what is printed in place of a secret.
const Mask = "[REDACTED]"

// String is a secret such as an API key or a password. Every way of
// printing it — fmt with any verb (%v, %+v, %#v, %s, %q, %x…), String,
// JSON and slog — shows Mask, or nothing when it is empty; only Reveal
// returns the value, for the one call that must send it. A struct with a
// String field therefore prints safely whole.
type String string

// Reveal returns the secret's value.
func (s String) Reveal() string { return string(s) }

// String returns Mask, or "" when the secret is empty.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return Mask
}

// Format makes every fmt verb print String (quoted for %q and %#v), so no
// verb prints the value, not even its bytes with %x.
func (s String) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'q' || (verb == 'v' && f.Flag('#')):
		fmt.Fprintf(f, "%q", s.String())
	default:
		io.WriteString(f, s.String())
	}
}

// MarshalJSON encodes the secret as the string Mask ("" when empty).
func (s String) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// LogValue makes slog log Mask ("" when empty).
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MaskURL replaces the user information (user:password@) of each URL in a
// comma-separated list with Mask, so NATS_URL and AL_URL print safely. What
// does not parse as a URL is masked up to its last '@' all the same.
func MaskURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		at := strings.LastIndex(p, "@")
		if at < 0 {
			continue
		}
		if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
			parts[i] = p[:scheme+3] + Mask + "@" + p[at+1:]
		} else {
			parts[i] = Mask + "@" + p[at+1:]
		}
	}
	return strings.Join(parts, ",")
}

// Scrub replaces every occurrence of each non-empty secret in text with
// Mask. It is for text alharvest did not compose itself: an error from a
// library, a record a log handler receives.
func Scrub(text string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" && strings.Contains(text, sec) {
			text = strings.ReplaceAll(text, sec, Mask)
		}
	}
	return text
}

// ScrubCut is Scrub for text that may have been cut short (an excerpt of a
// body, a quoted identifier): a tail of text that starts a secret, at least
// four bytes of it, is masked too. It must run before any shortening of its
// own.
func ScrubCut(text string, secrets ...string) string {
	text = Scrub(text, secrets...)
	for _, sec := range secrets {
		for k := len(sec) - 1; k >= 4; k-- {
			if strings.HasSuffix(text, sec[:k]) {
				text = text[:len(text)-k] + Mask
				break
			}
		}
	}
	return text
}
