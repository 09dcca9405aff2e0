package assemblyline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// endpointCall runs one of the three operations with harmless arguments.
type endpointCall struct {
	name string
	ok   reply
	call func(ctx context.Context, c *Client) error
}

var endpoints = []endpointCall{
	{"search", okSearch, func(ctx context.Context, c *Client) error {
		return c.SearchSubmissions(ctx, SearchRequest{Query: "max_score:>=7000"}, func([]SearchItem) error { return nil })
	}},
	{"submission_full", okFull, func(ctx context.Context, c *Client) error {
		_, err := c.SubmissionFull(ctx, testSID)
		return err
	}},
	{"download", okDownload, func(ctx context.Context, c *Client) error {
		return c.Download(ctx, testSHA256, func(r io.Reader, _ int64) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
	}},
}

const nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

const (
	msgConcurrent = "You've exceeded your maximum concurrent API calls quota of 10"
	msgDaily      = "You've exceeded your daily maximum API calls quota of 1000"
	msgCursor     = "SearchException: NotFoundError(404, 'search_phase_execution_exception', 'No search context found for id [46ToAwMDaWR5BXV1aWQy]')"
)

// errorCases drive every operation through every error class. The harness
// allows MaxRetries = 3, so a retried failure makes 4 requests.
var errorCases = []struct {
	name         string
	replies      func(ok reply) []reply
	only         []string // endpoints the case applies to; nil = all
	cfg          func(*Config)
	wantOK       bool
	wantKind     failure.Kind
	wantRequests int
	wantStatus   int // of the APIError; 0 = not an APIError
	wantMsg      []string
	wantRejected int // Release(true) calls
}{
	{
		name: "401 with the login-hints dict",
		replies: func(reply) []reply {
			return []reply{env(401, map[string]any{"allow_userpass_login": true, "allow_signup": false, "allow_saml_login": false}, "Invalid user or APIKey")}
		},
		wantKind: failure.Auth, wantRequests: 1, wantStatus: 401, wantMsg: []string{"Invalid user or APIKey"},
	},
	{
		name: "403 with the config dict",
		replies: func(reply) []reply {
			return []reply{env(403, map[string]any{"auth": map[string]any{}, "ui": map[string]any{}}, "Access Denied (/api/v4/x/) [API /api/v4/x/ requires one of the following roles: submission_view]")}
		},
		wantKind: failure.Forbidden, wantRequests: 1, wantStatus: 403, wantMsg: []string{"Access Denied"},
	},
	{
		// One submission above the user's clearance: that message's
		// problem, not the stage's (no halt).
		name: "403 on one submission's classification",
		only: []string{"submission_full"},
		replies: func(reply) []reply {
			return []reply{env(403, "", "You are not allowed to view the data of this submission")}
		},
		wantKind: failure.NotFound, wantRequests: 1, wantStatus: 403, wantMsg: []string{"not allowed to view"},
	},
	{
		name: "404",
		replies: func(reply) []reply {
			return []reply{env(404, map[string]any{}, "The file was not found in the system.")}
		},
		wantKind: failure.NotFound, wantRequests: 1, wantStatus: 404, wantMsg: []string{"The file was not found in the system."},
	},
	{
		name:    "503 concurrent quota, then success",
		replies: func(ok reply) []reply { return []reply{env(503, "", msgConcurrent), ok} },
		wantOK:  true, wantRequests: 2, wantRejected: 1,
	},
	{
		name:     "503 concurrent quota forever",
		replies:  func(reply) []reply { return []reply{env(503, "", msgConcurrent)} },
		wantKind: failure.QuotaConcurrent, wantRequests: 4, wantStatus: 503, wantRejected: 4,
		wantMsg: []string{msgConcurrent, "gave up after 4 attempts"},
	},
	{
		name:     "503 daily quota is not retried",
		replies:  func(reply) []reply { return []reply{env(503, "", msgDaily)} },
		wantKind: failure.QuotaDaily, wantRequests: 1, wantStatus: 503,
	},
	{
		name:    "503 other, then success",
		replies: func(ok reply) []reply { return []reply{env(503, "", "Service restarting"), ok} },
		wantOK:  true, wantRequests: 2,
	},
	{
		name: "503 non-JSON forever",
		replies: func(reply) []reply {
			return []reply{raw(503, "text/html", "<html><body>Service Unavailable</body></html>")}
		},
		wantKind: failure.Unavailable, wantRequests: 4, wantStatus: 503,
		wantMsg: []string{"HTTP 503 Service Unavailable from 127.0.0.1:", "is not an Assemblyline API answer (text/html); check AL_URL or the proxy; it starts: Service Unavailable"},
	},
	{
		name:     "400 No search context found",
		replies:  func(reply) []reply { return []reply{env(400, "", msgCursor)} },
		wantKind: failure.CursorExpired, wantRequests: 1, wantStatus: 400,
	},
	{
		name: "400 other",
		replies: func(reply) []reply {
			return []reply{env(400, "", "SearchException: Unknown sort parameter foo bar baz")}
		},
		wantKind: failure.BadRequest, wantRequests: 1, wantStatus: 400,
	},
	{
		// Search pages too: the same deep_paging_id is safe to repeat.
		name:    "500 is retried",
		replies: func(ok reply) []reply { return []reply{env(500, "", "Internal Server Error"), ok} },
		wantOK:  true, wantRequests: 2,
	},
	{
		name:    "502 from a proxy, then success",
		replies: func(ok reply) []reply { return []reply{raw(502, "text/html", nginx502), ok} },
		wantOK:  true, wantRequests: 2,
	},
	{
		name:    "504, then success",
		replies: func(ok reply) []reply { return []reply{raw(504, "text/html", "<html>504 Gateway Time-out</html>"), ok} },
		wantOK:  true, wantRequests: 2,
	},
	{
		name:     "HTML 502 forever gives a readable error",
		replies:  func(reply) []reply { return []reply{raw(502, "text/html", nginx502)} },
		wantKind: failure.Unavailable, wantRequests: 4, wantStatus: 502,
		wantMsg: []string{"HTTP 502 Bad Gateway from 127.0.0.1:", "not an Assemblyline API answer (text/html)", "it starts: 502 Bad Gateway 502 Bad Gateway nginx"},
	},
	{
		name:    "connection reset, then success",
		replies: func(ok reply) []reply { return []reply{reset(), ok} },
		wantOK:  true, wantRequests: 2,
	},
	{
		name:     "connection reset forever",
		replies:  func(reply) []reply { return []reply{reset()} },
		wantKind: failure.Unavailable, wantRequests: 4,
	},
	{
		name:    "429 from a proxy, then success",
		replies: func(ok reply) []reply { return []reply{raw(429, "text/plain", "slow down"), ok} },
		wantOK:  true, wantRequests: 2, wantRejected: 1,
	},
	{
		name: "HTTP 200 with api_error_message (the 415 quirk)",
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"api_response": "", "api_error_message": "415 Unsupported Media Type: Did not attempt to load JSON data because the request Content-Type was not 'application/json'.", "api_server_version": "4.7.4.stable5", "api_status_code": 200}`)}
		},
		wantKind: failure.BadRequest, wantRequests: 1, wantStatus: 200, wantMsg: []string{"415 Unsupported Media Type"},
	},
	{
		name: "HTTP 200 carrying api_status_code 404",
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"api_response": "", "api_error_message": "gone", "api_status_code": 404}`)}
		},
		wantKind: failure.NotFound, wantRequests: 1, wantStatus: 200, wantMsg: []string{"gone (api_status_code 404)"},
	},
	{
		name: "HTML page under HTTP 200",
		only: []string{"search", "submission_full"},
		replies: func(reply) []reply {
			return []reply{raw(200, "text/html", "<html><body>Please log in to the proxy</body></html>")}
		},
		wantKind: failure.Unavailable, wantRequests: 4,
		wantMsg: []string{"a proxy page or a truncated body is the likely cause", "Please log in to the proxy"},
	},
	{
		name: "truncated JSON",
		only: []string{"search", "submission_full"},
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"api_response": {"items": [{"sid": "abc"`)}
		},
		wantKind: failure.Unavailable, wantRequests: 4, wantMsg: []string{"not the expected JSON"},
	},
	{
		name: "wrong types",
		only: []string{"search", "submission_full"},
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"api_response": {"items": "nope", "state": 7}, "api_error_message": "", "api_status_code": 200}`)}
		},
		wantKind: failure.Unavailable, wantRequests: 4, wantMsg: []string{"does not have the expected structure"},
	},
	{
		name: "no api_response",
		only: []string{"search", "submission_full"},
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"detail": "hello from something else"}`)}
		},
		wantKind: failure.Unavailable, wantRequests: 4, wantMsg: []string{"no api_response"},
	},
	{
		name: "answer over MaxJSONBytes",
		only: []string{"search", "submission_full"},
		cfg:  func(c *Config) { c.MaxJSONBytes = 1024 },
		replies: func(reply) []reply {
			return []reply{env(200, map[string]any{"items": []any{}, "padding": strings.Repeat("x", 4096)}, "")}
		},
		wantKind: failure.TooLarge, wantRequests: 1, wantMsg: []string{"exceeds the 1024-byte limit"},
	},
	{
		name: "deeply nested JSON",
		only: []string{"search", "submission_full"},
		replies: func(reply) []reply {
			return []reply{raw(200, "application/json", `{"api_response": `+strings.Repeat("[", 1<<20))}
		},
		wantKind: failure.Unavailable, wantRequests: 4, wantMsg: []string{"depth"},
	},
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range errorCases {
		for _, ep := range endpoints {
			if tc.only != nil && !slices.Contains(tc.only, ep.name) {
				continue
			}
			t.Run(tc.name+"/"+ep.name, func(t *testing.T) {
				var mods []func(*Config)
				if tc.cfg != nil {
					mods = append(mods, tc.cfg)
				}
				hs := newHarness(t, sequence(tc.replies(ep.ok)...), mods...)
				err := ep.call(context.Background(), hs.c)

				if got := int(hs.requests.Load()); got != tc.wantRequests {
					t.Errorf("requests = %d, want %d", got, tc.wantRequests)
				}
				calls := hs.callsCopy()
				if len(calls) != tc.wantRequests {
					t.Errorf("Observe called %d times, want %d", len(calls), tc.wantRequests)
				}
				rejectedCalls := 0
				for _, c := range calls {
					if c.Endpoint != ep.name {
						t.Errorf("Call.Endpoint = %q, want %q", c.Endpoint, ep.name)
					}
					if c.QuotaRejected {
						rejectedCalls++
					}
				}
				if _, _, _, rej := hs.gate.snapshot(); rej != tc.wantRejected || rejectedCalls != tc.wantRejected {
					t.Errorf("quota rejections: gate %d, calls %d, want %d", rej, rejectedCalls, tc.wantRejected)
				}
				if tc.wantOK {
					if err != nil {
						t.Fatalf("err = %v, want success", err)
					}
					return
				}
				if err == nil {
					t.Fatal("err = nil")
				}
				if k := failure.KindOf(err); k != tc.wantKind {
					t.Errorf("kind = %v, want %v (err: %v)", k, tc.wantKind, err)
				}
				var ae *APIError
				switch {
				case tc.wantStatus == 0 && errors.As(err, &ae):
					t.Errorf("unexpected APIError %v", ae)
				case tc.wantStatus != 0 && !errors.As(err, &ae):
					t.Errorf("err %v is not an APIError", err)
				case tc.wantStatus != 0 && (ae.Status != tc.wantStatus || ae.Kind != tc.wantKind || ae.FailureKind() != tc.wantKind):
					t.Errorf("APIError status %d kind %v, want %d %v", ae.Status, ae.Kind, tc.wantStatus, tc.wantKind)
				}
				for _, m := range tc.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("err %q does not mention %q", err, m)
					}
				}
				if len(err.Error()) > 2000 {
					t.Errorf("error message is %d bytes long", len(err.Error()))
				}
				assertNoSecret(t, "error", err.Error())
			})
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		msg    string
		want   failure.Kind
	}{
		{401, "Invalid user or APIKey", failure.Auth},
		{401, "Session not found", failure.Auth},
		{403, "Access Denied", failure.Forbidden},
		{404, "Submission ID x does not exists.", failure.NotFound},
		{404, "Api does not exist (/al/api/v4/search/submission/)", failure.Forbidden},
		{400, msgCursor, failure.CursorExpired},
		{400, "SearchException: no search context found for id [x]", failure.CursorExpired},
		{400, "There was no search query.", failure.BadRequest},
		{405, "Method not allowed", failure.BadRequest},
		{415, "Unsupported Media Type", failure.BadRequest},
		{200, "415 Unsupported Media Type", failure.BadRequest},
		{503, msgConcurrent, failure.QuotaConcurrent},
		{503, msgDaily, failure.QuotaDaily},
		{503, "You've reached your daily maximum submission quota of 5", failure.QuotaDaily},
		{503, "", failure.Unavailable},
		{500, "Internal Server Error", failure.Unavailable},
		{502, "", failure.Unavailable},
		{504, "", failure.Unavailable},
		{507, "", failure.Unavailable},
		{408, "", failure.Timeout},
		{429, "", failure.QuotaConcurrent},
		{302, "", failure.Forbidden},
	}
	for _, tt := range tests {
		if got := classify(epSearch.op, tt.status, tt.msg); got != tt.want {
			t.Errorf("classify(search, %d, %q) = %v, want %v", tt.status, tt.msg, got, tt.want)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		if r.Header.Get("X-APIKEY") != "" {
			t.Error("the API key followed the redirect")
		}
	}))
	t.Cleanup(other.Close)
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	})
	_, err := hs.c.SubmissionFull(context.Background(), testSID)
	if k := failure.KindOf(err); k != failure.Forbidden {
		t.Fatalf("kind = %v, want Forbidden (err: %v)", k, err)
	}
	if !strings.Contains(err.Error(), "redirected to") || elsewhere.Load() != 0 {
		t.Errorf("err = %v, requests elsewhere = %d", err, elsewhere.Load())
	}
}

func TestContextEndsDuringBackoff(t *testing.T) {
	hs := newHarness(t, env(503, "", msgConcurrent), func(c *Config) {
		c.MaxRetries = 100
		c.RetryInitial = 100 * time.Millisecond
		c.RetryMax = 100 * time.Millisecond
	})
	// Long enough that a loaded machine still answers the first call before
	// the deadline (a deadline inside the first call has no "last failure").
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	t.Cleanup(cancel)
	_, err := hs.c.SubmissionFull(ctx, testSID)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if !strings.Contains(err.Error(), "last failure") || !strings.Contains(err.Error(), msgConcurrent) {
		t.Errorf("err %q hides the last failure", err)
	}
	if n := hs.requests.Load(); n < 2 || n > 12 {
		t.Errorf("%d requests in 1s with 100ms pauses", n)
	}
}

func TestContextCanceledWhileWaitingForGate(t *testing.T) {
	hs := newHarness(t, okFull)
	full := &countingGate{slots: make(chan struct{})} // never grants a slot
	c, err := New(Config{BaseURL: hs.srv.URL, User: testUser, APIKey: testKey, Gate: full})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	t.Cleanup(cancel)
	_, err = c.SubmissionFull(ctx, testSID)
	if k := failure.KindOf(err); k != failure.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v (kind %v), want the context's deadline", err, k)
	}
	if hs.requests.Load() != 0 {
		t.Error("a request was sent without a gate slot")
	}
}

func TestCanceledIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done()
	})
	_, err := hs.c.SubmissionFull(ctx, testSID)
	if k := failure.KindOf(err); k != failure.Canceled {
		t.Errorf("kind = %v, want Canceled (err: %v)", k, err)
	}
	if n := hs.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestConnectionsAreReused(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/v4/file/download/"):
			okDownload(w, r)
		case r.Method == http.MethodPost:
			okSearch(w, r)
		default:
			okFull(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, User: testUser, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		for _, ep := range endpoints {
			if err := ep.call(context.Background(), c); err != nil {
				t.Fatalf("%s: %v", ep.name, err)
			}
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("9 sequential calls opened %d connections, want 1", n)
	}
}

func TestQuotaOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"assemblyline's message", &APIError{Op: "search", Status: 503, Message: "You've exceeded your maximum concurrent API calls quota of 10", Kind: failure.QuotaConcurrent}, 10},
		{"wrapped, other number", fmt.Errorf("scoring: %w", &APIError{Status: 503, Message: "You've exceeded your maximum concurrent API calls quota of 25", Kind: failure.QuotaConcurrent}), 25},
		{"a proxy's 429 names nothing", &APIError{Status: 429, Message: "Too Many Requests", Kind: failure.QuotaConcurrent}, 0},
		{"the daily quota is not the concurrent one", &APIError{Status: 503, Message: "You've exceeded your daily maximum API calls quota of 1000", Kind: failure.QuotaDaily}, 0},
		{"not an API error", errors.New("quota of 10"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QuotaOf(tt.err); got != tt.want {
				t.Errorf("QuotaOf = %d, want %d", got, tt.want)
			}
		})
	}
}
