package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/cli"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/searcher"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

func TestHealthcheck(t *testing.T) {
	ready := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.Write([]byte("ok\n"))
		case r.URL.Path == "/readyz" && ready:
			w.Write([]byte(`{"ready":true}`))
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ts.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))

	tests := []struct {
		name  string
		args  []string
		ready bool
		want  int
	}{
		{"alive", []string{"--http-addr", ":" + port}, false, 0},
		{"not ready", []string{"--http-addr", ":" + port, "--ready"}, false, 1},
		{"ready", []string{"--http-addr", "0.0.0.0:" + port, "--ready"}, true, 0},
		{"probes off", []string{"--http-addr", ""}, false, 0},
		{"nothing listening", []string{"--http-addr", "127.0.0.1:1"}, false, 1},
		{"bad address", []string{"--http-addr", "nonsense"}, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			var out, errb bytes.Buffer
			if got := command(context.Background(), append([]string{"healthcheck"}, tc.args...), &out, &errb); got != tc.want {
				t.Errorf("exit %d, want %d\n%s%s", got, tc.want, out.String(), errb.String())
			}
		})
	}
}

func TestReadStatus(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	if _, err := broker.Consumer(ctx, js, messages.StreamSIDs, messages.ConsumerScorer, broker.ConsumerConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"a1", "b2", "c3"} {
		m, _ := messages.NewSIDMsg(sid, "test")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, stage := range []string{messages.StageDownloader, "feed", "feed"} {
		dl := nats.NewMsg(messages.DLQSubject(stage))
		dl.Data = []byte(`{"sha256":"x"}`)
		if _, err := js.PublishMsg(ctx, dl); err != nil {
			t.Fatal(err)
		}
	}
	for _, sid := range []string{"running1", "running2"} {
		if _, err := js.Publish(ctx, messages.DeferredSubject(messages.StageScorer), []byte(sid)); err != nil {
			t.Fatal(err)
		}
	}
	kv := natstest.StateBucket(t, js)
	wm := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cp, _ := json.Marshal(searcher.Checkpoint{Scope: searcher.Scope{Threshold: 7000}, Watermark: wm, LastSweep: searcher.LastSweep{Found: 5, Published: 4}})
	if _, err := kv.Put(ctx, searcher.CheckpointKey(searcher.Scope{Threshold: 7000, Filter: ""}), cp); err != nil {
		t.Fatal(err)
	}

	// The server counts a consumer's pending messages asynchronously after
	// the publishes were acknowledged; under load the first read can lag.
	var st *Status
	testenv.Eventually(t, 5*time.Second, "the scorer's consumer to count 3 pending", func() bool {
		var err error
		if st, err = ReadStatus(ctx, js); err != nil {
			t.Fatal(err)
		}
		return len(st.Stages) == 2 && st.Stages[0].Pending == 3
	})
	if len(st.Stages) != 2 {
		t.Fatalf("stages %+v", st.Stages)
	}
	sc, dlr := st.Stages[0], st.Stages[1]
	if sc.Stage != "scorer" || sc.Queued != 3 || sc.Pending != 3 || !sc.Consumer || sc.InFlight != 0 || sc.Deferred != 2 {
		t.Errorf("scorer %+v", sc)
	}
	if dlr.Stage != "downloader" || dlr.Queued != 0 || dlr.Consumer || dlr.DeadLettered != 1 || dlr.Deferred != 0 {
		t.Errorf("downloader %+v", dlr)
	}
	if len(st.Searches) != 1 || !st.Searches[0].Watermark.Equal(wm) || st.Searches[0].LastSweep.Found != 5 {
		t.Errorf("searches %+v", st.Searches)
	}
	var text bytes.Buffer
	st.WriteText(&text)
	for _, want := range []string{"STAGE", "DEFERRED", "scorer", "downloader", "watermark 2026-11-01T12:00:00Z", "no replica has started yet"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, text.String())
		}
	}
	// The feed's dead letters have a row of their own, not only a JSON field.
	var feedRow []string
	for _, line := range strings.Split(text.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "feed" {
			feedRow = f
		}
	}
	if len(feedRow) == 0 || feedRow[len(feedRow)-1] != "2" {
		t.Errorf("status text shows the feed's dead letters as %q, want a feed row ending in 2:\n%s", feedRow, text.String())
	}
}

func TestStatusShowsTheSharedBudget(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	kv := natstest.StateBucket(t, js)
	g := quota.NewShared(quota.SharedConfig{Server: "https://al.example.org", User: "harvest", Name: "scorer@host:42", Quota: 8})
	if err := g.Start(ctx, kv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	for range 3 {
		if err := g.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}

	st, err := ReadStatus(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Budgets) != 1 {
		t.Fatalf("budgets %+v", st.Budgets)
	}
	b := st.Budgets[0]
	if b.Quota != 8 || b.Origin != quota.OriginOverride || b.Size != 8 || len(b.Holders) != 1 ||
		b.Holders[0].Name != "scorer@host:42" || b.Holders[0].Held < 3 || b.Held != b.Holders[0].Held {
		t.Errorf("budget %+v", b)
	}
	var text bytes.Buffer
	st.WriteText(&text)
	for _, want := range []string{"Assemblyline quota of harvest on https://al.example.org: 8 (override)", "HOLDER", "scorer@host:42"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, text.String())
		}
	}
}

// command runs an admin command under a root named like alharvest's.
func command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cli.Command{Name: "alharvest", Commands: []*cli.Command{StatusCommand, DLQCommand, HealthcheckCommand}}
	return cli.Run(ctx, root, args, stdout, stderr)
}
