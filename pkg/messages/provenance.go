package messages

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Provenance says where a collected file came from, as Assemblyline knows
// it. Every field is optional (added in v1 without breaking older
// producers or consumers): the scorer fills it in files messages and the
// downloader carries it into collected events and metadata files.
type Provenance struct {
	// Server is the Assemblyline base URL the file was found on.
	Server string `json:"server,omitempty"`
	// Type is the file type Assemblyline identified, e.g. "executable/windows/pe32".
	Type string `json:"type,omitempty"`
	// Completed is the submission's times.completed.
	Completed time.Time `json:"completed,omitzero"`
	// Names are the file's names in the submission's file tree (a file
	// extracted under several parents may have several). They come from
	// whoever submitted the file, often the malware's author, so they are
	// data only, never a path: the scorer passes each through CleanName,
	// keeps at most MaxNames, sorted and without duplicates, and
	// Validate refuses names CleanName would change.
	Names []string `json:"names,omitempty"`
}

// Bounds of Provenance.Names. At their worst (every byte escaped by JSON
// as \u00XX) the names of one file take under 25 KiB, well within
// MaxMessageSize.
const (
	// MaxNames is how many names a file carries at most.
	MaxNames = 16
	// MaxNameBytes is the longest name, in bytes of UTF-8.
	MaxNameBytes = 256
)

// CleanName makes an untrusted file name safe to carry and to show: each
// byte that is not valid UTF-8 becomes U+FFFD (as encoding/json decodes
// it), control characters (Unicode Cc: C0, DEL, C1), line and paragraph
// separators and bidirectional formatting characters (U+202E and its
// kin, used to disguise an extension) are removed, and the result is cut
// to MaxNameBytes at a character boundary. Nothing else changes: path
// separators, dots and spaces stay, the name is never used as a path.
// An empty result means the name had nothing left to show.
func CleanName(name string) string {
	if nameIsClean(name) {
		return name
	}
	var b strings.Builder
	b.Grow(min(len(name), MaxNameBytes))
	for _, r := range name { // an invalid byte is one utf8.RuneError
		if dropInName(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxNameBytes {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// nameIsClean reports whether CleanName would return name unchanged.
func nameIsClean(name string) bool {
	if len(name) > MaxNameBytes {
		return false
	}
	for i := 0; i < len(name); {
		if c := name[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && n == 1 || dropInName(r) {
			return false
		}
		i += n
	}
	return true
}

// dropInName reports the characters CleanName removes: they change how
// the rest of a name is displayed rather than being part of it.
func dropInName(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r)
}

// maxProvenanceText bounds provenance fields, which other systems may set.
const maxProvenanceText = 1024

func (p Provenance) validate() error {
	if len(p.Server) > maxProvenanceText || len(p.Type) > maxProvenanceText {
		return invalid("server or type longer than %d bytes", maxProvenanceText)
	}
	if !utf8.ValidString(p.Server) || !utf8.ValidString(p.Type) {
		return invalid("server or type is not UTF-8")
	}
	if len(p.Names) > MaxNames {
		return invalid("%d names, at most %d allowed", len(p.Names), MaxNames)
	}
	for i, n := range p.Names {
		if n == "" || !nameIsClean(n) {
			// The name itself is left out: it is attacker-controlled.
			return invalid("name %d is empty, longer than %d bytes, not UTF-8 or has control characters (see CleanName)", i, MaxNameBytes)
		}
	}
	return nil
}

// nilIfEmpty makes "names": [] decode like an absent list, so a payload
// and its re-encoding (which omits an empty list) decode alike.
func nilIfEmpty(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	return names
}
