package dlq_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestListStripsTerminalEscapes: dead letters whose reason, stage, subject
// or payload carry terminal escape sequences (published by a hostile
// system, or quoting hostile server text) are listed with every control and
// format character shown as an escape, in the struct and in its JSON.
func TestListStripsTerminalEscapes(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()

	tests := []struct {
		name                   string
		stage, subject, reason string
		payload                string
		want                   map[string]string // field -> substring it must show
	}{
		{
			name:  "ANSI colour and title in the reason",
			stage: "scorer", subject: messages.SubjectSIDs,
			reason:  "submission x: \x1b]0;pwned\x07\x1b[31mred\x1b[0m done",
			payload: `{"sid":"x"}`,
			want:    map[string]string{"reason": `\x1b]0;pwned\x07\x1b[31mred\x1b[0m done`},
		},
		{
			// (A payload with C0 or DEL bytes is shown as binary.)
			name:  "8-bit CSI and bidi override in the payload, DEL in the reason",
			stage: "downloader", subject: messages.SubjectFiles,
			reason:  "not\x7f found",
			payload: "{\"sha256\":\"\u009b2J\u202egnp.exe\"}",
			want:    map[string]string{"payload": `\u009b2J\u202egnp.exe`, "reason": `not\x7f found`},
		},
		{
			name:  "escapes in the stage and subject headers",
			stage: "scorer\x1b[2K", subject: "alharvest.sids\x1b[1A",
			reason:  "r",
			payload: "p",
			want:    map[string]string{"stage": `scorer\x1b[2K`, "subject": `alharvest.sids\x1b[1A`},
		},
		{
			name:  "invalid UTF-8 and a line separator in the reason",
			stage: "scorer", subject: messages.SubjectSIDs,
			reason:  "bad \xff\xfe byte\u2028next line",
			payload: "p",
			want:    map[string]string{"reason": "bad \uFFFD byte\\u2028next line"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := nats.NewMsg(messages.DLQSubject("scorer"))
			m.Header.Set(messages.HeaderStage, tc.stage)
			m.Header.Set(messages.HeaderOriginalSubject, tc.subject)
			m.Header.Set(messages.HeaderReason, tc.reason)
			m.Data = []byte(tc.payload)
			ack, err := js.PublishMsg(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			letters, err := dlq.List(ctx, js, dlq.Filter{Seqs: []uint64{ack.Sequence}})
			if err != nil || len(letters) != 1 {
				t.Fatalf("List: %d letters, %v", len(letters), err)
			}
			l := letters[0]
			fields := map[string]string{"stage": l.Stage, "subject": l.OriginalSubject, "reason": l.Reason, "payload": l.Payload}
			for name, v := range fields {
				if i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
					t.Errorf("%s %q still holds a control character at %d", name, v, i)
				}
			}
			for name, sub := range tc.want {
				if !strings.Contains(fields[name], sub) {
					t.Errorf("%s = %q, want it to show %q", name, fields[name], sub)
				}
			}
			js, _ := json.Marshal(l)
			if strings.ContainsAny(string(js), "\u009b\u202e\x7f") {
				t.Errorf("JSON form %s holds a raw control character", js)
			}
		})
	}
}
