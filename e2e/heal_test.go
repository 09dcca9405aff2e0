package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// healEnv runs the searcher as a service whose next regular sweep is far
// away: only its loss check can start the sweep that heals a lost queue.
var healEnv = append(append([]string(nil), crashEnv...), "SEARCH_INTERVAL=1h", "SEARCH_OVERLAP=1m")

// TestStateLossHeals loses alharvest's state mid-run, with two scorers, a
// downloader and the searcher running as separate processes: (a) an
// operator deletes the bucket ALHARVEST_STATE (the quota record, the
// searcher's watermark and the seal key with it); (b) nats-server is
// killed and started again on the same port with an empty store (every
// stream, consumer and queued message gone). Nobody restarts a stage: they
// re-create the layout themselves, the searcher sweeps again in full, the
// result is exactly the expected set, files already on disk are not
// fetched again, and nothing is dead-lettered.
func TestStateLossHeals(t *testing.T) {
	for _, loss := range []string{"bucket", "store"} {
		t.Run(loss, func(t *testing.T) {
			s := newStack(t, alsim.Config{
				Seed: 11, Submissions: 400,
				FullLatency: 60 * time.Millisecond, DownloadLatency: 60 * time.Millisecond,
			}, healEnv...)
			want := s.sim.Expected(7000)
			s.start("searcher")
			s.start("scorer")
			s.start("scorer")
			s.start("downloader")

			testenv.Eventually(t, time.Minute, "some files collected", func() bool { return s.countOutput() > len(want)/5 })
			before := s.countOutput()
			if before >= len(want) {
				t.Fatalf("the run finished (%d files) before the loss; slow alsim down", before)
			}
			lost := time.Now()
			switch loss {
			case "bucket":
				if err := s.js.DeleteKeyValue(context.Background(), messages.BucketState); err != nil {
					t.Fatal(err)
				}
			case "store":
				s.nats.Kill()
				if err := os.RemoveAll(s.nats.Dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(s.nats.Dir, 0o755); err != nil {
					t.Fatal(err)
				}
				s.nats.Start()
			}
			at := s.countOutput()
			if !testenv.Eventually(t, time.Minute, "a new file after the loss", func() bool { return s.countOutput() > at }) {
				return
			}
			t.Logf("loss of the %s with %d of %d files collected: first new file %s later",
				loss, at, len(want), time.Since(lost).Round(10*time.Millisecond))

			if !testenv.Eventually(t, 3*time.Minute, "every expected file", func() bool { return s.countOutput() >= len(want) }) {
				return
			}
			t.Logf("loss of the %s: every file collected %s after it", loss, time.Since(lost).Round(100*time.Millisecond))
			// The watermark went with the state: the searcher's next
			// sweep, started by its loss check, is a full one (the first
			// sweep was full too).
			if !testenv.Eventually(t, time.Minute, "a second full sweep", func() bool {
				return s.grepLogs(`"since":"0001-01-01T00:00:00Z"`) >= 2
			}) {
				return
			}
			t.Logf("loss of the %s: second full sweep done %s after it", loss, time.Since(lost).Round(100*time.Millisecond))
			if !s.waitDrained(2*time.Minute, nil) {
				return
			}
			s.checkOutput(want)
			if dl := s.deadLetters(); len(dl) != 0 {
				t.Errorf("%d dead letters, first: %s %s", len(dl), dl[0].Payload, dl[0].Reason)
			}
			// Files on disk are not fetched again: only those in flight
			// at the loss (at most the downloader's concurrency, 16) may
			// be fetched twice.
			downloads := s.sim.Stats().Calls["download"]["200"]
			t.Logf("downloads: %d for %d files", downloads, len(want))
			if downloads > int64(len(want))+16 {
				t.Errorf("%d downloads for %d files: files on disk were fetched again", downloads, len(want))
			}
			if loss == "bucket" && s.grepLogs("falling back to a local share") != 0 {
				t.Error("a process fell back to a share of the last known budget while NATS answered")
			}
			if s.grepLogs("re-created missing parts of the NATS layout") == 0 {
				t.Error("no stage logged re-creating the layout")
			}
		})
	}
}
