package e2e

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
)

// crashEnv makes stages notice dead peers quickly and retry quickly.
var crashEnv = []string{
	"SCORER_ACK_WAIT=2s", "DOWNLOADER_ACK_WAIT=2s",
	"SCORER_RETRY_MIN=100ms", "SCORER_RETRY_MAX=1s",
	"DOWNLOADER_RETRY_MIN=100ms", "DOWNLOADER_RETRY_MAX=1s",
	"SEARCH_PAGE_SIZE=20", "LOG_LEVEL=info",
}

// TestKill9 SIGKILLs stage processes — the searcher mid-sweep, two scorers,
// three downloaders — at random moments and restarts them, while 1 000+
// submissions flow. The result must be exactly the expected set: no file
// missing, none extra, none corrupt, no temporary file left, nothing
// dead-lettered.
func TestKill9(t *testing.T) {
	subs, kills := 1000, 25
	if *long {
		subs, kills = 4000, 250
	}
	seed := time.Now().UnixNano()
	t.Logf("chaos seed %d, %d submissions, %d kills", seed, subs, kills)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))

	// Small, slow search pages make the sweep last seconds, so the searcher
	// too is killed mid-sweep, several times.
	s := newStack(t, alsim.Config{
		Seed: 21, Submissions: subs,
		SearchLatency: 100 * time.Millisecond, FullLatency: 15 * time.Millisecond,
		DownloadLatency: 15 * time.Millisecond, DownloadRate: 20 << 20,
	}, append(crashEnv, "SEARCH_PAGE_SIZE=10")...)
	want := s.sim.Expected(7000)

	searcher := s.start("searcher", "--once")
	stages := []*proc{
		s.start("scorer"), s.start("scorer"),
		s.start("downloader"), s.start("downloader"), s.start("downloader"),
	}

	killed := map[string]int{}
	searcherDone := false
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		// The searcher must eventually finish a sweep: restart it until it
		// exits 0, and kill it only while it runs.
		if !searcher.running() && !searcherDone {
			if searcher.err == nil {
				searcherDone = true
			} else {
				s.restart(searcher)
			}
		}
		victims := append([]*proc(nil), stages...)
		if searcher.running() {
			victims = append(victims, searcher, searcher) // weigh it: its sweep is short
		}
		v := victims[rng.IntN(len(victims))]
		if i == 0 {
			v = searcher // at least once, mid-sweep
		}
		v.kill()
		killed[v.name]++
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		s.restart(v)
	}
	t.Logf("killed: %v", killed)
	if killed["searcher"] == 0 {
		t.Error("the searcher was never killed mid-sweep")
	}
	// Let the searcher finish its sweep.
	for !searcherDone {
		<-searcher.done
		if searcher.err == nil {
			searcherDone = true
		} else {
			s.restart(searcher)
		}
	}
	if !s.waitDrained(3*time.Minute, nil) {
		return
	}
	s.checkOutput(want)
	if dl := s.deadLetters(); len(dl) != 0 {
		t.Errorf("%d dead letters, first: %s %s", len(dl), dl[0].Payload, dl[0].Reason)
	}
}

// TestNATSRestart stops the nats-server process mid-run and starts it again
// on the same file store, twice: once gracefully and once with SIGKILL.
// Stages reconnect by themselves; nothing is lost or written twice.
func TestNATSRestart(t *testing.T) {
	for _, mode := range []string{"sigterm", "sigkill"} {
		t.Run(mode, func(t *testing.T) {
			s := newStack(t, alsim.Config{
				Seed: 5, Submissions: 600,
				FullLatency: 20 * time.Millisecond, DownloadLatency: 20 * time.Millisecond,
			}, crashEnv...)
			want := s.sim.Expected(7000)
			searcher := s.start("searcher", "--once")
			s.start("scorer")
			s.start("downloader")
			s.start("downloader")

			testenv.Eventually(t, time.Minute, "some files collected", func() bool { return s.countOutput() > len(want)/5 })
			if mode == "sigkill" {
				s.nats.Kill()
			} else {
				s.nats.Stop()
			}
			time.Sleep(2 * time.Second)
			s.nats.Start()

			// The searcher may have died with NATS gone (it fails the sweep
			// loudly); a rerun completes it from the unchanged watermark.
			<-searcher.done
			if searcher.err != nil {
				t.Logf("searcher exited with %v during the outage; running it again", searcher.err)
				s.restart(searcher)
			}
			if !s.waitDrained(2*time.Minute, searcher) {
				return
			}
			if searcher.err != nil {
				t.Fatalf("searcher: %v", searcher.err)
			}
			s.checkOutput(want)
			if dl := s.deadLetters(); len(dl) != 0 {
				t.Errorf("%d dead letters, first: %s %s", len(dl), dl[0].Payload, dl[0].Reason)
			}
			if n := s.grepLogs("reconnected to NATS"); n == 0 {
				t.Error("no stage logged a reconnection")
			}
		})
	}
}

// TestGracefulShutdown sends SIGTERM to downloaders with downloads in
// flight. Work that fits in the grace period finishes; work that does not
// is handed back at once (not after the ack deadline) and collected by the
// replica that stays. Every process exits 0.
func TestGracefulShutdown(t *testing.T) {
	tests := []struct {
		name    string
		subs    int
		latency time.Duration
		grace   string
	}{
		{"in-flight work finishes within the grace period", 60, 700 * time.Millisecond, "SHUTDOWN_GRACE=5s"},
		{"work longer than the grace period is handed back", 20, 4 * time.Second, "SHUTDOWN_GRACE=1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, alsim.Config{Seed: 9, Submissions: tc.subs, DownloadLatency: tc.latency},
				"DOWNLOADER_ACK_WAIT=60s", tc.grace, "DOWNLOADER_CONCURRENCY=8", "LOG_LEVEL=info")
			want := s.sim.Expected(7000)
			searcher := s.start("searcher", "--once")
			s.start("scorer")
			leaving := s.start("downloader")
			testenv.Eventually(t, 30*time.Second, "downloads in flight", func() bool {
				st := s.sim.Stats()
				return st.InFlight >= 2
			})
			began := time.Now()
			exited, err := leaving.term(20 * time.Second)
			if !exited {
				t.Fatal("downloader did not exit after SIGTERM")
			}
			if err != nil {
				t.Errorf("downloader exit after SIGTERM: %v (want status 0)", err)
			}
			t.Logf("stopped in %s", time.Since(began).Round(time.Millisecond))

			// The replica that stays must get handed-back work well before
			// the 60 s ack deadline would have released it.
			s.start("downloader")
			if !s.waitDrained(40*time.Second, searcher) {
				return
			}
			s.checkOutput(want)
			if strings.Contains(tc.grace, "1s") && s.grepLogs("handing back in-flight messages") == 0 {
				t.Error("no hand-back logged although downloads outlast the grace period")
			}
		})
	}
}
