package dlq

import (
	"fmt"
	"strings"
	"unicode"
)

// clean makes text from a dead letter safe for a terminal. Anyone who can
// publish to alharvest.dlq.* or alharvest.sids chooses these bytes, and a
// reason may quote server text: an escape sequence could retitle the
// terminal, hide lines or fake output, and a bidi override could reorder
// what the operator reads. Every control or format character (C0, DEL, C1
// such as the 8-bit CSI U+009B, bidi controls) is shown as a \x.. or \u....
// escape instead, so nothing is lost from view; invalid UTF-8 becomes U+FFFD.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unsafeRune(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// unsafeRune reports the runes clean escapes. Tab, newline and carriage
// return are escaped too: a reason or payload is shown on one line.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}
