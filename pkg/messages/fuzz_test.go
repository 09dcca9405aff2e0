package messages_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alharvest/alharvest/pkg/messages"
)

// Seeds shared by both targets: every shape of payload a publisher or an
// attacker can put on a subject. The committed corpus under
// testdata/fuzz/<FuzzName>/ holds the ones worth keeping as files (crashers
// found by fuzzing included); these cover the rest.
func addPayloadSeeds(f *testing.F) {
	seeds := []string{
		``,
		` `,
		"\n\t\r ",
		`4EZNjXD44dmYMRbXYPAe6t`,
		"  4EZNjXD44dmYMRbXYPAe6t\n",
		"\u00a04EZNjXD44dmYMRbXYPAe6t\u0085", // Unicode spaces around a bare SID
		`a`,
		strings.Repeat("a", 22),
		strings.Repeat("a", 23),
		`4EZNjXD44dmYMRbXYPAe6t 4EZNjXD44dmYMRbXYPAe6t`,
		`../../etc/passwd`,
		"abc\x00def",
		"\xff\xfe\xfd",
		`{"sid":"4EZNjXD44dmYMRbXYPAe6t"}`,
		`{"sid":"4EZNjXD44dmYMRbXYPAe6t","source":"feedX"}`,
		`{"sid":"abc","source":"\ud800"}`,
		"{\"sid\":\"abc\",\"source\":\"\xff\"}",
		`{"sid":"abc","sid":"def"}`,
		`{"SID":"abc"}`,
		`{"sid":"abc","SID":"d/f"}`,
		`{"sid":"ab\u0063"}`,
		`{"sid":"abc\u0000"}`,
		`{"sid":42}`,
		`{"sid":null}`,
		`{"sid":["abc"]}`,
		`{"sid":{"sid":"abc"}}`,
		`{"sid":"abc"} {"sid":"def"}`,
		`{"sid":"abc"}]`,
		`{"sid":"abc"}}`,
		`{"sid":"abc"},`,
		`{"sid":`,
		`{`,
		`{}`,
		`[{"sid":"abc"}]`,
		`null`,
		`"abc"`,
		`{"sid":"abc","extra":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","sid":"4EZNjXD44dmYMRbXYPAe6t","score":7000}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786"}`,
		`{"sha256":"52D6E3DE4FA0DCC29946695F93940C3E7F26F30E1E39F4B1A49AD98839112786"}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","score":-9223372036854775808}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","score":9223372036854775808}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","score":1e3}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","score":7000.0}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","score":"7000"}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","sid":""}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","sid":"a/b"}`,
		`{"sha256":"../../../../../../../../../../../../../../../../../../etc/passwd"}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786"}]`,
		`{"sha256":"` + strings.Repeat("\u00e9", 64) + `"}`,
		`{"sha256":"` + strings.Repeat("x", 1000) + `"}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":["invoice.doc","payload.exe"]}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":[]}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":null}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":"invoice.doc"}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":[""]}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":["a\u0000b","\u202egpj.exe","\ud800"]}`,
		"{\"sha256\":\"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786\",\"names\":[\"\xff\"]}",
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":["` + strings.Repeat("n", 257) + `"]}`,
		`{"sha256":"52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786","names":[` + strings.Repeat(`"n",`, 16) + `"n"]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// Just under and just over the size limit.
	pad := func(n int) []byte {
		p := []byte(`{"sid":"abc","pad":"`)
		p = append(p, bytes.Repeat([]byte("x"), n-len(p)-2)...)
		return append(p, '"', '}')
	}
	f.Add(pad(messages.MaxMessageSize))
	f.Add(pad(messages.MaxMessageSize + 1))
}

// checkInvalid holds for every refusal: it wraps ErrInvalid and its text is
// short, valid UTF-8 (it ends up in logs and in the Alharvest-Reason header
// of a dead letter) and does not repeat a long input.
func checkInvalid(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	msg := err.Error()
	if len(msg) > 400 {
		t.Fatalf("error message is %d bytes long: %.200q…", len(msg), msg)
	}
	if !utf8.ValidString(msg) {
		t.Fatalf("error message is not valid UTF-8: %q", msg)
	}
}

// isJSONForm reports whether the decoders take data as a JSON object.
func isJSONForm(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// FuzzDecodeSID: DecodeSID never panics; what it accepts is a valid SID,
// exactly one JSON object or the bare text, and survives a round trip
// through NewSIDMsg.
func FuzzDecodeSID(f *testing.F) {
	addPayloadSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := messages.DecodeSID(data)
		if err != nil {
			checkInvalid(t, err)
			if m != (messages.SID{}) {
				t.Fatalf("a refusal returned %+v", m)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted %+v that does not validate: %v", m, err)
		}
		if n := len(m.SID); n < 1 || n > 22 {
			t.Fatalf("accepted a SID of %d characters", n)
		}
		for i := 0; i < len(m.SID); i++ {
			c := m.SID[i]
			if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
				t.Fatalf("accepted SID %q with a non-base62 byte", m.SID)
			}
		}
		if len(data) > messages.MaxMessageSize {
			t.Fatalf("accepted %d bytes, over MaxMessageSize", len(data))
		}
		trimmed := bytes.TrimSpace(data)
		if isJSONForm(data) {
			// Exactly one JSON object: nothing may follow it.
			if !json.Valid(trimmed) {
				t.Fatalf("accepted %q, which is not one JSON value", trimmed)
			}
		} else if m.SID != string(trimmed) || m.PublishedBy != "" {
			t.Fatalf("bare text %q decoded to %+v", trimmed, m)
		}

		msg, err := messages.NewSIDMsg(m.SID, m.PublishedBy)
		if err != nil {
			t.Fatalf("NewSIDMsg refuses what DecodeSID accepted (%+v): %v", m, err)
		}
		if msg.Subject != messages.SubjectSIDs || msg.Header.Get(messages.HeaderMsgID) != m.SID {
			t.Fatalf("message for %+v: subject %q, Nats-Msg-Id %q", m, msg.Subject, msg.Header.Get(messages.HeaderMsgID))
		}
		back, err := messages.DecodeSID(msg.Data)
		if err != nil {
			t.Fatalf("DecodeSID refuses NewSIDMsg's own payload %q: %v", msg.Data, err)
		}
		if back != m {
			t.Fatalf("round trip changed %+v into %+v", m, back)
		}
	})
}

// FuzzDecodeFile: DecodeFile never panics; what it accepts has a sha256 of
// 64 lowercase hex characters (it becomes a file name), a valid or empty
// SID, is exactly one JSON object, and survives a round trip through
// NewFileMsg.
func FuzzDecodeFile(f *testing.F) {
	addPayloadSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := messages.DecodeFile(data)
		if err != nil {
			checkInvalid(t, err)
			if !reflect.DeepEqual(m, messages.File{}) {
				t.Fatalf("a refusal returned %+v", m)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted %+v that does not validate: %v", m, err)
		}
		if len(m.SHA256) != 64 {
			t.Fatalf("accepted a sha256 of %d characters", len(m.SHA256))
		}
		for i := 0; i < len(m.SHA256); i++ {
			c := m.SHA256[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("accepted sha256 %q with a byte that is not lowercase hex", m.SHA256)
			}
		}
		if m.SID != "" && messages.ValidateSID(m.SID) != nil {
			t.Fatalf("accepted an invalid SID %q", m.SID)
		}
		if !isJSONForm(data) || !json.Valid(bytes.TrimSpace(data)) {
			t.Fatalf("accepted %q, which is not one JSON object", data)
		}

		msg, err := messages.NewFileMsg(m)
		if err != nil {
			t.Fatalf("NewFileMsg refuses what DecodeFile accepted (%+v): %v", m, err)
		}
		if msg.Subject != messages.SubjectFiles || msg.Header.Get(messages.HeaderMsgID) != m.SHA256 {
			t.Fatalf("message for %+v: subject %q, Nats-Msg-Id %q", m, msg.Subject, msg.Header.Get(messages.HeaderMsgID))
		}
		back, err := messages.DecodeFile(msg.Data)
		if err != nil {
			t.Fatalf("DecodeFile refuses NewFileMsg's own payload %q: %v", msg.Data, err)
		}
		if len(m.Names) > messages.MaxNames {
			t.Fatalf("accepted %d names", len(m.Names))
		}
		for _, n := range m.Names {
			if n == "" || messages.CleanName(n) != n {
				t.Fatalf("accepted name %q, which CleanName changes", n)
			}
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("round trip changed %+v into %+v", m, back)
		}
	})
}
