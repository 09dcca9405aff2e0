package assemblyline

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/secret"
)

func TestNewValidation(t *testing.T) {
	ok := Config{BaseURL: "https://al.example.org", User: testUser, APIKey: testKey}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string // "" = valid
	}{
		{"https", func(*Config) {}, ""},
		{"https with port and prefix", func(c *Config) { c.BaseURL = "https://al.example.org:8443/al/" }, ""},
		{"http to 127.0.0.1", func(c *Config) { c.BaseURL = "http://127.0.0.1:8080" }, ""},
		{"http to 127.1.2.3", func(c *Config) { c.BaseURL = "http://127.1.2.3" }, ""},
		{"http to ::1", func(c *Config) { c.BaseURL = "http://[::1]:8080" }, ""},
		{"http to localhost", func(c *Config) { c.BaseURL = "http://LocalHost:8080" }, ""},
		{"http elsewhere allowed", func(c *Config) { c.BaseURL = "http://al.internal"; c.AllowPlainHTTP = true }, ""},
		{"http elsewhere refused", func(c *Config) { c.BaseURL = "http://al.internal" }, "in clear"},
		{"http to a look-alike", func(c *Config) { c.BaseURL = "http://localhost.evil.example" }, "in clear"},
		{"empty URL", func(c *Config) { c.BaseURL = "" }, "BaseURL is empty"},
		{"no scheme", func(c *Config) { c.BaseURL = "al.example.org" }, "https://"},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://al.example.org" }, "https://"},
		{"unparsable", func(c *Config) { c.BaseURL = "https://al example.org/%zz" }, "does not parse"},
		{"no host", func(c *Config) { c.BaseURL = "https:///api" }, "no host"},
		{"credentials in URL", func(c *Config) { c.BaseURL = "https://u:" + testPassword + "@al.example.org" }, "credentials"},
		{"query", func(c *Config) { c.BaseURL = "https://al.example.org/?x=1" }, "query"},
		{"empty user", func(c *Config) { c.User = "" }, "User is empty"},
		{"empty key", func(c *Config) { c.APIKey = "" }, "APIKey is empty"},
		{"key without colon", func(c *Config) { c.APIKey = testPassword }, "splits it on the first colon"},
		{"key with empty password", func(c *Config) { c.APIKey = "harvest:" }, "empty key name or password"},
		{"key with empty name", func(c *Config) { c.APIKey = ":" + testPassword }, "empty key name or password"},
		{"key with a newline", func(c *Config) { c.APIKey = testKey + "\r\nX-Evil: 1" }, "control character"},
		{"key with spaces around", func(c *Config) { c.APIKey = " " + testKey }, "white space"},
		{"TLS options with a custom client", func(c *Config) { c.HTTPClient = &http.Client{}; c.InsecureSkipVerify = true }, "cannot be combined"},
		{"missing CA file", func(c *Config) { c.CAFile = filepath.Join(t.TempDir(), "nope.pem") }, "CAFile"},
		{"negative cap", func(c *Config) { c.MaxJSONBytes = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("New accepted %v", cfg)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("err %q does not say %q", err, tt.wantErr)
			}
			if err != nil {
				assertNoSecret(t, "New error", err.Error())
			}
			if c != nil && strings.HasSuffix(c.base, "/") {
				t.Errorf("base %q keeps a trailing slash", c.base)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := New(Config{BaseURL: "https://al.example.org", User: testUser, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if c.maxRetries != DefaultMaxRetries || c.retryInitial != DefaultRetryInitial || c.retryMax != DefaultRetryMax ||
		c.maxJSON != DefaultMaxJSONBytes || c.stall != DefaultStallTimeout || c.maxDownload != 0 {
		t.Errorf("defaults not applied: %+v", *c)
	}
	if c.hc.CheckRedirect == nil {
		t.Error("redirects would be followed")
	}
}

func TestSecretNeverFormatted(t *testing.T) {
	cfg := Config{BaseURL: "https://al.example.org", User: testUser, APIKey: testKey}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x"} {
		assertNoSecret(t, "Config "+verb, fmt.Sprintf(verb, cfg))
		assertNoSecret(t, "*Config "+verb, fmt.Sprintf(verb, &cfg))
		assertNoSecret(t, "Client "+verb, fmt.Sprintf(verb, c))
	}
	if !strings.Contains(cfg.String(), secret.Mask) || !strings.Contains(cfg.String(), testUser) {
		t.Errorf("String() = %s", cfg)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	log.Info("start", "config", cfg, "client", c, "cfgptr", &cfg)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("start", "config", cfg, "client", c)
	assertNoSecret(t, "slog", logs.String())
	if !strings.Contains(logs.String(), secret.Mask) {
		t.Errorf("logs lack the redaction marker: %s", logs.String())
	}
	if b, err := json.Marshal(struct{ Key string }{cfg.APIKey.Reveal()}); err == nil && !bytes.Contains(b, []byte(testPassword)) {
		t.Fatal("sanity check of the JSON test failed")
	}
	cfg.Observe = func(Call) {} // a func field must not make the encoding fail
	b, err := json.Marshal(cfg)
	if err != nil || !bytes.Contains(b, []byte(testUser)) {
		t.Errorf("json: %s, %v", b, err)
	}
	assertNoSecret(t, "json", string(b))
}

// TestSecretNeverLeaks runs error paths where the server or a proxy echoes
// the key back, and checks errors, logs and Calls (the harness checks those
// two after every test, including every case of TestErrorClasses).
func TestSecretNeverLeaks(t *testing.T) {
	echo := func(status int, asJSON bool) reply {
		return func(w http.ResponseWriter, r *http.Request) {
			k := r.Header.Get("X-APIKEY")
			if asJSON {
				writeEnvelope(w, status, map[string]any{"echo": k}, "Invalid user or APIKey "+k+" (password "+strings.SplitN(k, ":", 2)[1]+")")
				return
			}
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<html><body>Bad request headers: X-APIKEY: %s</body></html>", k)
		}
	}
	redirect := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://elsewhere.example/?k="+r.Header.Get("X-APIKEY"))
		w.WriteHeader(http.StatusFound)
	}
	bad200 := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"api_response": {"items": [{"sid": "%s"`, r.Header.Get("X-APIKEY"))
	}
	badItem := func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-APIKEY")
		writeEnvelope(w, 200, map[string]any{"items": []any{
			map[string]any{"sid": k},
			map[string]any{"sid": "ok1", "times": map[string]any{"completed": strings.Repeat("z", 80) + k}},
		}}, "")
	}
	cutExcerpt := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		// The key straddles the 512 bytes kept of a body.
		io.WriteString(w, "<p "+strings.Repeat("a", 490)+">"+r.Header.Get("X-APIKEY"))
	}
	badDoc := func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-APIKEY")
		writeEnvelope(w, 200, map[string]any{
			"sid": testSID, "state": strings.Repeat("s", 80) + k, "items": []any{},
			"results": map[string]any{strings.Repeat("q", 80) + k: map[string]any{"result": map[string]any{"score": 1}}},
		}, "")
	}
	replies := map[string]reply{
		"401 echo":      echo(401, true),
		"503 echo":      echo(503, true),
		"200 echo":      echo(200, true),
		"502 html echo": echo(502, false),
		"200 html echo": echo(200, false),
		"redirect":      redirect,
		"truncated":     bad200,
		"bad item":      badItem,
		"cut excerpt":   cutExcerpt,
		"bad document":  badDoc,
		"reset":         reset(),
	}
	for name, rp := range replies {
		for _, ep := range endpoints {
			t.Run(name+"/"+ep.name, func(t *testing.T) {
				hs := newHarness(t, rp, func(c *Config) { c.MaxRetries = 1 })
				err := ep.call(context.Background(), hs.c)
				if err != nil {
					assertNoSecret(t, "error", err.Error())
					assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
					assertNoSecret(t, "error %#v", fmt.Sprintf("%#v", err))
				}
			})
		}
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { okFull(w, r) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)

	tests := []struct {
		name     string
		mod      func(*Config)
		wantKind failure.Kind // Unknown = success
		newErr   string
	}{
		{"unknown CA", func(*Config) {}, failure.Auth, ""},
		{"CA file", func(c *Config) { c.CAFile = caFile }, failure.Unknown, ""},
		{"verification off", func(c *Config) { c.InsecureSkipVerify = true }, failure.Unknown, ""},
		{"CA file without certificates", func(c *Config) { c.CAFile = notPEM }, failure.Unknown, "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{BaseURL: srv.URL, User: testUser, APIKey: testKey, MaxRetries: 2}
			tt.mod(&cfg)
			c, err := New(cfg)
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("New: %v, want %q", err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.SubmissionFull(context.Background(), testSID)
			if k := failure.KindOf(err); (err == nil) != (tt.wantKind == failure.Unknown) || err != nil && k != tt.wantKind {
				t.Errorf("err = %v (kind %v), want kind %v", err, k, tt.wantKind)
			}
			if err != nil && strings.Contains(err.Error(), "gave up") {
				t.Errorf("a certificate error was retried: %v", err)
			}
		})
	}
}

func TestCustomHTTPClient(t *testing.T) {
	var used bool
	hs := newHarness(t, okFull, func(c *Config) {
		c.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			used = true
			return http.DefaultTransport.RoundTrip(r)
		})}
	})
	if _, err := hs.c.SubmissionFull(context.Background(), testSID); err != nil || !used {
		t.Errorf("err = %v, custom transport used = %t", err, used)
	}
	if hs.cfg.HTTPClient.CheckRedirect != nil {
		t.Error("New modified the caller's HTTPClient")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestConcurrentCallsShareTheGate(t *testing.T) {
	var inflight, peak atomic.Int32
	hs := newHarness(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
		okFull(w, r)
	})
	hs.gate.slots = make(chan struct{}, 3)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := hs.c.SubmissionFull(context.Background(), testSID)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if p := peak.Load(); p > 3 || hs.gate.max > 3 {
		t.Errorf("%d calls at once at the server, %d in the gate; the gate allows 3", p, hs.gate.max)
	}
}

// learningGate records what LearnQuota heard, and whether the matching
// Release came after it.
type learningGate struct {
	*countingGate
	learnt       []int
	beforeReject int
}

func (g *learningGate) LearnQuota(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.learnt = append(g.learnt, n)
	g.beforeReject = g.rej
}

func TestQuota503TellsTheGateTheQuota(t *testing.T) {
	gate := &learningGate{}
	hs := newHarness(t, sequence(
		env(http.StatusServiceUnavailable, "", "You've exceeded your maximum concurrent API calls quota of 7"),
		okFull,
	), func(c *Config) { gate.countingGate = c.Gate.(*countingGate); c.Gate = gate })
	if _, err := hs.c.SubmissionFull(context.Background(), testSID); err != nil {
		t.Fatal(err)
	}
	gate.mu.Lock()
	defer gate.mu.Unlock()
	if !slices.Equal(gate.learnt, []int{7}) || gate.rej != 1 || gate.beforeReject != 0 {
		t.Errorf("learnt %v, rejections %d (learnt before rejection %d): want [7] then one rejected Release", gate.learnt, gate.rej, gate.beforeReject)
	}
}
