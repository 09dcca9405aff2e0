package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/bench"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestAssemblylineOutagesPauseTheStages is the outage acceptance scenario:
// while work is in flight, Assemblyline is replaced by a proxy's 502 pages,
// then by an ingress's 404 pages, then refuses connections, 30 s each, on a
// retry schedule that would dead-letter everything in a few seconds
// (attempts 200 ms doubling to 1 s, 5 of them, one in-process retry per
// call). The stages must pause and resume by themselves: afterwards the
// output is exactly the expected set and the DLQ holds only the files alsim
// can never serve.
func TestAssemblylineOutagesPauseTheStages(t *testing.T) {
	const phase = 30 * time.Second
	// Slow enough that work is still queued when the last outage starts.
	s := newStack(t, alsim.Config{Seed: 23, Submissions: 400, FullLatency: 150 * time.Millisecond,
		DownloadLatency: 150 * time.Millisecond, Faults: alsim.Faults{Seed: 5, MissingBlobs: 2, AlwaysCorrupt: 1}},
		"SCORER_RETRY_MIN=200ms", "SCORER_RETRY_MAX=1s", "DOWNLOADER_RETRY_MIN=200ms", "DOWNLOADER_RETRY_MAX=1s",
		"SCORER_MAX_ATTEMPTS=5", "DOWNLOADER_MAX_ATTEMPTS=5", "AL_MAX_RETRIES=1",
		"SCORER_CONCURRENCY=2", "DOWNLOADER_CONCURRENCY=2", "LOG_LEVEL=info")
	want := s.sim.Expected(7000)
	doomed := s.sim.Uncollectable(7000)
	if len(doomed) != 3 {
		t.Fatalf("alsim reports %d uncollectable files, want 3", len(doomed))
	}

	searcher := s.start("searcher", "--once")
	s.start("scorer")
	s.start("downloader")
	began := time.Now()
	// The searcher's sweep is not what this test is about: let it finish,
	// and the first files arrive, before Assemblyline goes away.
	if !testenv.Eventually(t, time.Minute, "searcher done and first files collected", func() bool {
		return !searcher.running() && s.countOutput() > 0
	}) {
		return
	}
	if searcher.err != nil {
		t.Fatalf("searcher: %v", searcher.err)
	}
	for _, mode := range []alsim.OutageMode{alsim.OutageHTML502, alsim.OutageHTML404, alsim.OutageRefuse} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		drained := bench.Drained(ctx, s.js)
		cancel()
		if drained {
			t.Fatalf("queues drained before the %s outage; the scenario needs work in flight", mode)
		}
		collected := s.countOutput()
		if err := s.sim.SetOutage(mode, phase); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s outage for %s at %s, %d files collected", mode, phase, time.Since(began).Round(time.Second), collected)
		time.Sleep(phase)
		// A few seconds of Assemblyline back between outages: the stages
		// must have resumed, and pause again.
		if !testenv.Eventually(t, 20*time.Second, "collecting again after the "+string(mode)+" outage", func() bool {
			return s.countOutput() > collected
		}) {
			return
		}
		t.Logf("resumed after %s: %d files collected at %s", mode, s.countOutput(), time.Since(began).Round(time.Second))
	}
	if !s.waitDrained(3*time.Minute, nil) {
		return
	}
	t.Logf("drained in %s", time.Since(began).Round(time.Millisecond))
	s.checkOutput(want)

	var got []string
	for _, l := range s.deadLetters() {
		f, err := messages.DecodeFile(l.Data)
		if err != nil || l.Stage != messages.StageDownloader {
			t.Errorf("unexpected dead letter: stage %s payload %s reason %s", l.Stage, l.Payload, l.Reason)
			continue
		}
		got = append(got, f.SHA256)
	}
	slices.Sort(got)
	if !slices.Equal(got, doomed) {
		t.Errorf("dead-lettered %v, want only the uncollectable %v", got, doomed)
	}
	paused, resumed := s.grepLogs("stage paused"), s.grepLogs("stage resumed")
	t.Logf("pauses logged %d, resumes logged %d; alsim answered %d calls with outage pages", paused, resumed, s.sim.Outage().Answered)
	if paused < 3 || resumed < 3 {
		t.Errorf("%d pauses and %d resumes logged; want at least one per outage", paused, resumed)
	}
}
