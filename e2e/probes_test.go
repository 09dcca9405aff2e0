package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
)

// TestProbesAndMetrics checks each service's HTTP_ADDR during a run:
// /healthz alive, /readyz ready, /metrics with the pipeline's metrics; then
// /readyz turns unready while NATS is away and ready again once it is back.
func TestProbesAndMetrics(t *testing.T) {
	s := newStack(t, alsim.Config{Seed: 8, Submissions: 200, DownloadLatency: 5 * time.Millisecond}, "LOG_LEVEL=info")
	addrs := map[string]string{}
	for _, name := range []string{"scorer", "downloader", "searcher"} {
		addrs[name] = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	}
	env := s.env
	start := func(name string, args ...string) *proc {
		s.env = append(env, "HTTP_ADDR="+addrs[name])
		defer func() { s.env = env }()
		return s.start(name, args...)
	}
	start("scorer")
	start("downloader")
	start("searcher") // service mode: it keeps serving probes
	if !s.waitDrained(time.Minute, nil) || s.countOutput() != len(s.sim.Expected(7000)) {
		testenv.Eventually(t, 30*time.Second, "all files collected", func() bool { return s.countOutput() == len(s.sim.Expected(7000)) })
	}

	wantMetrics := map[string][]string{
		"scorer": {`alharvest_messages_settled_total{kind="",outcome="acked",stage="scorer"}`, "alharvest_scorer_submissions_scored_total",
			`alharvest_al_requests_total{code="200",endpoint="submission_full"}`, "alharvest_al_request_duration_seconds_bucket",
			`alharvest_consumer_pending_messages{consumer="scorer"}`, "alharvest_build_info", "process_resident_memory_bytes"},
		"downloader": {`alharvest_files_collected_total{result="new"}`, "alharvest_download_bytes_total", "alharvest_cart_verify_failures_total",
			`alharvest_al_requests_total{code="200",endpoint="download"}`, "alharvest_al_concurrency_limit"},
		"searcher": {"alharvest_search_pages_total", "alharvest_search_sids_found_total", `alharvest_search_sweeps_total{result="ok"}`,
			"alharvest_search_watermark_timestamp_seconds"},
	}
	for name, addr := range addrs {
		if code, body := get(t, "http://"+addr+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("%s /healthz: %d %q", name, code, body)
		}
		testenv.Eventually(t, 10*time.Second, name+" ready", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
		var metrics string
		for _, m := range wantMetrics[name] {
			// Queue gauges are polled every few seconds.
			testenv.Eventually(t, 10*time.Second, name+" /metrics with "+m, func() bool {
				_, metrics = get(t, "http://"+addr+"/metrics")
				return strings.Contains(metrics, m)
			})
		}
		for _, banned := range []string{s.sim.Corpus().Submission(0).SID, alsim.DefaultAPIKey, "devpassword"} {
			if strings.Contains(metrics, banned) {
				t.Errorf("%s /metrics contains %q: labels must be bounded and secrets absent", name, banned)
			}
		}
	}

	// NATS goes away: every service says it is not ready, and why; it comes
	// back: they are ready again without a restart.
	s.nats.Stop()
	for name, addr := range addrs {
		testenv.Eventually(t, 20*time.Second, name+" unready without NATS", func() bool {
			code, body := get(t, "http://"+addr+"/readyz")
			return code == http.StatusServiceUnavailable && strings.Contains(body, "not connected to NATS")
		})
		if code, _ := get(t, "http://"+addr+"/healthz"); code != 200 {
			t.Errorf("%s /healthz %d while NATS is down: alive is not ready", name, code)
		}
	}
	s.nats.Start()
	for name, addr := range addrs {
		testenv.Eventually(t, 30*time.Second, name+" ready again", func() bool { code, _ := get(t, "http://"+addr+"/readyz"); return code == 200 })
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
