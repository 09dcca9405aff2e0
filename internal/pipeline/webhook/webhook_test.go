package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/pipeline/webhook"
	"github.com/alharvest/alharvest/pkg/messages"
)

const (
	user  = "alharvest"
	pass  = "s3cret-pass"
	token = "t0ken-value"
)

// counter records outcomes the receiver reports.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) WebhookRequest(o string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[o]++
}

func (c *counter) get(o string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[o]
}

type fixture struct {
	srv  *natstest.Server
	js   jetstream.JetStream
	ts   *httptest.Server
	seen *counter
}

func setup(t *testing.T, auth webhook.Auth, maxBody int64) *fixture {
	t.Helper()
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	seen := &counter{}
	rcv := webhook.New(js, webhook.Config{Threshold: 7000, Auth: auth, MaxBody: maxBody,
		PublishTimeout: 500 * time.Millisecond, Observer: seen})
	ts := httptest.NewServer(rcv)
	t.Cleanup(ts.Close)
	return &fixture{srv: srv, js: js, ts: ts, seen: seen}
}

type req struct {
	method, body string
	// basic sets HTTP Basic user:password; bearer an Authorization header.
	basicUser, basicPass, bearer string
	path                         string
}

func (f *fixture) do(t *testing.T, r req) (int, webhook.Answer) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = webhook.Path
	}
	hr, err := http.NewRequest(r.method, f.ts.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if r.basicUser != "" || r.basicPass != "" {
		hr.SetBasicAuth(r.basicUser, r.basicPass)
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a webhook.Answer
	if resp.StatusCode != http.StatusNotFound {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("status %d, body %q: %v", resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, a
}

// queued returns the SIDs stored on alharvest.sids, with their sources.
func queued(t *testing.T, js jetstream.JetStream) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, messages.StreamSIDs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		sid, err := messages.DecodeSID(m.Data)
		if err != nil {
			t.Fatalf("queued message %q: %v", m.Data, err)
		}
		if m.Header.Get(messages.HeaderMsgID) != sid.SID {
			t.Errorf("Nats-Msg-Id %q, want the SID %q", m.Header.Get(messages.HeaderMsgID), sid.SID)
		}
		out[sid.SID] = sid.PublishedBy
	}
	return out
}

func push(sid string, score any, cache bool) string {
	b, _ := json.Marshal(map[string]any{"is_cache": cache, "score": score,
		"submission": map[string]any{"sid": sid, "state": "completed", "max_score": score,
			"files": []map[string]any{{"name": "a.exe", "sha256": strings.Repeat("a", 64), "size": 10}}}})
	return string(b)
}

func TestReceiverAnswers(t *testing.T) {
	f := setup(t, webhook.Auth{User: user, Password: pass, Token: token}, 4096)
	basic := req{basicUser: user, basicPass: pass}
	withBody := func(r req, method, body string) req { r.method, r.body = method, body; return r }
	tests := []struct {
		name    string
		r       req
		code    int
		result  string
		queuedS string // a SID that must then be queued
	}{
		{"basic auth, qualifying push", withBody(basic, "POST", push("4EZNjXD44dmYMRbXYPAe6t", 7310, false)), 202, webhook.OutcomeStored, "4EZNjXD44dmYMRbXYPAe6t"},
		{"retry of the same push is a no-op", withBody(basic, "POST", push("4EZNjXD44dmYMRbXYPAe6t", 7310, false)), 202, webhook.OutcomeRepeated, "4EZNjXD44dmYMRbXYPAe6t"},
		{"bearer token, PUT, float score", req{method: "PUT", bearer: token, body: push("5abcDEF", 7000.0, false)}, 202, webhook.OutcomeStored, "5abcDEF"},
		{"cache hit publishes its SID", req{bearer: token, body: `{"is_cache":true,"score":9000,"submission":{"sid":"6Cache","files":[{"name":"x","sha256":"` + strings.Repeat("b", 64) + `"}]}}`}, 202, webhook.OutcomeStored, "6Cache"},
		{"score below threshold", withBody(basic, "POST", push("7Low", 6999.5, false)), 200, webhook.OutcomeIgnored, ""},
		{"invalid SID", withBody(basic, "POST", push("not a sid!", 9000, false)), 200, webhook.OutcomeIgnored, ""},
		{"malformed JSON", withBody(basic, "POST", `{"score": 9000, "submission": {"sid": "abc"`), 400, webhook.OutcomeBadRequest, ""},
		{"JSON array", withBody(basic, "POST", `[1,2]`), 400, webhook.OutcomeBadRequest, ""},
		{"no submission", withBody(basic, "POST", `{"score": 9000}`), 400, webhook.OutcomeBadRequest, ""},
		{"no score", withBody(basic, "POST", `{"submission": {"sid": "abc"}}`), 400, webhook.OutcomeBadRequest, ""},
		{"score as a string", withBody(basic, "POST", push("7Str", "9000", false)), 400, webhook.OutcomeBadRequest, ""},
		{"score null", withBody(basic, "POST", `{"score": null, "submission": {"sid": "abc"}}`), 400, webhook.OutcomeBadRequest, ""},
		{"score an object", withBody(basic, "POST", `{"score": {"v": 9000}, "submission": {"sid": "abc"}}`), 400, webhook.OutcomeBadRequest, ""},
		{"score true", withBody(basic, "POST", `{"score": true, "submission": {"sid": "abc"}}`), 400, webhook.OutcomeBadRequest, ""},
		{"sid not a string", withBody(basic, "POST", `{"score": 9000, "submission": {"sid": 12}}`), 400, webhook.OutcomeBadRequest, ""},
		{"trailing data", withBody(basic, "POST", `{"score": 9000, "submission": {"sid": "abc"}} {}`), 400, webhook.OutcomeBadRequest, ""},
		{"oversized body", withBody(basic, "POST", `{"score": 9000, "pad": "`+strings.Repeat("x", 5000)+`", "submission": {"sid": "big"}}`), 413, webhook.OutcomeTooLarge, ""},
		{"no credentials", req{body: push("8NoAuth", 9000, false)}, 401, webhook.OutcomeUnauthorized, ""},
		{"wrong password", req{basicUser: user, basicPass: pass + "x", body: push("8NoAuth", 9000, false)}, 401, webhook.OutcomeUnauthorized, ""},
		{"wrong user", req{basicUser: "other", basicPass: pass, body: push("8NoAuth", 9000, false)}, 401, webhook.OutcomeUnauthorized, ""},
		{"wrong token", req{bearer: token + "x", body: push("8NoAuth", 9000, false)}, 401, webhook.OutcomeUnauthorized, ""},
		{"GET", req{method: "GET", basicUser: user, basicPass: pass}, 405, webhook.OutcomeBadMethod, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, a := f.do(t, tt.r)
			if code != tt.code || a.Result != tt.result {
				t.Fatalf("got %d %+v, want %d %s", code, a, tt.code, tt.result)
			}
			if code != 202 && code != 200 && a.Reason == "" {
				t.Errorf("no reason given: %+v", a)
			}
			if tt.queuedS != "" {
				if src, ok := queued(t, f.js)[tt.queuedS]; !ok || src != webhook.PublishedBy {
					t.Errorf("SID %s not queued by the webhook (queued: %v)", tt.queuedS, queued(t, f.js))
				}
			}
		})
	}
	got := queued(t, f.js)
	if len(got) != 3 {
		t.Errorf("queued %v, want exactly the 3 stored SIDs", got)
	}
	if _, ok := got["8NoAuth"]; ok {
		t.Error("an unauthenticated push was queued")
	}
	if f.seen.get(webhook.OutcomeStored) != 3 || f.seen.get(webhook.OutcomeRepeated) != 1 || f.seen.get(webhook.OutcomeUnauthorized) != 4 {
		t.Errorf("observed %v", f.seen.n)
	}
}

func TestReceiverUnknownPath(t *testing.T) {
	f := setup(t, webhook.Auth{Token: token}, 0)
	if code, _ := f.do(t, req{path: "/other", bearer: token, body: push("abc", 9000, false)}); code != 404 {
		t.Errorf("status %d, want 404", code)
	}
	if n := f.seen.get(webhook.OutcomeNotFound); n != 1 {
		t.Errorf("%d requests counted not_found, want 1", n)
	}
}

// TestReceiverNATSDown: when JetStream cannot store the SID, the answer is
// 503 (Assemblyline retries), never a 2xx.
func TestReceiverNATSDown(t *testing.T) {
	f := setup(t, webhook.Auth{Token: token}, 0)
	f.srv.Shutdown()
	f.srv.WaitForShutdown()
	code, a := f.do(t, req{bearer: token, body: push("9Down", 9000, false)})
	if code != http.StatusServiceUnavailable || a.Result != webhook.OutcomeUnavailable {
		t.Fatalf("got %d %+v, want 503", code, a)
	}
}

// TestReceiverWithoutAuth: with no credentials configured (loopback only,
// enforced by the configuration) every push is accepted.
func TestReceiverWithoutAuth(t *testing.T) {
	f := setup(t, webhook.Auth{}, 0)
	if code, a := f.do(t, req{body: push("Open1", 9000, false)}); code != 202 || a.Result != webhook.OutcomeStored {
		t.Fatalf("got %d %+v", code, a)
	}
}

func TestTallyAddsUp(t *testing.T) {
	js := natstest.Provisioned(t)
	ctx := context.Background()
	kv := natstest.StateBucket(t, js)
	// Two replicas count concurrently; the bucket holds the sum.
	a, b := webhook.NewTally(kv, nil), webhook.NewTally(kv, nil)
	for range 5 {
		a.WebhookRequest(webhook.OutcomeStored)
		b.WebhookRequest(webhook.OutcomeRepeated)
	}
	b.WebhookRequest(webhook.OutcomeIgnored)
	a.WebhookRequest(webhook.OutcomeUnauthorized)
	var wg sync.WaitGroup
	for _, tl := range []*webhook.Tally{a, b} {
		wg.Go(func() {
			if err := tl.Flush(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, ok, err := webhook.LoadTotals(ctx, kv)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if got.Stored != 5 || got.Repeated != 5 || got.Ignored != 1 || got.Refused != 1 || got.LastPush.IsZero() {
		t.Errorf("totals %+v", got)
	}
	// Nothing new: a flush writes nothing.
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	p, err := webhook.Decode([]byte(` {"is_cache": true, "score": 7310.0, "submission": {"sid": "abc", "extra": [1,2]}, "new": {}} `))
	if err != nil || p.SID != "abc" || p.Score != 7310 || !p.IsCache {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{``, `null`, `"abc"`, `{"score": "high", "submission": {"sid": "a"}}`,
		`{"score": "9000", "submission": {"sid": "a"}}`, `{"score": "-1", "submission": {"sid": "a"}}`, `{"score": 1e999, "submission": {"sid": "a"}}`, `{"score": 1, "submission": null}`, `{"score": 1, "submission": []}`} {
		if _, err := webhook.Decode([]byte(bad)); err == nil {
			t.Errorf("Decode(%q) accepted", bad)
		}
	}
}

// TestReceiverNeverLogsCredentials: neither the configured secrets nor
// what a caller presented reach the logs, whatever the outcome.
func TestReceiverNeverLogsCredentials(t *testing.T) {
	js := natstest.Provisioned(t)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := httptest.NewServer(webhook.New(js, webhook.Config{Threshold: 7000, Auth: webhook.Auth{User: user, Password: pass, Token: token}, Logger: log}))
	t.Cleanup(ts.Close)
	f := &fixture{js: js, ts: ts}
	for _, r := range []req{
		{basicUser: user, basicPass: pass, body: push("LogOk1", 9000, false)},
		{basicUser: user, basicPass: "guessed-" + pass, body: push("LogBad1", 9000, false)},
		{bearer: "guessed-" + token, body: push("LogBad2", 9000, false)},
		{bearer: token, body: `{"score": 9000, "submission": {"sid": "` + pass + `"`},
	} {
		f.do(t, r)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, secret := range []string{pass, token, "guessed-"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs.String())
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRefusalsAreLoggedAtABoundedRate: 500 bad requests are each counted,
// but write one log line per kind of refusal per interval, not 500.
func TestRefusalsAreLoggedAtABoundedRate(t *testing.T) {
	js := natstest.Provisioned(t)
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	seen := &counter{}
	ts := httptest.NewServer(webhook.New(js, webhook.Config{Threshold: 7000, Auth: webhook.Auth{Token: token}, Logger: log, Observer: seen}))
	t.Cleanup(ts.Close)
	f := &fixture{js: js, ts: ts}
	for i := range 500 {
		if i%2 == 0 {
			f.do(t, req{bearer: token, body: `{"score": "9000", "submission": {"sid": "abc"}}`})
		} else {
			f.do(t, req{bearer: "wrong", body: push("abc", 9000, false)})
		}
	}
	if b, u := seen.get(webhook.OutcomeBadRequest), seen.get(webhook.OutcomeUnauthorized); b != 250 || u != 250 {
		t.Errorf("counted %d bad requests and %d unauthorized, want 250 each", b, u)
	}
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 500 refused requests, want 2 (one per kind):\n%s", len(lines), logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `"level":"WARN"`) || !strings.Contains(l, "refused") {
			t.Errorf("unexpected line %s", l)
		}
	}
}
