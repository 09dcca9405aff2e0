package service

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// stallBound is STALL_AFTER in these tests.
const stallBound = 2 * time.Second

// stalledScorer starts a scorer with STALL_AFTER=stallBound against an
// Assemblyline that answers 404 to everything, and its probes; before runs
// once the layout exists and before the worker starts.
func stalledScorer(t *testing.T, before func(ctx context.Context, env *Env)) (env *Env, probes string) {
	t.Helper()
	srv := natstest.Start(t)
	al := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"api_response":null,"api_error_message":"no such submission","api_server_version":"4.5","api_status_code":404}`)
	}))
	t.Cleanup(al.Close)
	cfg := load(t, map[string]string{"AL_URL": al.URL, "AL_USER": "u", "AL_APIKEY": "k:pw", "NATS_URL": srv.URL,
		"SHUTDOWN_GRACE": "100ms", "STALL_AFTER": stallBound.String(), "AL_QUOTA": "1"})
	ctx, cancel := context.WithCancel(context.Background())
	env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	w, err := env.Scorer(ctx, StageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(env.Health.handler(env.Metrics.Registry, false))
	t.Cleanup(ps.Close)
	before(ctx, env)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop")
		}
	})
	return env, ps.URL
}

// publishSID queues one SID for the scorer.
func publishSID(t *testing.T, ctx context.Context, env *Env) {
	t.Helper()
	m, err := messages.NewSIDMsg("4RlWbxGm2xYA1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// stallGauge reads alharvest_stage_stalled{stage="scorer"} from /metrics.
func stallGauge(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, `alharvest_stage_stalled{stage="scorer"} `); ok {
			return strings.TrimSpace(v)
		}
	}
	return "absent"
}

// expectStall waits for /readyz to report the scorer stalled with why in
// the reason, checks it did within the bound of since, and that the gauge
// says so too.
func expectStall(t *testing.T, url string, since time.Time, why string) {
	t.Helper()
	var got readyz
	if !testenv.Eventually(t, 3*stallBound, "/readyz to report the stall", func() bool {
		got = getReadyz(t, url)
		return !got.Ready && len(got.Problems) == 1 &&
			strings.HasPrefix(got.Problems[0], "scorer stalled: ") && strings.Contains(got.Problems[0], why)
	}) {
		t.Fatalf("/readyz: %+v", got)
	}
	d := time.Since(since)
	t.Logf("stalled after %s (STALL_AFTER %s): %s", d.Round(10*time.Millisecond), stallBound, got.Problems[0])
	if d > stallBound+time.Second {
		t.Errorf("the stall was reported %s after the work began to wait, bound %s", d, stallBound)
	}
	if g := stallGauge(t, url); g != "1" {
		t.Errorf("alharvest_stage_stalled{stage=\"scorer\"} = %s, want 1", g)
	}
}

// TestStallOfAConsumerPausedByAnOperator: work waits on a consumer an
// operator paused; the stage says so within STALL_AFTER, and is ready
// again once the consumer resumes and the work is settled.
func TestStallOfAConsumerPausedByAnOperator(t *testing.T) {
	var since time.Time
	env, url := stalledScorer(t, func(ctx context.Context, env *Env) {
		if _, err := env.JS.PauseConsumer(ctx, messages.StreamSIDs, messages.ConsumerScorer, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		publishSID(t, ctx, env)
		since = time.Now()
	})
	if g := stallGauge(t, url); g != "0" {
		t.Errorf("before any stall the gauge is %s, want 0 (it must exist from the start)", g)
	}
	expectStall(t, url, since, "its consumer scorer is paused")

	if _, err := env.JS.ResumeConsumer(context.Background(), messages.StreamSIDs, messages.ConsumerScorer); err != nil {
		t.Fatal(err)
	}
	if !testenv.Eventually(t, 20*time.Second, "/readyz ready after the resume", func() bool {
		return getReadyz(t, url).matches(nil)
	}) {
		t.Fatalf("/readyz: %+v", getReadyz(t, url))
	}
	if g := stallGauge(t, url); g != "0" {
		t.Errorf("after the resume the gauge is %s, want 0", g)
	}
}

// TestStallOfAProcessWithNoCallSlot: another process holds the whole
// shared budget (AL_QUOTA=1) and does not let go, so the scorer's share
// is 0 and its message waits for a slot; the stage says so within
// STALL_AFTER.
func TestStallOfAProcessWithNoCallSlot(t *testing.T) {
	var since time.Time
	_, url := stalledScorer(t, func(ctx context.Context, env *Env) {
		kv, err := env.JS.KeyValue(ctx, messages.BucketState)
		if err != nil {
			t.Fatal(err)
		}
		hog := quota.NewShared(quota.SharedConfig{Server: env.Cfg.AL.BaseURL, User: env.Cfg.AL.User, Name: "hog", Quota: 1})
		if err := hog.Start(context.Background(), kv); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(hog.Close)
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := hog.Acquire(actx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hog.Release(false) })
		testenv.Eventually(t, 10*time.Second, "the scorer's share to be 0", func() bool { return env.Shared.Allowed() == 0 })
		publishSID(t, ctx, env)
		since = time.Now()
	})
	expectStall(t, url, since, "its share of the shared quota budget is 0")
}

// TestDeletedBucketHealsBeforeAStall deletes the state bucket under a
// running scorer, then gives it work: the bucket and the quota record are
// re-created at once, the message is settled, and the stage is never
// reported stalled (before the heal, the process waited on a share of 0).
func TestDeletedBucketHealsBeforeAStall(t *testing.T) {
	env, url := stalledScorer(t, func(context.Context, *Env) {})
	ctx := context.Background()
	if err := env.JS.DeleteKeyValue(ctx, messages.BucketState); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	publishSID(t, ctx, env)
	for time.Since(deleted) < 2*stallBound {
		if got := getReadyz(t, url); !got.Ready {
			t.Fatalf("%s after the deletion /readyz: %+v", time.Since(deleted).Round(time.Millisecond), got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := env.JS.KeyValue(ctx, messages.BucketState); err != nil {
		t.Errorf("bucket not re-created: %v", err)
	}
	info, err := env.JS.Consumer(ctx, messages.StreamSIDs, messages.ConsumerScorer)
	if err != nil {
		t.Fatal(err)
	}
	if ci := info.CachedInfo(); ci.NumPending != 0 || ci.NumAckPending != 0 {
		t.Errorf("the message was not settled: %d pending, %d ack-pending", ci.NumPending, ci.NumAckPending)
	}
	if env.Shared.Allowed() != 1 {
		t.Errorf("the scorer may make %d calls at once, want its whole budget of 1", env.Shared.Allowed())
	}
}
