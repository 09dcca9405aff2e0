package messages_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/pkg/messages"
)

const goodSHA = "52d6e3de4fa0dcc29946695f93940c3e7f26f30e1e39f4b1a49ad98839112786"

func TestDecodeSID(t *testing.T) {
	tests := []struct {
		name, in string
		want     messages.SID
		wantErr  string
	}{
		{"json", `{"sid":"4EZNjXD44dmYMRbXYPAe6t"}`, messages.SID{SID: "4EZNjXD44dmYMRbXYPAe6t"}, ""},
		{"json with source", `{"sid":"bYdMV2iJwYRZko3R3ik2X","source":"feedX"}`, messages.SID{SID: "bYdMV2iJwYRZko3R3ik2X", PublishedBy: "feedX"}, ""},
		{"json with unknown field", `{"sid":"abc","extra":[1,2]}`, messages.SID{SID: "abc"}, ""},
		{"bare text", "4EZNjXD44dmYMRbXYPAe6t", messages.SID{SID: "4EZNjXD44dmYMRbXYPAe6t"}, ""},
		{"bare text with newline", "  4EZNjXD44dmYMRbXYPAe6t\n", messages.SID{SID: "4EZNjXD44dmYMRbXYPAe6t"}, ""},
		{"one char", "a", messages.SID{SID: "a"}, ""},
		{"empty", "", messages.SID{}, "empty sid message"},
		{"blank", " \n", messages.SID{}, "empty sid message"},
		{"23 chars", strings.Repeat("a", 23), messages.SID{}, "at most 22"},
		{"dash uuid", "4d3e2b1a-0000-1111-2222-333344445555", messages.SID{}, "at most 22"},
		{"path traversal", "../../etc/passwd", messages.SID{}, "outside base62"},
		{"slash", "abc/def", messages.SID{}, "outside base62"},
		{"NUL", "abc\x00def", messages.SID{}, "outside base62"},
		{"json without sid", `{"source":"x"}`, messages.SID{}, "empty sid"},
		{"json wrong type", `{"sid":42}`, messages.SID{}, "malformed JSON"},
		{"invalid json", `{"sid":`, messages.SID{}, "malformed JSON"},
		{"trailing data", `{"sid":"abc"} {"sid":"def"}`, messages.SID{}, "trailing data"},
		{"json array", `["abc"]`, messages.SID{}, "outside base62"},
		{"oversized", `{"sid":"abc","pad":"` + strings.Repeat("x", messages.MaxMessageSize) + `"}`, messages.SID{}, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := messages.DecodeSID([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if !errors.Is(err, messages.ErrInvalid) {
					t.Errorf("err %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeFile(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  string
	}{
		{"ok", `{"sha256":"` + goodSHA + `","sid":"abc","score":7000}`, ""},
		{"hash only", `{"sha256":"` + goodSHA + `"}`, ""},
		{"uppercase", `{"sha256":"` + strings.ToUpper(goodSHA) + `"}`, "lowercase hex"},
		{"63 chars", `{"sha256":"` + goodSHA[:63] + `"}`, "want 64"},
		{"65 chars", `{"sha256":"` + goodSHA + `a"}`, "want 64"},
		{"traversal", `{"sha256":"../../etc/passwd"}`, "want 64"},
		{"traversal padded to 64", `{"sha256":"../../../../../../../../../../../../../../../../../../etc/passwd"}`, "lowercase hex"},
		{"slash", `{"sha256":"` + goodSHA[:32] + "/" + goodSHA[33:] + `"}`, "lowercase hex"},
		{"NUL", `{"sha256":"` + goodSHA[:10] + `\u0000` + goodSHA[11:] + `"}`, "lowercase hex"},
		{"bad sid", `{"sha256":"` + goodSHA + `","sid":"a/b"}`, "outside base62"},
		{"bare text", goodSHA, "not a JSON object"},
		{"score as string", `{"sha256":"` + goodSHA + `","score":"7000"}`, "malformed JSON"},
		{"unknown field", `{"sha256":"` + goodSHA + `","new":true}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := messages.DecodeFile([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewSIDMsg(t *testing.T) {
	m, err := messages.NewSIDMsg("4EZNjXD44dmYMRbXYPAe6t", "feed")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != messages.SubjectSIDs || m.Header.Get(messages.HeaderMsgID) != "4EZNjXD44dmYMRbXYPAe6t" {
		t.Errorf("subject %s header %v", m.Subject, m.Header)
	}
	back, err := messages.DecodeSID(m.Data)
	if err != nil || back.SID != "4EZNjXD44dmYMRbXYPAe6t" || back.PublishedBy != "feed" {
		t.Errorf("round trip: %+v %v", back, err)
	}
	if _, err := messages.NewSIDMsg("bad sid", ""); err == nil {
		t.Error("invalid SID accepted")
	}
}

func TestCollectedRoundTrip(t *testing.T) {
	c := messages.Collected{SHA256: goodSHA, Path: "/out/" + goodSHA + ".cart", Size: 10, Score: 7000, SID: "abc",
		Provenance: messages.Provenance{Names: []string{"invoice.doc"}}}
	m, err := messages.NewCollectedMsg(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := messages.DecodeCollected(m.Data)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// TestDecodeNamesTheMessage: Decode is the one decoder behind DecodeSID,
// DecodeFile and DecodeCollected; each type's errors say which message
// failed, and what one type accepts another may refuse.
func TestDecodeNamesTheMessage(t *testing.T) {
	oversized := []byte(`{"pad":"` + strings.Repeat("x", messages.MaxMessageSize) + `"}`)
	collected := []byte(`{"sha256":"` + goodSHA + `","path":"/out/x.cart","names":[]}`)
	tests := []struct {
		name    string
		decode  func([]byte) error
		in      []byte
		wantErr string
	}{
		{"sid oversized", func(b []byte) error { _, err := messages.Decode[messages.SID](b); return err }, oversized, "sid message of"},
		{"file oversized", func(b []byte) error { _, err := messages.Decode[messages.File](b); return err }, oversized, "file message of"},
		{"collected oversized", func(b []byte) error { _, err := messages.Decode[messages.Collected](b); return err }, oversized, "collected event of"},
		{"file as plain text", func(b []byte) error { _, err := messages.Decode[messages.File](b); return err }, []byte(goodSHA), "not a JSON object"},
		{"collected without path", func(b []byte) error { _, err := messages.Decode[messages.Collected](b); return err }, []byte(`{"sha256":"` + goodSHA + `"}`), "without a path"},
		{"collected", func(b []byte) error { _, err := messages.Decode[messages.Collected](b); return err }, collected, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.decode(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("err = %v, want an ErrInvalid containing %q", err, tc.wantErr)
			}
		})
	}
	// The named decoders are Decode, normalisation included.
	a, errA := messages.DecodeCollected(collected)
	b, errB := messages.Decode[messages.Collected](collected)
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) || a.Names != nil {
		t.Errorf("DecodeCollected %+v (%v), Decode %+v (%v); want equal, with empty names as nil", a, errA, b, errB)
	}
}
