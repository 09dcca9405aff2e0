package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/connlimit"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
)

// Health answers /healthz and /readyz. Ready means: connected to NATS,
// every consumer of the process bound, no stage halted, paused or stalled,
// and Assemblyline reachable and accepting our credentials as far as the
// latest calls tell.
//
// Stalled covers whatever nothing else foresaw: a stage with work waiting
// (undelivered on its consumer, or in its hands) that has settled no
// message for stallAfter (STALL_AFTER). The reason names the cause when it
// is one we can see (a consumer paused by an operator, a call budget of 0).
type Health struct {
	nc *nats.Conn
	// stallAfter is STALL_AFTER; zero never reports a stall.
	stallAfter time.Duration
	// slots, when set, is how many Assemblyline calls the process may make
	// at once now (the shared budget's share).
	slots func() int
	// stalled, when set, is told each stage's verdict (a gauge).
	stalled func(stage string, stalled bool)

	mu        sync.Mutex
	consumers map[string]consumerProbe
	alErr     error     // latest call's failure, if it says AL is unreachable or refusing us
	alAt      time.Time // time of the latest call
}

type consumerProbe struct {
	cons   jetstream.Consumer
	worker *worker.Worker
}

func newHealth() *Health { return &Health{consumers: map[string]consumerProbe{}} }

func (h *Health) addConsumer(stage string, c jetstream.Consumer, w *worker.Worker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consumers[stage] = consumerProbe{cons: c, worker: w}
}

// rebound replaces the consumer probed for stage after the worker
// re-created it.
func (h *Health) rebound(stage string, c jetstream.Consumer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.consumers[stage]; ok {
		p.cons = c
		h.consumers[stage] = p
	}
}

// alCall records what the latest Assemblyline call says about reachability:
// a transport failure, a 5xx, or a refusal of our credentials make the
// process unready until a later call succeeds.
func (h *Health) alCall(c assemblyline.Call) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alAt = time.Now()
	switch k := failure.KindOf(c.Err); {
	case c.Err == nil, c.QuotaRejected:
		h.alErr = nil
	case k == failure.Auth, k == failure.Forbidden, k == failure.QuotaDaily:
		h.alErr = fmt.Errorf("assemblyline refuses our calls: %s (HTTP %d)", k, c.Status)
	case c.Status == 0 || c.Status >= 500:
		h.alErr = fmt.Errorf("assemblyline unreachable: %s", k)
	default:
		h.alErr = nil
	}
}

// Check returns the reasons the process is not ready, or nil.
func (h *Health) Check(ctx context.Context) []string {
	var problems []string
	if h.nc == nil || !h.nc.IsConnected() {
		problems = append(problems, "not connected to NATS")
	}
	h.mu.Lock()
	consumers := make(map[string]consumerProbe, len(h.consumers))
	for k, v := range h.consumers {
		consumers[k] = v
	}
	alErr := h.alErr
	h.mu.Unlock()
	if h.nc != nil && h.nc.IsConnected() {
		for stage, c := range consumers {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			info, err := c.cons.Info(cctx)
			cancel()
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s consumer not bound: %v", stage, err))
				continue
			}
			why := h.stall(info, c.worker, time.Now())
			if why != "" {
				problems = append(problems, stage+" "+why)
			}
			if h.stalled != nil {
				h.stalled(stage, why != "")
			}
		}
	}
	for stage, c := range consumers {
		if r := c.worker.HaltReason(); r != "" {
			problems = append(problems, stage+" "+r)
		}
	}
	if alErr != nil {
		problems = append(problems, alErr.Error())
	}
	return problems
}

// stall says why a stage with consumer info and worker w is stalled at
// now, or "" when it is not. A halted or paused stage is not: Check says
// so already, with its own reason.
func (h *Health) stall(info *jetstream.ConsumerInfo, w *worker.Worker, now time.Time) string {
	if h.stallAfter <= 0 || w.Halted() {
		return ""
	}
	last, inHand := w.Activity()
	idle := now.Sub(last).Round(time.Second)
	if now.Sub(last) < h.stallAfter || (info.NumPending == 0 && inHand == 0) {
		return ""
	}
	switch {
	case info.Paused:
		return fmt.Sprintf("stalled: its consumer %s is paused for %s more (nats consumer resume %s %s ends that); nothing settled for %s while %d messages wait",
			info.Name, info.PauseRemaining.Round(time.Second), info.Stream, info.Name, idle, info.NumPending)
	case h.slots != nil && h.slots() == 0:
		return fmt.Sprintf("stalled: this process may make no Assemblyline call (its share of the shared quota budget is 0); nothing settled for %s while %d messages wait and %d are in hand",
			idle, info.NumPending, inHand)
	default:
		return fmt.Sprintf("stalled: nothing settled for %s (STALL_AFTER %s) while %d messages wait and %d are in hand",
			idle, h.stallAfter, info.NumPending, inHand)
	}
}

// handler serves /metrics from reg, /healthz (the process is alive: always
// ok), /readyz (Check's verdict, 503 with the reasons when not ready) and,
// with pprof, Go's profiles under /debug/pprof/.
func (h *Health) handler(reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		problems := h.Check(r.Context())
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusOK
		if len(problems) > 0 {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": len(problems) == 0, "problems": problems})
	})
	return mux
}

// telemetryLimits bound the clients of HTTP_ADDR: Prometheus, a
// healthcheck, an operator's curl. Each request is answered in
// milliseconds, so 32 connections are plenty, and a silent or slow one is
// cut off within seconds. pprof's CPU profile streams for 30 s by default:
// with it on, answers may take longer.
func telemetryLimits(pprof bool) connlimit.Limits {
	l := connlimit.Limits{
		MaxConns:          32,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if pprof {
		l.WriteTimeout = 2 * time.Minute
	}
	return l
}

// serveHTTP serves handler on addr, its clients bounded by limits, until
// ctx ends. An empty addr disables it.
func serveHTTP(ctx context.Context, addr string, handler http.Handler, limits connlimit.Limits, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("serving metrics and probes", "addr", ln.Addr().String(), "max_conns", limits.MaxConns)
	ln = limits.Apply(srv, ln)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
