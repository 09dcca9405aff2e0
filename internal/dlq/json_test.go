package dlq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestJSONCarriesTheWholePayload: each letter's JSON is valid, holds the
// complete payload (text when it can be, base64 otherwise) and reads back
// to the same bytes.
func TestJSONCarriesTheWholePayload(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     []byte
		encoding string
	}{
		{"a SID message", []byte(`{"sid":"4RlWbxGm2xYA1"}`), dlq.EncodingText},
		{"a long payload", []byte(`{"sha256":"` + strings.Repeat("ab", 5000) + `"}`), dlq.EncodingText},
		{"text with tab and newline", []byte("line one\n\tline two"), dlq.EncodingText},
		{"not UTF-8", []byte{0xff, 0xfe, 0x00, 'x', 0x80}, dlq.EncodingBase64},
		{"a terminal escape", []byte("\x1b]0;owned\x07"), dlq.EncodingBase64},
		{"a bidi override", []byte("abc\u202edef"), dlq.EncodingBase64},
		{"empty", nil, dlq.EncodingText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := dlq.Letter{Seq: 7, Stage: "scorer", OriginalSubject: messages.SubjectSIDs, Reason: "r", Data: tc.data}
			b, err := json.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(b) || !utf8.Valid(b) {
				t.Fatalf("not valid JSON: %q", b)
			}
			var raw map[string]any
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			if raw["payload_encoding"] != tc.encoding {
				t.Errorf("payload_encoding %v, want %s", raw["payload_encoding"], tc.encoding)
			}
			if tc.encoding == dlq.EncodingText && raw["payload"] != string(tc.data) {
				t.Errorf("payload %q, want the whole %d bytes", raw["payload"], len(tc.data))
			}
			if bytes.ContainsAny(b, "\x1b\x07\u202e") {
				t.Errorf("JSON holds a raw control character: %q", b)
			}
			var back dlq.Letter
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Data, tc.data) || back.Seq != 7 || back.Stage != "scorer" || back.OriginalSubject != messages.SubjectSIDs {
				t.Errorf("read back as %+v (data %q), want data %q", back, back.Data, tc.data)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	have := []dlq.Letter{{Seq: 2}, {Seq: 4}}
	for _, tc := range []struct {
		seqs []uint64
		want []uint64
	}{
		{nil, nil},
		{[]uint64{2, 4}, nil},
		{[]uint64{99}, []uint64{99}},
		{[]uint64{4, 5, 2, 1}, []uint64{5, 1}},
	} {
		if got := dlq.Missing(dlq.Filter{Seqs: tc.seqs}, have); !slices.Equal(got, tc.want) {
			t.Errorf("Missing(%v) = %v, want %v", tc.seqs, got, tc.want)
		}
	}
}

func TestDeleteAndPurge(t *testing.T) {
	ctx := context.Background()
	t.Run("delete", func(t *testing.T) {
		js := setup(t)
		sel, err := dlq.List(ctx, js, dlq.Filter{Seqs: []uint64{2, 4}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := dlq.Delete(ctx, js, sel); n != 2 || err != nil {
			t.Fatalf("Delete: %d, %v", n, err)
		}
		left, _ := dlq.List(ctx, js, dlq.Filter{})
		if got := seqs(left); !slices.Equal(got, []uint64{1, 3, 5}) {
			t.Errorf("left %v, want [1 3 5]", got)
		}
		// Deleting one already gone is an error, not a silent success.
		if n, err := dlq.Delete(ctx, js, sel[:1]); n != 0 || err == nil {
			t.Errorf("deleting again: %d, %v", n, err)
		}
	})
	t.Run("purge one stage", func(t *testing.T) {
		js := setup(t)
		if n, err := dlq.Purge(ctx, js, messages.StageScorer); n != 2 || err != nil {
			t.Fatalf("Purge: %d, %v", n, err)
		}
		left, _ := dlq.List(ctx, js, dlq.Filter{})
		if got := seqs(left); !slices.Equal(got, []uint64{2, 4, 5}) {
			t.Errorf("left %v, want [2 4 5]", got)
		}
	})
	t.Run("purge all", func(t *testing.T) {
		js := setup(t)
		if n, err := dlq.Purge(ctx, js, ""); n != uint64(len(letters)) || err != nil {
			t.Fatalf("Purge: %d, %v", n, err)
		}
		if left, _ := dlq.List(ctx, js, dlq.Filter{}); len(left) != 0 {
			t.Errorf("left %v", seqs(left))
		}
	})
}
