package broker

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

func sidConfig(t *testing.T, ctx context.Context, js jetstream.JetStream) jetstream.StreamConfig {
	t.Helper()
	s, err := js.Stream(ctx, messages.StreamSIDs)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config
}

// TestWorkQueuesRejectPublishesWhenFull: a publisher flooding alharvest.sids
// (or alharvest.files) gets an error once the queue holds its limit of
// messages or bytes; nothing already queued is dropped.
func TestWorkQueuesRejectPublishesWhenFull(t *testing.T) {
	tests := []struct {
		name    string
		topo    Topology
		subject string
		wantErr string
	}{
		{"SIDs by messages", Topology{WorkQueueMaxMsgs: 5}, messages.SubjectSIDs, "maximum messages exceeded"},
		{"SIDs by bytes", Topology{WorkQueueMaxBytes: 2048}, messages.SubjectSIDs, "maximum bytes exceeded"},
		{"files by messages", Topology{WorkQueueMaxMsgs: 5}, messages.SubjectFiles, "maximum messages exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, js := embeddedJS(t, EmbeddedConfig{})
			if err := Provision(ctx, js, tc.topo, nil); err != nil {
				t.Fatal(err)
			}
			stored := 0
			var err error
			for i := range 1000 {
				m := nats.NewMsg(tc.subject)
				m.Header.Set(messages.HeaderMsgID, fmt.Sprintf("id-%d", i))
				m.Data = []byte(fmt.Sprintf(`{"sid":"floodFloodFlood%07d"}`, i))
				if _, err = js.PublishMsg(ctx, m); err != nil {
					break
				}
				stored++
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("after %d publishes: err = %v, want %q", stored, err, tc.wantErr)
			}
			stream := messages.StreamSIDs
			if tc.subject == messages.SubjectFiles {
				stream = messages.StreamFiles
			}
			counts, cerr := StreamCounts(ctx, js, stream)
			if cerr != nil || counts[stream] != uint64(stored) || stored == 0 {
				t.Errorf("queue holds %v after %d stored publishes (%v)", counts, stored, cerr)
			}
		})
	}
}

// TestProvisionUpdatesAnExistingSIDsStream: a stream created by an older
// version (no limits, a fixed 20 min window) with messages in it is updated
// in place, not refused and not recreated; a stage that does not search
// (DedupWindow zero) keeps the window the searcher set.
func TestProvisionUpdatesAnExistingSIDsStream(t *testing.T) {
	ctx, js := embeddedJS(t, EmbeddedConfig{})
	old := Topology{}.Streams()[0]
	old.Duplicates, old.MaxMsgs, old.MaxBytes = 20*time.Minute, -1, -1
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, messages.SubjectSIDs, []byte(fmt.Sprintf(`{"sid":"kept%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}

	searcherWindow := SIDDedupWindow(30*time.Minute, 15*time.Minute)
	if err := Provision(ctx, js, Topology{DedupWindow: searcherWindow}, nil); err != nil {
		t.Fatalf("provisioning over the old stream: %v", err)
	}
	c := sidConfig(t, ctx, js)
	if c.Duplicates != 45*time.Minute || c.MaxMsgs != 5_000_000 || c.MaxBytes != 2<<30 || c.Discard != jetstream.DiscardNew {
		t.Errorf("updated config: window %s, max msgs %d, max bytes %d, discard %v", c.Duplicates, c.MaxMsgs, c.MaxBytes, c.Discard)
	}
	if counts, _ := StreamCounts(ctx, js, messages.StreamSIDs); counts[messages.StreamSIDs] != 3 {
		t.Errorf("the update lost queued SIDs: %v", counts)
	}

	// A scorer or downloader starting later provisions too.
	if err := Provision(ctx, js, Topology{}, nil); err != nil {
		t.Fatal(err)
	}
	if c := sidConfig(t, ctx, js); c.Duplicates != 45*time.Minute {
		t.Errorf("a non-searching stage reset the window to %s", c.Duplicates)
	}
}

func TestSIDDedupWindow(t *testing.T) {
	tests := []struct {
		interval, overlap, want time.Duration
	}{
		{5 * time.Minute, 10 * time.Minute, 15 * time.Minute}, // the defaults
		{time.Hour, 10 * time.Minute, 70 * time.Minute},
		{10 * time.Second, 0, 2 * time.Minute}, // JetStream's own default as the floor
		{0, 10 * time.Minute, 0},               // no search settings: keep the stream's
	}
	for _, tc := range tests {
		if got := SIDDedupWindow(tc.interval, tc.overlap); got != tc.want {
			t.Errorf("SIDDedupWindow(%s, %s) = %s, want %s", tc.interval, tc.overlap, got, tc.want)
		}
	}
}

// TestDeferredStoreIsBoundedPerStage: one stage's deferred copies fill only
// its own share of ALHARVEST_DEFERRED; past it the server refuses the
// deferral (the worker then delays the message in place), and the other
// stage can still defer.
func TestDeferredStoreIsBoundedPerStage(t *testing.T) {
	ctx, js := embeddedJS(t, EmbeddedConfig{})
	if err := Provision(ctx, js, Topology{DeferredMax: 3}, nil); err != nil {
		t.Fatal(err)
	}
	scorer := messages.DeferredSubject(messages.StageScorer)
	for i := range 3 {
		if _, err := js.Publish(ctx, scorer, fmt.Appendf(nil, "sid%d", i)); err != nil {
			t.Fatalf("deferral %d: %v", i+1, err)
		}
	}
	if _, err := js.Publish(ctx, scorer, []byte("sid3")); err == nil || !strings.Contains(err.Error(), "maximum messages per subject exceeded") {
		t.Errorf("4th deferral of the scorer: err %v, want maximum messages per subject exceeded", err)
	}
	if _, err := js.Publish(ctx, messages.DeferredSubject(messages.StageDownloader), []byte("file")); err != nil {
		t.Errorf("the downloader cannot defer once the scorer is full: %v", err)
	}
	for _, stage := range []string{messages.StageScorer, messages.StageDownloader} {
		c, err := DeferredConsumer(ctx, js, stage, 3, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ci := c.CachedInfo(); ci.Config.FilterSubject != messages.DeferredSubject(stage) || ci.Config.MaxAckPending != 3 {
			t.Errorf("%s: filter %q, MaxAckPending %d", stage, ci.Config.FilterSubject, ci.Config.MaxAckPending)
		}
	}
}
