package e2e

import (
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// TestSeparateProcessesCollectExactlyTheExpectedSet deploys the pipeline as
// it runs in production: nats-server, `searcher --once`, and scorer and
// downloader services (two replicas each), then stops the services with
// SIGTERM.
func TestSeparateProcessesCollectExactlyTheExpectedSet(t *testing.T) {
	s := newStack(t, alsim.Config{Seed: 3, Submissions: 400})
	want := s.sim.Expected(7000)

	scorers := []*proc{s.start("scorer"), s.start("scorer")}
	downloaders := []*proc{s.start("downloader"), s.start("downloader")}
	searcher := s.start("searcher", "--once")

	if !s.waitDrained(2*time.Minute, searcher) {
		return
	}
	if searcher.err != nil {
		t.Fatalf("searcher --once exited with %v", searcher.err)
	}
	s.checkOutput(want)
	if dl := s.deadLetters(); len(dl) != 0 {
		t.Errorf("%d dead letters, first: %+v", len(dl), dl[0])
	}
	for _, p := range append(scorers, downloaders...) {
		exited, err := p.term(15 * time.Second)
		if !exited {
			t.Errorf("%s did not stop within 15s of SIGTERM", p.name)
		} else if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	}

	// A second searcher run starts from its watermark and finds no new work.
	before := s.sim.Stats().Calls["download"]
	again := s.start("searcher", "--once")
	<-again.done
	if again.err != nil {
		t.Fatalf("second searcher run: %v", again.err)
	}
	// Everything it finds again was queued before: JetStream's
	// de-duplication drops the repeats.
	if n := s.grepLogs(`"msg":"sweep done","bin":"searcher","found":`); n != 2 {
		t.Errorf("%d sweep-done lines, want 2", n)
	}
	if n := s.grepLogs(`"published":0`); n != 1 {
		t.Errorf("second sweep published new SIDs (%d lines with published 0)", n)
	}
	if after := s.sim.Stats().Calls["download"]; len(after) != len(before) {
		t.Errorf("downloads happened without downloaders running: %v -> %v", before, after)
	}
}
