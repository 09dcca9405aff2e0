package scorer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/scorer"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

const threshold = alsim.DefaultDesignThreshold

var quiet = slog.New(slog.DiscardHandler)

// startSim serves a simulated Assemblyline and returns a real client for it.
func startSim(t testing.TB, cfg alsim.Config) (*alsim.Server, *assemblyline.Client) {
	t.Helper()
	sim, url := alsimtest.Serve(t, cfg)
	return sim, alsimtest.Client(t, url, 10)
}

func sidMsg(data string) *worker.Message {
	return &worker.Message{Subject: messages.SubjectSIDs, Data: []byte(data), Attempt: 1, FirstSeen: time.Now()}
}

func jsonSID(sid string) string { return fmt.Sprintf(`{"sid":%q}`, sid) }

// wantFiles is the answer key for one submission: its files whose
// per-submission score reaches threshold, with that score.
func wantFiles(info alsim.SubmissionInfo, threshold int64) map[string]int64 {
	want := map[string]int64{}
	for _, f := range info.Files {
		if f.Score >= threshold {
			want[f.SHA256] = f.Score
		}
	}
	return want
}

// checkOutputs verifies that outs are exactly the files messages for want,
// each valid and de-duplicated on its hash.
func checkOutputs(t *testing.T, sid string, outs []*nats.Msg, want map[string]int64) {
	t.Helper()
	got := map[string]int64{}
	for _, m := range outs {
		if m.Subject != messages.SubjectFiles {
			t.Errorf("output on subject %q, want %q", m.Subject, messages.SubjectFiles)
		}
		f, err := messages.DecodeFile(m.Data)
		if err != nil {
			t.Errorf("output %s is not a valid files message: %v", m.Data, err)
			continue
		}
		if id := m.Header.Get(messages.HeaderMsgID); id != f.SHA256 {
			t.Errorf("Nats-Msg-Id %q, want the sha256 %s", id, f.SHA256)
		}
		if f.SID != sid {
			t.Errorf("file %s carries sid %q, want %q", f.SHA256, f.SID, sid)
		}
		if _, dup := got[f.SHA256]; dup {
			t.Errorf("file %s published twice for one submission", f.SHA256)
		}
		got[f.SHA256] = f.Score
	}
	if !maps.Equal(got, want) {
		t.Errorf("submission %s: got files %v, want %v", sid, got, want)
	}
}

func TestHandleOutputsQualifyingFilesOfEverySubmission(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 11, Submissions: 150})
	c := sim.Corpus()
	tests := []struct {
		name      string
		threshold int64
	}{
		{"design threshold", threshold},
		{"higher threshold", 9000},
		{"threshold 1 takes every positive file", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scorer.New(al, scorer.Config{Threshold: tc.threshold, Logger: quiet})
			matching, qualified := 0, 0
			for i := range c.Len() {
				info := c.Submission(i)
				outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(info.SID)))
				if err != nil {
					t.Fatalf("submission %d (%s): %v", i, info.SID, err)
				}
				want := wantFiles(info, tc.threshold)
				checkOutputs(t, info.SID, outs, want)
				if info.MaxScore >= tc.threshold {
					matching++
					if len(want) == 0 {
						t.Errorf("submission %s has max_score %d but no qualifying file", info.SID, info.MaxScore)
					}
				}
				qualified += len(outs)
			}
			if matching == 0 || qualified == 0 {
				t.Fatalf("corpus too small to mean anything: %d matching submissions, %d files", matching, qualified)
			}
		})
	}
}

func TestHandleEdgeCases(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 3, Submissions: 60})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	cases := map[string]alsim.EdgeCase{}
	for _, e := range sim.Corpus().EdgeCases() {
		cases[e.Name] = e
	}
	tests := []struct {
		name      string
		qualifies bool
	}{
		{"exact-threshold", true},
		{"one-below-threshold", false},
		{"one-above-threshold", true},
		{"sum-of-services", true},
		{"qualifying-beside-negative", true},
		{"pushed-below-by-negative", false},
		{"only-qualifying-file", true},
		{"near-miss-in-matching", false},
		{"shared-qualifying-here", true},
		{"shared-below-here", false},
		{"shared-low-nonmatching", false},
		{"matching-by-other-file", true},
		{"all-negative", false},
		{"extracted-twice", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := cases[tc.name]
			if !ok {
				t.Fatalf("alsim has no edge case %q (has %v)", tc.name, slices.Sorted(maps.Keys(cases)))
			}
			if (e.Score >= threshold) != tc.qualifies {
				t.Fatalf("edge case %s has score %d: the corpus changed meaning", tc.name, e.Score)
			}
			outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(e.SID)))
			if err != nil {
				t.Fatal(err)
			}
			info, _ := sim.Corpus().Lookup(e.SID)
			checkOutputs(t, e.SID, outs, wantFiles(info, threshold))
			found := false
			for _, m := range outs {
				if m.Header.Get(messages.HeaderMsgID) == e.SHA256 {
					found = true
					f, _ := messages.DecodeFile(m.Data)
					if f.Score != e.Score {
						t.Errorf("score %d, want %d", f.Score, e.Score)
					}
				}
			}
			if found != tc.qualifies {
				t.Errorf("file %s (score %d) published = %t, want %t", e.SHA256[:12], e.Score, found, tc.qualifies)
			}
		})
	}
}

func TestHandleAcceptsJSONAndBareSIDs(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 5, Submissions: 60})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	var info alsim.SubmissionInfo
	for i := range sim.Corpus().Len() {
		if info = sim.Corpus().Submission(i); info.Kind == alsim.Normal && len(wantFiles(info, threshold)) >= 2 {
			break
		}
	}
	want := wantFiles(info, threshold)
	if len(want) == 0 {
		t.Fatal("no matching submission in the corpus")
	}
	sid := info.SID
	for _, payload := range []string{
		jsonSID(sid),
		fmt.Sprintf(`{"sid":%q,"source":"other-system"}`, sid),
		fmt.Sprintf(`{"source":"x","sid":%q,"added_later":{"a":[1,2]}}`, sid),
		fmt.Sprintf("  {\"sid\": %q}\n", sid),
		sid,
		" " + sid + "\r\n",
		"\t" + sid,
	} {
		t.Run(fmt.Sprintf("%q", payload), func(t *testing.T) {
			outs, err := worker.HandleOnce(context.Background(), s, sidMsg(payload))
			if err != nil {
				t.Fatal(err)
			}
			checkOutputs(t, sid, outs, want)
		})
	}
}

func TestHandleRejectsInvalidPayloadsWithoutCallingAssemblyline(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 5, Submissions: 60})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	sid := sim.Corpus().Submission(0).SID
	tests := []struct {
		name, payload, reason string
	}{
		{"path traversal", "../../etc/passwd", "outside base62"},
		{"path traversal in JSON", `{"sid":"../../etc/passwd"}`, "outside base62"},
		{"23 characters", strings.Repeat("a", 23), "at most 22"},
		{"empty", "", "empty"},
		{"blank", " \n\t", "empty"},
		{"empty sid field", `{"sid":""}`, "empty sid"},
		{"no sid field", `{"source":"x"}`, "empty sid"},
		{"sid of the wrong type", `{"sid":12}`, "malformed JSON"},
		{"broken JSON", `{"sid":"abc"`, "malformed JSON"},
		{"trailing data", jsonSID(sid) + ` {"sid":"x"}`, "trailing data"},
		{"JSON array", `["` + sid + `"]`, "invalid message"},
		{"two bare sids", sid + " " + sid, "invalid message"},
		{"NUL byte", sid[:5] + "\x00" + sid[6:], "outside base62"},
		{"slash", sid[:5] + "/" + sid[6:], "outside base62"},
		{"oversized", `{"sid":"` + sid + `","pad":"` + strings.Repeat("x", messages.MaxMessageSize) + `"}`, "exceeds"},
	}
	before := sim.Stats().Calls["full"]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := worker.HandleOnce(context.Background(), s, sidMsg(tc.payload))
			if err == nil {
				t.Fatalf("accepted %q: %d outputs", tc.payload, len(outs))
			}
			if a := failure.ActionFor(err); a != failure.DeadLetter {
				t.Errorf("action %v, want dead_letter (err %v)", a, err)
			}
			if !errors.Is(err, messages.ErrInvalid) {
				t.Errorf("error %v does not wrap messages.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("reason %q does not say %q", err, tc.reason)
			}
			if len(outs) != 0 {
				t.Errorf("%d outputs with an error", len(outs))
			}
		})
	}
	if after := sim.Stats().Calls["full"]; !maps.Equal(before, after) {
		t.Errorf("invalid payloads reached Assemblyline: full calls %v -> %v", before, after)
	}
}

func TestHandleFailures(t *testing.T) {
	sim, al := startSim(t, alsim.Config{
		Seed: 9, Submissions: 80, Incomplete: 3,
		LateArrivals: 2, ArrivalWindow: time.Hour, // not arrived during the test
	})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	var incomplete, late string
	for i := range sim.Corpus().Len() {
		switch info := sim.Corpus().Submission(i); info.Kind {
		case alsim.Incomplete:
			incomplete = info.SID
		case alsim.Late:
			late = info.SID
		}
	}
	if incomplete == "" || late == "" {
		t.Fatal("corpus lacks incomplete or late submissions")
	}
	const unknown = "0000000000UnknownSid42"
	tests := []struct {
		name    string
		sid     string
		action  failure.Action
		kind    failure.Kind
		mention []string
	}{
		{"unknown submission", unknown, failure.DeadLetter, failure.NotFound, []string{unknown, "does not exist"}},
		{"incomplete submission", incomplete, failure.Defer, failure.NotReady, []string{incomplete, "not completed"}},
		{"late submission not yet complete", late, failure.Defer, failure.NotReady, []string{late, "not completed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(tc.sid)))
			if err == nil {
				t.Fatalf("no error; %d outputs", len(outs))
			}
			if a, k := failure.ActionFor(err), failure.KindOf(err); a != tc.action || k != tc.kind {
				t.Errorf("action %v kind %v, want %v %v (err %v)", a, k, tc.action, tc.kind, err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if len(outs) != 0 {
				t.Errorf("%d outputs with an error: a running submission would be under-scored", len(outs))
			}
		})
	}
}

func TestHandleDefersOnMissingResultKeysThenSucceeds(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 21, Submissions: 60})
	if err := sim.SetFaults(alsim.Faults{MissingResultsCalls: 2}); err != nil {
		t.Fatal(err)
	}
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	var info alsim.SubmissionInfo
	for i := range sim.Corpus().Len() {
		if info = sim.Corpus().Submission(i); info.Kind == alsim.Normal && info.MaxScore >= threshold {
			break
		}
	}
	if info.MaxScore < threshold {
		t.Fatal("no matching submission")
	}
	for attempt := 1; attempt <= 2; attempt++ {
		outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(info.SID)))
		if failure.ActionFor(err) != failure.Defer || failure.KindOf(err) != failure.NotReady {
			t.Fatalf("attempt %d: err %v (action %v), want a deferral", attempt, err, failure.ActionFor(err))
		}
		if !strings.Contains(err.Error(), "not yet available") || !strings.Contains(err.Error(), info.SID) {
			t.Errorf("attempt %d: reason %q", attempt, err)
		}
		if len(outs) != 0 {
			t.Errorf("attempt %d: %d outputs from partial results", attempt, len(outs))
		}
	}
	outs, err := worker.HandleOnce(context.Background(), s, sidMsg(jsonSID(info.SID)))
	if err != nil {
		t.Fatalf("after the results arrived: %v", err)
	}
	checkOutputs(t, info.SID, outs, wantFiles(info, threshold))
	if n := sim.Stats().Faults["missing_results"]; n != 2 {
		t.Errorf("missing_results faults %d, want 2", n)
	}
}

func TestHandleRidesOutServerErrors(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 4, Submissions: 60, Faults: alsim.Faults{Error5xx: 0.25, Reset: 0.05}})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	for i := range sim.Corpus().Len() {
		info := sim.Corpus().Submission(i)
		outs, err := worker.HandleOnce(context.Background(), s, sidMsg(info.SID))
		if err != nil {
			if !failure.Retryable(err) || failure.ActionFor(err) != failure.Retry {
				t.Fatalf("submission %s: non-retryable error under transient faults: %v", info.SID, err)
			}
			continue // the worker would retry it
		}
		checkOutputs(t, info.SID, outs, wantFiles(info, threshold))
	}
	st := sim.Stats().Faults
	if st["error_500"]+st["error_502"]+st["error_503"]+st["error_504"] == 0 {
		t.Error("no 5xx was injected; the test proves nothing")
	}
}

func TestHandleCanceledContextHandsBack(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 4, Submissions: 60, FullLatency: time.Second})
	s := scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := worker.HandleOnce(ctx, s, sidMsg(sim.Corpus().Submission(0).SID))
	if err == nil {
		t.Fatal("no error")
	}
	if k := failure.KindOf(err); k != failure.Timeout && k != failure.Canceled {
		t.Errorf("kind %v, want timeout or canceled: %v", k, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, err = worker.HandleOnce(ctx2, s, sidMsg(sim.Corpus().Submission(0).SID))
	if failure.ActionFor(err) != failure.HandBack {
		t.Errorf("cancelled: action %v (%v), want hand_back", failure.ActionFor(err), err)
	}
}

// Through the worker loop on a real JetStream: every SID of the corpus in,
// exactly the expected files out, once each.
func TestScorerThroughWorker(t *testing.T) {
	sim, al := startSim(t, alsim.Config{Seed: 8, Submissions: 120, Incomplete: 2})
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	ctx := context.Background()
	cons, err := broker.Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{AckWait: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := sim.Corpus()
	var incomplete string
	for i := range c.Len() {
		info := c.Submission(i)
		if info.Kind == alsim.Incomplete {
			incomplete = info.SID
		}
		m, err := messages.NewSIDMsg(info.SID, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Hostile payloads travel too and must end in the DLQ.
	for _, bad := range []string{"../../etc/passwd", "0000000000UnknownSid42"} {
		if _, err := js.Publish(ctx, messages.SubjectSIDs, []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	w := worker.New(js, cons, scorer.New(al, scorer.Config{Threshold: threshold, Logger: quiet}), worker.Config{
		Stage: messages.StageScorer, Concurrency: 4,
		RetryDelay: func(int) time.Duration { return 20 * time.Millisecond },
		DeferDelay: func(int) time.Duration { return time.Hour }, // incomplete ones wait
		Grace:      2 * time.Second, Logger: quiet,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	want := sim.ExpectedNow(threshold)
	// What is left are the deferred copies of the incomplete submissions.
	if !testenv.Eventually(t, 15*time.Second, "2 deferred SIDs and 2 dead letters", func() bool {
		return streamState(t, js, messages.StreamSIDs).Msgs == 2 && streamState(t, js, messages.StreamDLQ).Msgs == 2
	}) {
		t.FailNow()
	}
	files := streamState(t, js, messages.StreamFiles)
	if files.Msgs != uint64(len(want)) {
		t.Errorf("files stream holds %d messages, want %d distinct qualifying files", files.Msgs, len(want))
	}
	got := map[string]bool{}
	s, _ := js.Stream(ctx, messages.StreamFiles)
	for seq := files.FirstSeq; seq <= files.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		f, err := messages.DecodeFile(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		got[f.SHA256] = true
	}
	if !maps.Equal(got, setOf(want)) {
		t.Errorf("files published differ from alsim's expected set: got %d, want %d", len(got), len(want))
	}
	if incomplete == "" {
		t.Fatal("no incomplete submission")
	}
	reasons := dlqReasons(t, js)
	if len(reasons) != 2 || !strings.Contains(strings.Join(reasons, "\n"), "outside base62") ||
		!strings.Contains(strings.Join(reasons, "\n"), "0000000000UnknownSid42") {
		t.Errorf("dead letters: %q", reasons)
	}
}

func streamState(t *testing.T, js jetstream.JetStream, name string) jetstream.StreamState {
	t.Helper()
	s, err := js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

func dlqReasons(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	st := streamState(t, js, messages.StreamDLQ)
	s, _ := js.Stream(context.Background(), messages.StreamDLQ)
	var out []string
	for seq := st.FirstSeq; seq <= st.LastSeq && st.Msgs > 0; seq++ {
		m, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Header.Get(messages.HeaderReason))
	}
	return out
}

func setOf(list []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range list {
		m[s] = true
	}
	return m
}
