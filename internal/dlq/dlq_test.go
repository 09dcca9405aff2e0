package dlq_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/pkg/messages"
)

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// deadLetter is what a stage writes to ALHARVEST_DLQ when it gives up.
type deadLetter struct {
	stage, subject, reason string
	deliveries             string // header as written; "" = absent
	failedAt               time.Time
	data                   []byte
}

// letters are stored in this order: sequences 1 to 5.
var failedAt = time.Date(2026, 5, 4, 3, 2, 1, 500, time.UTC)

var letters = []deadLetter{
	{messages.StageScorer, messages.SubjectSIDs, "submission not found", "10", failedAt, []byte(`{"sid":"4RlWbxGm2xYA1"}`)},
	{messages.StageDownloader, messages.SubjectFiles, "cART footer digest mismatch", "3", failedAt.Add(time.Second), []byte(`{"sha256":"` + sha + `"}`)},
	{messages.StageScorer, messages.SubjectSIDs, "not a SID", "", time.Time{}, []byte{0x00, 0x01, 'x'}},
	{messages.StageDownloader, messages.SubjectFiles, "too large", "1", failedAt, []byte(strings.Repeat("a", 300))},
	{messages.StageSearcher, "alharvest.somewhere.else", "sweep failed", "1", failedAt, []byte("x")},
}

// setup starts a JetStream server with alharvest's layout and the letters
// above in its DLQ.
func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	js := natstest.Provisioned(t)
	ctx := context.Background()
	for _, l := range letters {
		m := nats.NewMsg(messages.DLQSubject(l.stage))
		m.Data = l.data
		m.Header.Set(messages.HeaderStage, l.stage)
		m.Header.Set(messages.HeaderOriginalSubject, l.subject)
		m.Header.Set(messages.HeaderReason, l.reason)
		if l.deliveries != "" {
			m.Header.Set(messages.HeaderDeliveries, l.deliveries)
		}
		if !l.failedAt.IsZero() {
			m.Header.Set(messages.HeaderFailedAt, l.failedAt.Format(time.RFC3339Nano))
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

func seqs(ls []dlq.Letter) []uint64 {
	var out []uint64
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return out
}

func TestListSelects(t *testing.T) {
	js := setup(t)
	tests := []struct {
		name string
		f    dlq.Filter
		want []uint64
	}{
		{"everything, oldest first", dlq.Filter{}, []uint64{1, 2, 3, 4, 5}},
		{"one stage", dlq.Filter{Stage: messages.StageScorer}, []uint64{1, 3}},
		{"sequences", dlq.Filter{Seqs: []uint64{4, 2}}, []uint64{2, 4}},
		{"stage and sequences", dlq.Filter{Stage: messages.StageScorer, Seqs: []uint64{2, 3}}, []uint64{3}},
		{"from a sequence", dlq.Filter{FromSeq: 3}, []uint64{3, 4, 5}},
		{"limit", dlq.Filter{Limit: 2}, []uint64{1, 2}},
		{"stage and limit", dlq.Filter{Stage: messages.StageDownloader, Limit: 1}, []uint64{2}},
		{"a sequence that is not there", dlq.Filter{Seqs: []uint64{99}}, nil},
		{"a stage without letters", dlq.Filter{Stage: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dlq.List(context.Background(), js, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(got), tc.want) {
				t.Errorf("List(%+v) = %v, want %v", tc.f, seqs(got), tc.want)
			}
		})
	}
}

func TestListReadsTheHeaders(t *testing.T) {
	js := setup(t)
	before := time.Now()
	got, err := dlq.List(context.Background(), js, dlq.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(letters) {
		t.Fatalf("%d letters, want %d", len(got), len(letters))
	}
	first := got[0]
	if first.Stage != messages.StageScorer || first.OriginalSubject != messages.SubjectSIDs ||
		first.Reason != "submission not found" || first.Deliveries != 10 || !first.FailedAt.Equal(failedAt) ||
		first.Payload != `{"sid":"4RlWbxGm2xYA1"}` || string(first.Data) != `{"sid":"4RlWbxGm2xYA1"}` {
		t.Errorf("first letter read as %+v", first)
	}
	binary := got[2]
	if binary.Payload != "<3 bytes of binary data>" || string(binary.Data) != "\x00\x01x" {
		t.Errorf("binary payload shown as %q (data %q)", binary.Payload, binary.Data)
	}
	// Without the headers: no delivery count, and the time JetStream stored it.
	if binary.Deliveries != 0 || binary.FailedAt.Before(before.Add(-time.Minute)) || binary.FailedAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("letter without headers: deliveries %d, failed at %s", binary.Deliveries, binary.FailedAt)
	}
	long := got[3]
	if want := strings.Repeat("a", 200) + "…"; long.Payload != want || len(long.Data) != 300 {
		t.Errorf("long payload shown as %q (%d bytes kept)", long.Payload, len(long.Data))
	}
}

func TestListWithoutDLQStream(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	_, err := dlq.List(context.Background(), js, dlq.Filter{})
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("List on a server without the DLQ: %v, want stream not found", err)
	}
}

func TestReplay(t *testing.T) {
	tests := []struct {
		name       string
		filter     dlq.Filter
		times      int // Replay calls with the same letters
		keep       bool
		wantN      int
		wantErr    string
		wantSIDs   int      // messages then in ALHARVEST_SIDS
		wantFiles  int      // messages then in ALHARVEST_FILES
		wantLeft   []uint64 // letters then in the DLQ
		wantOrigin []uint64 // Alharvest-Replayed-From of the work messages, in order
	}{
		{
			name: "back to their subjects and out of the DLQ", filter: dlq.Filter{Seqs: []uint64{1, 2}}, times: 1,
			wantN: 2, wantSIDs: 1, wantFiles: 1, wantLeft: []uint64{3, 4, 5}, wantOrigin: []uint64{1, 2},
		},
		{
			name: "kept", filter: dlq.Filter{Stage: messages.StageScorer}, times: 1, keep: true,
			wantN: 2, wantSIDs: 2, wantLeft: []uint64{1, 2, 3, 4, 5}, wantOrigin: []uint64{1, 3},
		},
		{
			// Each copy gets a fresh de-duplication ID, so replaying again
			// is not swallowed by JetStream's duplicate window.
			name: "replayed twice, stored twice", filter: dlq.Filter{Seqs: []uint64{1}}, times: 2, keep: true,
			wantN: 1, wantSIDs: 2, wantLeft: []uint64{1, 2, 3, 4, 5}, wantOrigin: []uint64{1, 1},
		},
		{
			name: "stops at a letter it cannot send back", filter: dlq.Filter{FromSeq: 4}, times: 1,
			wantN: 1, wantErr: `dead letter 5: cannot replay to subject "alharvest.somewhere.else"`,
			wantFiles: 1, wantLeft: []uint64{1, 2, 3, 5}, wantOrigin: []uint64{4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := setup(t)
			ctx := context.Background()
			sel, err := dlq.List(ctx, js, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			for range tc.times {
				n, err := dlq.Replay(ctx, js, sel, dlq.ReplayOptions{Keep: tc.keep})
				if n != tc.wantN {
					t.Errorf("replayed %d, want %d", n, tc.wantN)
				}
				if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err %v, want %q", err, tc.wantErr)
				}
			}
			left, err := dlq.List(ctx, js, dlq.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqs(left), tc.wantLeft) {
				t.Errorf("DLQ holds %v, want %v", seqs(left), tc.wantLeft)
			}
			var origins []uint64
			for _, c := range []struct {
				stream string
				want   int
			}{{messages.StreamSIDs, tc.wantSIDs}, {messages.StreamFiles, tc.wantFiles}} {
				for _, m := range streamMsgs(t, js, c.stream) {
					from, err := strconv.ParseUint(m.Header.Get("Alharvest-Replayed-From"), 10, 64)
					if err != nil {
						t.Errorf("%s message without Alharvest-Replayed-From: %v", c.stream, m.Header)
						continue
					}
					orig := letters[from-1]
					if m.Subject != orig.subject || string(m.Data) != string(orig.data) {
						t.Errorf("replay of %d: %s %q, want %s %q", from, m.Subject, m.Data, orig.subject, orig.data)
					}
					if !strings.HasPrefix(m.Header.Get(messages.HeaderMsgID), "replay."+strconv.FormatUint(from, 10)+".") {
						t.Errorf("replay of %d has de-duplication ID %q", from, m.Header.Get(messages.HeaderMsgID))
					}
					origins = append(origins, from)
				}
				if got := len(streamMsgs(t, js, c.stream)); got != c.want {
					t.Errorf("%s holds %d messages, want %d", c.stream, got, c.want)
				}
			}
			slices.Sort(origins)
			if !slices.Equal(origins, tc.wantOrigin) {
				t.Errorf("replayed copies come from %v, want %v", origins, tc.wantOrigin)
			}
		})
	}
}

// streamMsgs reads every message a stream holds, without consuming them.
func streamMsgs(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}

// A feed's dead letter goes back to that feed only: its replay subject in
// ALHARVEST_COLLECTED, never alharvest.collected, which every feed and
// every other reader of the stream would see again.
func TestReplayFeedLetterToItsFeed(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	event := []byte(`{"sha256":"` + sha + `","path":"/data/` + sha + `.cart"}`)
	publish := func(consumer, subject string) {
		m := nats.NewMsg(messages.DLQSubject(messages.StageFeed))
		m.Data = event
		m.Header.Set(messages.HeaderStage, messages.StageFeed)
		m.Header.Set(messages.HeaderOriginalSubject, subject)
		m.Header.Set(messages.HeaderReason, "program exited with status 3; stderr: no space in inbox")
		if consumer != "" {
			m.Header.Set(messages.HeaderConsumer, consumer)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publish("archive", messages.SubjectCollected) // 1
	publish("", messages.SubjectCollected)        // 2: which feed? unknown
	publish("x", messages.FeedSubject("archive")) // 3: failed again after a replay
	publish("../etc", messages.SubjectCollected)  // 4: not a durable name
	sel, err := dlq.List(ctx, js, dlq.Filter{Stage: messages.StageFeed})
	if err != nil || len(sel) != 4 {
		t.Fatalf("List: %d letters, %v", len(sel), err)
	}
	for i, want := range []string{"", "without the feed that gave up on it", "", "without the feed that gave up on it"} {
		_, err := dlq.Replay(ctx, js, sel[i:i+1], dlq.ReplayOptions{})
		if (err == nil) != (want == "") || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("replay of letter %d: %v, want %q", sel[i].Seq, err, want)
		}
	}
	msgs := streamMsgs(t, js, messages.StreamCollected)
	if len(msgs) != 2 {
		t.Fatalf("ALHARVEST_COLLECTED holds %d messages, want the 2 replays", len(msgs))
	}
	for _, m := range msgs {
		if m.Subject != messages.FeedSubject("archive") || string(m.Data) != string(event) {
			t.Errorf("replayed to %s %q, want %s with the event", m.Subject, m.Data, messages.FeedSubject("archive"))
		}
	}
}
