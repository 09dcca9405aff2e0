package assemblyline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/testenv"
)

// The credentials every test uses. The password is long and recognisable so
// any leak into an error, a log line or a Call is caught by a substring test.
const (
	testUser     = "svc_go"
	testPassword = "LEAKCANARY0123456789abcdefghijKLMNOPQRSTUVWXYZ"
	testKey      = "harvest:" + testPassword
)

// reply is one canned server answer.
type reply func(w http.ResponseWriter, r *http.Request)

// env answers with an Assemblyline envelope.
func env(status int, resp any, msg string) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		writeEnvelope(w, status, resp, msg)
	}
}

func writeEnvelope(w http.ResponseWriter, status int, resp any, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"api_response":       resp,
		"api_error_message":  msg,
		"api_server_version": "4.7.4.stable5",
		"api_status_code":    status,
	})
}

// raw answers with an arbitrary body.
func raw(status int, contentType, body string) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// reset drops the connection with a TCP RST before answering.
func reset() reply {
	return func(w http.ResponseWriter, r *http.Request) { hijackReset(w) }
}

func hijackReset(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// truncated announces n bytes, sends the first half of body, then drops the connection.
func truncated(body []byte) reply {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		hijackReset(w)
	}
}

// sequence serves replies in order, repeating the last one.
func sequence(replies ...reply) reply {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		if i >= len(replies) {
			i = len(replies) - 1
		}
		replies[i](w, r)
	}
}

// countingGate is a Gate that checks it is used in balanced pairs.
type countingGate struct {
	mu                                     sync.Mutex
	inflight, max, acquired, released, rej int
	slots                                  chan struct{} // nil = unbounded
}

func (g *countingGate) Acquire(ctx context.Context) error {
	if g.slots != nil {
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acquired++
	g.inflight++
	g.max = max(g.max, g.inflight)
	return nil
}

func (g *countingGate) Release(quotaRejected bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.released++
	g.inflight--
	if quotaRejected {
		g.rej++
	}
	if g.inflight < 0 {
		panic("Release without Acquire")
	}
	if g.slots != nil {
		<-g.slots
	}
}

func (g *countingGate) snapshot() (inflight, acquired, released, rejected int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.acquired, g.released, g.rej
}

// harness is an httptest server and a client pointed at it, with every
// observable output captured.
type harness struct {
	t        *testing.T
	srv      *httptest.Server
	c        *Client
	cfg      Config
	gate     *countingGate
	logs     *testenv.Buffer
	requests atomic.Int32
	mu       sync.Mutex
	calls    []Call
	bodies   []string // request bodies, in order
	uris     []string // request URIs (escaped path and query), in order
}

// newHarness starts a server whose handler is h, after checking the headers
// every request must carry, and a client for it. mods adjust the Config.
func newHarness(t *testing.T, h reply, mods ...func(*Config)) *harness {
	t.Helper()
	hs := &harness{t: t, gate: &countingGate{}, logs: &testenv.Buffer{}}
	hs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		hs.mu.Lock()
		hs.bodies = append(hs.bodies, string(body))
		hs.uris = append(hs.uris, r.URL.RequestURI())
		hs.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		checkRequest(t, r)
		h(w, r)
	}))
	t.Cleanup(hs.srv.Close)
	hs.cfg = Config{
		BaseURL:      hs.srv.URL,
		User:         testUser,
		APIKey:       testKey,
		Gate:         hs.gate,
		MaxRetries:   3,
		RetryInitial: time.Millisecond,
		RetryMax:     5 * time.Millisecond,
		StallTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewJSONHandler(hs.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Observe: func(c Call) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.calls = append(hs.calls, c)
		},
	}
	for _, m := range mods {
		m(&hs.cfg)
	}
	c, err := New(hs.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs.c = c
	t.Cleanup(hs.checkInvariants)
	return hs
}

// checkRequest asserts what every request must look like.
func checkRequest(t *testing.T, r *http.Request) {
	t.Helper()
	if got := r.Header.Get("X-USER"); got != testUser {
		t.Errorf("X-USER = %q", got)
	}
	if got := r.Header.Get("X-APIKEY"); got != testKey {
		t.Errorf("X-APIKEY is not the configured key")
	}
	if got := r.Header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept = %q", got)
	}
	if r.Method == http.MethodPost {
		if got := r.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("POST Content-Type = %q", got)
		}
	}
	if !strings.HasSuffix(r.URL.Path, "/") {
		t.Errorf("path %q lacks the trailing slash", r.URL.Path)
	}
}

// checkInvariants runs after each test: the gate is balanced and no output
// holds the API key.
func (hs *harness) checkInvariants() {
	t := hs.t
	inflight, acquired, released, _ := hs.gate.snapshot()
	if inflight != 0 || acquired != released {
		t.Errorf("gate unbalanced: acquired %d, released %d, in flight %d", acquired, released, inflight)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if int(hs.requests.Load()) > acquired {
		t.Errorf("%d requests but only %d gate acquisitions", hs.requests.Load(), acquired)
	}
	for _, c := range hs.calls {
		if c.Err != nil {
			assertNoSecret(t, "Call.Err", c.Err.Error())
		}
		assertNoSecret(t, "Call", fmt.Sprintf("%+v", c))
	}
	assertNoSecret(t, "logs", hs.logs.String())
}

func (hs *harness) callsCopy() []Call {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]Call(nil), hs.calls...)
}

func (hs *harness) urisCopy() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]string(nil), hs.uris...)
}

func (hs *harness) bodiesCopy() []string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]string(nil), hs.bodies...)
}

// assertNoSecret fails when s holds the key or any 10-character piece of
// its password, which catches keys cut in half by truncation too.
func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for i := 0; i+10 <= len(testPassword); i++ {
		if strings.Contains(s, testPassword[i:i+10]) {
			t.Errorf("%s leaks (part of) the API key: %s", where, s)
			return
		}
	}
}

// Canned successful answers of each endpoint.
const (
	testSID    = "4EZNjXD44dmYMRbXYPAe6t"
	testSHA256 = "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"
)

var (
	okSearch = env(200, map[string]any{
		"offset": 0, "rows": 500, "total": nil,
		"items": []any{map[string]any{"sid": testSID, "max_score": 1000, "times": map[string]any{"completed": "2025-03-04T15:03:40Z"}}},
	}, "")
	okFull = env(200, map[string]any{
		"sid": testSID, "state": "completed", "max_score": 1000,
		"results": map[string]any{
			testSHA256 + ".YARA.v4_7_0_stable3.c0": map[string]any{"sha256": testSHA256, "result": map[string]any{"score": 1000}},
		},
		"missing_result_keys": []string{},
	}, "")
	okDownload = raw(200, "application/octet-stream", "CART-pretend-file")
)
