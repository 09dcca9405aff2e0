package alsim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/testenv"
)

// serveForTest runs Serve on a loopback port until the test ends.
func serveForTest(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, url, wait, err := Serve(ctx, "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s, url
}

// apiCall asks for one submission with the right credentials on a fresh
// connection and returns the status, Content-Type and body, or the
// transport error.
func apiCall(t *testing.T, base string, s *Server) (int, string, string, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v4/submission/full/"+s.Corpus().Submission(0).SID+"/", nil)
	req.Header.Set("X-USER", s.Config().User)
	req.Header.Set("X-APIKEY", s.Config().APIKey)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b), err
}

// TestOutageModes: each mode answers every API call the way a proxy, an
// ingress or a dead host does, and the API comes back when it ends.
func TestOutageModes(t *testing.T) {
	tests := []struct {
		mode       OutageMode
		wantStatus int
		wantBody   string
		wantErr    error // transport error
	}{
		{mode: OutageHTML502, wantStatus: 502, wantBody: "<center><h1>502 Bad Gateway</h1></center>"},
		{mode: OutageHTML404, wantStatus: 404, wantBody: "<center><h1>404 Not Found</h1></center>"},
		{mode: OutageRefuse, wantErr: syscall.ECONNREFUSED},
		{mode: OutageReset},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			s, base := serveForTest(t, Config{Submissions: 20})
			if st, _, _, err := apiCall(t, base, s); err != nil || st != 200 {
				t.Fatalf("before the outage: %d, %v", st, err)
			}
			if err := s.SetOutage(tt.mode, 0); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				st, ct, body, err := apiCall(t, base, s)
				switch {
				case tt.wantStatus != 0:
					if err != nil || st != tt.wantStatus || ct != "text/html" || !strings.Contains(body, tt.wantBody) || strings.Contains(body, "api_") {
						t.Fatalf("during the outage: %d %q %q, %v", st, ct, body, err)
					}
				case tt.wantErr != nil:
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("during the outage: err = %v, want %v", err, tt.wantErr)
					}
				default:
					if err == nil {
						t.Fatalf("during the outage: %d, want a dropped connection", st)
					}
				}
			}
			if got := s.Outage(); got.Mode != tt.mode || (tt.mode != OutageRefuse && got.Answered != 3) {
				t.Errorf("status during the outage = %+v", got)
			}
			if err := s.SetOutage(OutageOff, 0); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { st, _, _, err := apiCall(t, base, s); return err == nil && st == 200 })
		})
	}
}

// TestOutageRefuseResetsOpenConnections: a kept-alive connection does not
// outlive the refusal, or a client with a pooled connection would never
// see the outage.
func TestOutageRefuseResetsOpenConnections(t *testing.T) {
	s, base := serveForTest(t, Config{Submissions: 20})
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func() error {
		req, _ := http.NewRequest("GET", base+"/api/v4/submission/full/"+s.Corpus().Submission(0).SID+"/", nil)
		req.Header.Set("X-USER", s.Config().User)
		req.Header.Set("X-APIKEY", s.Config().APIKey)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOutage(OutageRefuse, 0); err != nil {
		t.Fatal(err)
	}
	if err := get(); err == nil {
		t.Fatal("a pooled connection still reached the API while refusing")
	}
	if got := s.Outage().Refused; got < 1 {
		t.Errorf("refused = %d, want the open connection counted", got)
	}
	s.SetOutage(OutageOff, 0)
	testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { return get() == nil })
}

// TestOutageAdminEndpoint: POST /_alsim/outage switches modes with a
// duration after which the API comes back by itself, refuse included
// (which makes the admin endpoint unreachable too, so it needs one).
func TestOutageAdminEndpoint(t *testing.T) {
	s, base := serveForTest(t, Config{Submissions: 20})
	post := func(query string) (int, string) {
		resp, err := http.Post(base+"/_alsim/outage?"+query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, bad := range []string{"mode=html503", "mode=refuse", "mode=html502&for=soon", "mode=html502&for=-1s"} {
		if st, body := post(bad); st != 400 {
			t.Errorf("POST ?%s = %d %s, want 400", bad, st, body)
		}
	}
	if st, body := post("mode=html404&for=300ms"); st != 200 || !strings.Contains(body, `"mode":"html404"`) {
		t.Fatalf("POST html404 = %d %s", st, body)
	}
	if st, _, _, _ := apiCall(t, base, s); st != 404 {
		t.Errorf("during html404: %d", st)
	}
	resp, err := http.Get(base + "/_alsim/outage")
	if err != nil {
		t.Fatal(err)
	}
	var got OutageStatus
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.Mode != OutageHTML404 || got.Until.IsZero() || got.Answered != 1 {
		t.Errorf("GET /_alsim/outage = %+v", got)
	}
	testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { st, _, _, err := apiCall(t, base, s); return err == nil && st == 200 })

	if st, body := post("mode=refuse&for=300ms"); st != 200 {
		t.Fatalf("POST refuse = %d %s", st, body)
	}
	if _, _, _, err := apiCall(t, base, s); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("during refuse: err = %v, want connection refused", err)
	}
	testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { st, _, _, err := apiCall(t, base, s); return err == nil && st == 200 })
	if st, _ := post("mode=off"); st != 200 {
		t.Errorf("POST off = %d", st)
	}
}

// TestOutageScheduledByConfig: the -outage flags' schedule begins after
// After and ends after For.
func TestOutageScheduledByConfig(t *testing.T) {
	s, base := serveForTest(t, Config{Submissions: 20, Outage: Outage{Mode: OutageHTML502, After: 50 * time.Millisecond, For: 300 * time.Millisecond}})
	testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { st, _, _, _ := apiCall(t, base, s); return st == 502 })
	testenv.Eventually(t, 5*time.Second, "alsim to answer as the outage mode says", func() bool { st, _, _, _ := apiCall(t, base, s); return st == 200 })
	if err := (Config{Outage: Outage{Mode: "down"}}).Validate(); err == nil {
		t.Error("an unknown outage mode was accepted")
	}
}
