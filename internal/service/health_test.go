package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// readyz is one answer of /readyz.
type readyz struct {
	status   int
	Ready    bool     `json:"ready"`
	Problems []string `json:"problems"`
}

func getReadyz(t *testing.T, url string) readyz {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := readyz{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return r
}

// matches reports whether the answer says exactly what want says: ready
// with no problems when want is empty, else unready with one problem
// containing each of want, and no other.
func (r readyz) matches(want []string) bool {
	if len(want) == 0 {
		return r.status == http.StatusOK && r.Ready && len(r.Problems) == 0
	}
	if r.status != http.StatusServiceUnavailable || r.Ready || len(r.Problems) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, w) }) {
			return false
		}
	}
	return true
}

// TestProbesFollowTheProcess walks a scorer through the states readiness
// must tell apart, with a real NATS server, a real worker, and an
// Assemblyline that starts refusing its credentials.
func TestProbesFollowTheProcess(t *testing.T) {
	srv := natstest.Start(t)
	var alStatus atomic.Int32
	alStatus.Store(http.StatusNotFound)
	al := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		code := int(alStatus.Load())
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"api_response":null,"api_error_message":"no"}`)
	}))
	t.Cleanup(al.Close)
	// A halted message is handed back after the grace period: keep it short.
	cfg := load(t, map[string]string{"AL_URL": al.URL, "AL_USER": "u", "AL_APIKEY": "k:pw", "NATS_URL": srv.URL, "SHUTDOWN_GRACE": "100ms"})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	w, err := env.Scorer(ctx, StageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	probes := httptest.NewServer(env.Health.handler(env.Metrics.Registry, false))
	t.Cleanup(probes.Close)

	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	t.Cleanup(func() {
		stopRun()
		select {
		case <-ran:
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop")
		}
	})

	steps := []struct {
		name string
		do   func(t *testing.T)
		want []string // problems /readyz must report; none = ready
	}{
		{name: "connected and bound", do: func(*testing.T) {}},
		{
			name: "consumer deleted",
			do: func(t *testing.T) {
				if err := env.JS.DeleteConsumer(ctx, messages.StreamSIDs, messages.ConsumerScorer); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"scorer consumer not bound"},
		},
		{
			name: "consumer bound again",
			do: func(t *testing.T) {
				if w, err = env.Scorer(ctx, StageOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "assemblyline refuses the credentials: the stage halts",
			do: func(t *testing.T) {
				alStatus.Store(http.StatusUnauthorized)
				go func() { ran <- w.Run(runCtx) }()
				m, err := messages.NewSIDMsg("4RlWbxGm2xYA1", "test")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := env.JS.PublishMsg(ctx, m); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"scorer halted", "assemblyline refuses our calls: auth (HTTP 401)"},
		},
		{
			name: "NATS gone",
			do:   func(*testing.T) { srv.Shutdown() },
			want: []string{"not connected to NATS", "scorer halted", "assemblyline refuses our calls"},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			var got readyz
			testenv.Eventually(t, 20*time.Second, "/readyz to say "+fmt.Sprint(st.want), func() bool {
				got = getReadyz(t, probes.URL)
				return got.matches(st.want)
			})
			if !got.matches(st.want) {
				t.Fatalf("/readyz: %d %+v, want problems %q", got.status, got, st.want)
			}
			// Liveness does not depend on any of it.
			resp, err := http.Get(probes.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
				t.Errorf("/healthz: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// TestAssemblylineCallsDecideReadiness: only an unreachable or refusing
// Assemblyline makes the process unready, and the next good call clears it.
func TestAssemblylineCallsDecideReadiness(t *testing.T) {
	transport := failure.Wrap(failure.Unavailable, errors.New("connection refused"))
	tests := []struct {
		name string
		call assemblyline.Call
		want string // "" = no problem
	}{
		{"success", assemblyline.Call{Status: 200}, ""},
		{"no answer", assemblyline.Call{Err: transport}, "assemblyline unreachable: unavailable"},
		{"server error", assemblyline.Call{Status: 502, Err: failure.Wrap(failure.Unavailable, errors.New("bad gateway"))}, "assemblyline unreachable"},
		{"bad credentials", assemblyline.Call{Status: 401, Err: failure.Wrap(failure.Auth, errors.New("unauthorized"))}, "assemblyline refuses our calls: auth (HTTP 401)"},
		{"forbidden", assemblyline.Call{Status: 403, Err: failure.Wrap(failure.Forbidden, errors.New("forbidden"))}, "assemblyline refuses our calls: forbidden (HTTP 403)"},
		{"daily quota", assemblyline.Call{Status: 503, Err: failure.Wrap(failure.QuotaDaily, errors.New("daily quota"))}, "assemblyline refuses our calls: quota_daily (HTTP 503)"},
		// The concurrent-call quota is ordinary back-pressure.
		{"concurrent quota", assemblyline.Call{Status: 503, QuotaRejected: true, Err: failure.Wrap(failure.QuotaConcurrent, errors.New("busy"))}, ""},
		// A missing submission says nothing about Assemblyline's health.
		{"not found", assemblyline.Call{Status: 404, Err: failure.Wrap(failure.NotFound, errors.New("gone"))}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHealth()
			h.alCall(tc.call)
			got := strings.Join(alProblems(h), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("after %+v: problems %q, want %q", tc.call, got, tc.want)
			}
			h.alCall(assemblyline.Call{Status: 200})
			if got := alProblems(h); len(got) != 0 {
				t.Errorf("a good call after it left %q", got)
			}
		})
	}
}

// alProblems is Check's verdict less the NATS connection, which h lacks.
func alProblems(h *Health) []string {
	var out []string
	for _, p := range h.Check(context.Background()) {
		if p != "not connected to NATS" {
			out = append(out, p)
		}
	}
	return out
}

// TestServeTelemetry: one call serves metrics and probes on HTTP_ADDR and
// fills the queue gauges; stop takes both down.
func TestServeTelemetry(t *testing.T) {
	srv := natstest.Start(t)
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cfg := load(t, map[string]string{"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "k:pw", "NATS_URL": srv.URL, "HTTP_ADDR": addr})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	stop := env.ServeTelemetry(ctx)
	// The server and the gauges outlive the context they were started with.
	cancel()

	gauge := `alharvest_stream_messages{stream="` + messages.StreamSIDs + `"} 0`
	var metrics string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !strings.Contains(metrics, gauge); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue // not listening yet
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		metrics = string(b)
	}
	if !strings.Contains(metrics, gauge) {
		t.Fatalf("/metrics never showed %s:\n%s", gauge, metrics)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	stop()
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("still serving after stop")
	}
}

// TestTelemetryServerBoundsItsClients: HTTP_ADDR's server is bounded in
// every way (connections, header, body, answer, idle keep-alive), leaves
// room for pprof's 30 s profile when that is on, and serveHTTP applies
// what it is given: a silent connection and a silent keep-alive are cut
// off, and connections beyond the cap wait.
func TestTelemetryServerBoundsItsClients(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		l := telemetryLimits(pprof)
		if l.MaxConns <= 0 || l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxHeaderBytes <= 0 {
			t.Errorf("pprof %t: limits leave something unbounded: %+v", pprof, l)
		}
		if pprof && l.WriteTimeout <= 30*time.Second {
			t.Errorf("with pprof on, a write timeout of %s cuts its default 30 s profile", l.WriteTimeout)
		}
	}

	limits := telemetryLimits(false)
	limits.MaxConns = 2
	// Long enough that the two silent connections still hold their
	// slots when the probe below is checked, even on a loaded machine.
	limits.ReadHeaderTimeout = time.Second
	limits.IdleTimeout = time.Second
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(ctx, addr, newHealth().handler(prometheus.NewRegistry(), false), limits, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var first net.Conn
	testenv.Eventually(t, 10*time.Second, "listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			first = c
		}
		return err == nil
	})
	if first == nil {
		t.FailNow()
	}
	defer first.Close()
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	// Both slots are held by silent connections: a probe waits...
	probe := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/healthz")
		if err != nil {
			probe <- 0
			return
		}
		resp.Body.Close()
		probe <- resp.StatusCode
	}()
	select {
	case code := <-probe:
		t.Errorf("a request beyond the cap of 2 was answered at once (%d)", code)
	case <-time.After(100 * time.Millisecond):
	}
	// ...until the header timeout cuts them off.
	for _, c := range []net.Conn{first, second} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Errorf("a silent connection was not closed by the server: %v", err)
		}
	}
	if code := <-probe; code != http.StatusOK {
		t.Errorf("the waiting probe got %d, want 200", code)
	}
}
