package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
)

// TestSeparateSearcherReceivesWebhooks is the real-time acceptance test of
// the multi-process deployment: a `searcher` service with WEBHOOK_ADDR, a
// scorer and a downloader over nats-server, while alsim pushes the
// submissions completing during the run like Assemblyline's post-process
// action.
//   - SEARCH_INTERVAL=1h: every late file is collected within seconds, from
//     the push alone (one sweep).
//   - A fifth of the pushes dropped, SEARCH_INTERVAL=2s: the sweeps collect
//     the rest; each matching SID is queued once and each file downloaded once.
func TestSeparateSearcherReceivesWebhooks(t *testing.T) {
	tests := []struct {
		name     string
		interval string
		drop     float64
	}{
		{"push only, sweep every hour", "1h", 0},
		{"a fifth of the pushes dropped, sweep every 2s", "2s", 0.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokenFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokenFile, []byte("e2e-hook-token"), 0o600); err != nil {
				t.Fatal(err)
			}
			hookAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			addrs := map[string]string{}
			for _, n := range []string{"searcher", "scorer", "downloader"} {
				addrs[n] = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
			}
			s := newStack(t, alsim.Config{Seed: 21, Submissions: 200, LateArrivals: 20, ArrivalWindow: 5 * time.Second},
				"SEARCH_INTERVAL="+tt.interval, "WEBHOOK_TOKEN_FILE="+tokenFile)
			want := s.sim.Expected(7000)

			// HTTP_ADDR and WEBHOOK_ADDR differ per process: set them on
			// each process's own command line.
			s.start("scorer", "--http-addr", addrs["scorer"])
			s.start("downloader", "--http-addr", addrs["downloader"])
			searcher := s.start("searcher", "--http-addr", addrs["searcher"], "--webhook-addr", hookAddr)
			waitTCP(t, hookAddr, searcher)

			p, err := s.sim.NewPusher(alsim.WebhookConfig{URL: "http://" + hookAddr + "/webhooks/assemblyline",
				Headers: []string{"Authorization: Bearer e2e-hook-token"}, MinScore: 7000, Drop: tt.drop}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pushed := make(chan struct{})
			go func() { p.Run(ctx); close(pushed) }()

			last := alsimtest.LastArrival(s.sim, 7000)
			if !testenv.Eventually(t, time.Minute, "every expected file", func() bool { return s.countOutput() >= len(want) }) {
				return
			}
			collectedAt := time.Now()
			<-pushed
			s.checkOutput(want)

			matching, normal := alsimtest.Matching(s.sim.Corpus(), 7000)
			var sm, sc, dm map[string]float64
			testenv.Eventually(t, 30*time.Second, "every matching SID scored", func() bool {
				sc = scrape(t, addrs["scorer"])
				return int(sc["alharvest_scorer_submissions_scored_total"]) >= matching
			})
			sm, dm = scrape(t, addrs["searcher"]), scrape(t, addrs["downloader"])
			st := p.Stats()
			webhook, sweep := sm[`alharvest_sids_found_total{source="webhook"}`], sm[`alharvest_sids_found_total{source="sweep"}`]
			if int(webhook+sweep) != matching {
				t.Errorf("SIDs queued: %v by the webhook + %v by sweeps, want exactly the %d matching submissions", webhook, sweep, matching)
			}
			if n := sc["alharvest_scorer_submissions_scored_total"]; int(n) != matching {
				t.Errorf("%v submissions scored, want each of the %d once", n, matching)
			}
			if n := dm[`alharvest_files_collected_total{result="new"}`]; int(n) != len(want) {
				t.Errorf("%v files downloaded, want each of the %d once", n, len(want))
			}
			if tt.drop == 0 {
				if n := sm[`alharvest_search_sweeps_total{result="ok"}`]; n != 1 {
					t.Errorf("%v sweeps ran, want only the first", n)
				}
				if webhook == 0 || st.Delivered != st.Due {
					t.Errorf("webhook queued %v SIDs; pusher %+v", webhook, st)
				}
				// A loose bound: the machine is shared; albench measures
				// the real figure (docs/realtime.md).
				if lag := collectedAt.Sub(last); lag > 30*time.Second {
					t.Errorf("last file collected %v after the last completion", lag)
				}
			} else if st.Dropped == 0 || int(sweep) < normal+int(st.Dropped) {
				t.Errorf("sweeps queued %v SIDs, want at least the %d complete at start + the %d dropped pushes", sweep, normal, st.Dropped)
			}
			if n := s.grepLogs(`"missed_by_push"`); n == 0 {
				t.Error("no sweep logged how many SIDs the push had missed")
			}
			if n := s.grepLogs("e2e-hook-token"); n != 0 {
				t.Errorf("the webhook token appears in %d log lines", n)
			}
			if dl := s.deadLetters(); len(dl) != 0 {
				t.Errorf("%d dead letters, first: %+v", len(dl), dl[0])
			}
		})
	}
}

func waitTCP(t *testing.T, addr string, p *proc) {
	t.Helper()
	if !testenv.Eventually(t, time.Minute, p.name+" to listen on "+addr, func() bool {
		if !p.running() {
			t.Fatalf("%s exited: %v", p.name, p.err)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.FailNow()
	}
}

// scrape reads a process's Prometheus metrics, series -> value.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	m, err := metrics.Scrape("http://" + addr + "/metrics")
	if err != nil {
		t.Errorf("metrics of %s: %v", addr, err)
	}
	return m
}
