package harvest_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
)

// TestFollowCollectsPushedLateArrivals is the real-time acceptance test of
// the one-command run: alsim plays Assemblyline's post-process webhook for
// submissions completing during the run.
//   - With SEARCH_INTERVAL=1h, every late file arrives within seconds of
//     its completion, from the push, with only the first sweep run.
//   - With half the pushes dropped and a short interval, the sweeps collect
//     the rest; every matching SID is queued exactly once (by the push or by
//     a sweep) and every file downloaded once.
func TestFollowCollectsPushedLateArrivals(t *testing.T) {
	tests := []struct {
		name     string
		interval string
		drop     float64
	}{
		{"push only, sweep every hour", "1h", 0},
		{"half the pushes dropped, sweep every 2s", "2s", 0.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const late, window = 16, 4 * time.Second
			sim, url := alsimtest.Serve(t, alsim.Config{Seed: 11, Submissions: 200, LateArrivals: late, ArrivalWindow: window})
			out, data := t.TempDir(), t.TempDir()
			passFile := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(passFile, []byte("hook-secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			hookAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			metricsAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			env := baseEnv(url, out, data)
			for k, v := range map[string]string{"SEARCH_INTERVAL": tt.interval, "WEBHOOK_ADDR": hookAddr,
				"WEBHOOK_USER": "assemblyline", "WEBHOOK_PASSWORD_FILE": passFile, "HTTP_ADDR": metricsAddr} {
				env[k] = v
			}
			cfg := loadConfig(t, env)
			log, logs := testLogger(t)

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Logger: log})
				done <- err
			}()
			waitListening(t, hookAddr)

			p, err := sim.NewPusher(alsim.WebhookConfig{URL: "http://" + hookAddr + "/webhooks/assemblyline",
				User: "assemblyline", Password: "hook-secret", MinScore: 7000, Drop: tt.drop}, nil)
			if err != nil {
				t.Fatal(err)
			}
			pushed := make(chan struct{})
			go func() { p.Run(ctx); close(pushed) }()

			want := sim.Expected(7000)
			lastArrival := alsimtest.LastArrival(sim, 7000)
			testenv.Eventually(t, time.Minute, "every expected file", func() bool { return countCarts(out) >= len(want) })
			collectedAt := time.Now()
			<-pushed
			alsimtest.CheckCollected(t, out, want)
			if t.Failed() {
				t.Logf("logs:\n%s", logs.String())
				t.FailNow()
			}
			st := p.Stats()
			matching, normal := alsimtest.Matching(sim.Corpus(), 7000)
			// A submission whose files all came from others may still be
			// in the queue: wait for every SID to be scored.
			var m map[string]float64
			testenv.Eventually(t, 30*time.Second, "every matching SID scored", func() bool {
				m = scrape(t, metricsAddr)
				return int(m[`alharvest_scorer_submissions_scored_total`]) >= matching
			})
			webhook, sweep := m[`alharvest_sids_found_total{source="webhook"}`], m[`alharvest_sids_found_total{source="sweep"}`]
			if int(webhook+sweep) != matching {
				t.Errorf("SIDs queued: %v by the webhook + %v by sweeps, want exactly the %d matching submissions", webhook, sweep, matching)
			}
			if n := m[`alharvest_files_collected_total{result="new"}`]; int(n) != len(want) {
				t.Errorf("%v files downloaded, want each of the %d once", n, len(want))
			}
			if n := m[`alharvest_scorer_submissions_scored_total`]; int(n) != matching {
				t.Errorf("%v submissions scored, want each of the %d once", n, matching)
			}
			if tt.drop == 0 {
				if n := m[`alharvest_search_sweeps_total{result="ok"}`]; n != 1 {
					t.Errorf("%v sweeps ran, want only the first", n)
				}
				if webhook == 0 || st.Delivered != st.Due || st.Due == 0 {
					t.Errorf("webhook queued %v SIDs; pusher %+v", webhook, st)
				}
				// A loose bound: the machine is shared; albench measures
				// the real figure (docs/realtime.md).
				if lag := collectedAt.Sub(lastArrival); lag > 30*time.Second {
					t.Errorf("last file collected %v after the last completion", lag)
				}
			} else {
				if st.Dropped == 0 || int(sweep) < normal+int(st.Dropped) {
					t.Errorf("sweeps queued %v SIDs, want at least the %d complete at start + the %d dropped pushes", sweep, normal, st.Dropped)
				}
				if n := m[`alharvest_search_sweeps_total{result="ok"}`]; n < 2 {
					t.Errorf("%v sweeps ran; the dropped pushes need a later one", n)
				}
			}
			if !strings.Contains(logs.String(), `"missed_by_push"`) {
				t.Error("no sweep logged how many SIDs the push had missed")
			}
			if strings.Contains(logs.String(), "hook-secret") {
				t.Error("the webhook password reached the logs")
			}
			cancel()
			if err := <-done; err != nil && ctx.Err() == nil {
				t.Errorf("run: %v", err)
			}
		})
	}
}

func countCarts(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".cart") {
			n++
		}
	}
	return n
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	if !testenv.Eventually(t, 30*time.Second, "something to listen on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.FailNow()
	}
}

// scrape reads the Prometheus metrics of an HTTP_ADDR, series -> value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	m, err := metrics.Scrape("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return m
}
