package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/pkg/messages"
)

// TestAssemblylineFaults runs the separate processes against an Assemblyline
// that misbehaves in every way the API allows: 10 % 5xx, 5 % connection
// resets, 5 % truncated and 5 % corrupt downloads, a concurrent-call quota
// well below what the stages ask for, a deep-paging cursor that expires
// mid-sweep, results missing for a while, plus files whose blob is missing
// or whose body is always corrupt. Everything collectable must be collected
// intact; what can never succeed must end in the DLQ with its reason after
// a bounded number of tries, without blocking the rest.
func TestAssemblylineFaults(t *testing.T) {
	subs := 500
	if *long {
		subs = 3000
	}
	faults := alsim.Faults{
		Seed:                   99,
		Error5xx:               0.10,
		Reset:                  0.05,
		TruncateDownload:       0.05,
		CorruptDownload:        0.05,
		ExpireCursorAfterPages: 3,
		MissingResultsCalls:    2,
		MissingBlobs:           3,
		AlwaysCorrupt:          2,
	}
	s := newStack(t, alsim.Config{Seed: 17, Submissions: subs, Quota: 4, Faults: faults},
		"SCORER_RETRY_MIN=50ms", "SCORER_RETRY_MAX=500ms",
		"DOWNLOADER_RETRY_MIN=50ms", "DOWNLOADER_RETRY_MAX=500ms",
		"SCORER_MAX_ATTEMPTS=6", "DOWNLOADER_MAX_ATTEMPTS=6",
		"SEARCH_PAGE_SIZE=25", "LOG_LEVEL=info", "AL_MAX_CALLS=10")
	want := s.sim.Expected(7000)
	doomed := s.sim.Uncollectable(7000)
	if len(doomed) != 5 {
		t.Fatalf("alsim reports %d uncollectable files, want 5", len(doomed))
	}

	searcher := s.start("searcher", "--once")
	s.start("scorer")
	s.start("scorer")
	s.start("downloader")
	s.start("downloader")
	began := time.Now()
	if !s.waitDrained(3*time.Minute, searcher) {
		return
	}
	t.Logf("drained in %s", time.Since(began).Round(time.Millisecond))
	if searcher.err != nil {
		t.Fatalf("searcher: %v", searcher.err)
	}
	s.checkOutput(want)

	// Exactly the doomed files are dead-lettered, each with a reason.
	letters := s.deadLetters()
	var got []string
	for _, l := range letters {
		f, err := messages.DecodeFile(l.Data)
		if err != nil || l.Stage != messages.StageDownloader {
			t.Errorf("unexpected dead letter: stage %s payload %s reason %s", l.Stage, l.Payload, l.Reason)
			continue
		}
		got = append(got, f.SHA256)
		switch {
		case strings.Contains(l.Reason, "not found"):
		case strings.Contains(l.Reason, "cart:") && strings.Contains(l.Reason, "gave up after 6 attempts"):
		default:
			t.Errorf("dead letter %s: unhelpful reason %q", f.SHA256[:12], l.Reason)
		}
		if l.Deliveries < 1 || l.Deliveries > 6 {
			t.Errorf("dead letter %s after %d deliveries, want 1..6", f.SHA256[:12], l.Deliveries)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, doomed) {
		t.Errorf("dead-lettered %v, want the uncollectable %v", got, doomed)
	}

	st := s.sim.Stats()
	t.Logf("faults injected %v; quota 503s %d; cursors expired %d; peak in flight %d of quota %d",
		st.Faults, st.QuotaRejected, st.CursorsExpired, st.PeakInFlight, st.Quota)
	if st.QuotaRejected == 0 || st.CursorsExpired == 0 || st.Faults["reset"] == 0 || st.Faults["truncate_download"] == 0 {
		t.Errorf("the run did not meet every fault it was meant to: %+v", st.Faults)
	}
}

// TestDeadLettersCanBeListedAndReplayed makes files dead-letter while their
// blobs are missing, fixes Assemblyline, and replays them with `alharvest
// dlq`: first against a remote NATS (NATS_URL), then against the
// one-command mode's data directory.
func TestDeadLettersCanBeListedAndReplayed(t *testing.T) {
	t.Run("remote NATS", func(t *testing.T) {
		s := newStack(t, alsim.Config{Seed: 4, Submissions: 80, Faults: alsim.Faults{MissingBlobs: 2}},
			"DOWNLOADER_RETRY_MIN=50ms", "DOWNLOADER_RETRY_MAX=200ms", "LOG_LEVEL=info")
		doomed := s.sim.Uncollectable(7000)
		searcher := s.start("searcher", "--once")
		s.start("scorer")
		s.start("downloader")
		if !s.waitDrained(time.Minute, searcher) {
			return
		}

		list := s.alharvest(t, "dlq", "list", "--json")
		var letters []dlq.Letter
		dec := json.NewDecoder(strings.NewReader(list))
		for dec.More() {
			var l dlq.Letter
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("dlq list --json: %v\n%s", err, list)
			}
			letters = append(letters, l)
		}
		if len(letters) != len(doomed) {
			t.Fatalf("dlq list shows %d letters, want %d:\n%s", len(letters), len(doomed), list)
		}
		for _, l := range letters {
			if l.Stage != "downloader" || l.OriginalSubject != messages.SubjectFiles || !strings.Contains(l.Reason, "not found") ||
				l.Deliveries != 1 || l.FailedAt.IsZero() {
				t.Errorf("letter %+v", l)
			}
		}
		table := s.alharvest(t, "dlq", "list")
		for _, col := range []string{"SEQ", "STAGE", "SUBJECT", "DELIVERIES", "WHEN", "REASON", "The file was not found"} {
			if !strings.Contains(table, col) {
				t.Errorf("dlq list lacks %q:\n%s", col, table)
			}
		}

		// Assemblyline gets its blobs back; replay, and everything arrives.
		if err := s.sim.SetFaults(alsim.Faults{}); err != nil {
			t.Fatal(err)
		}
		out := s.alharvest(t, "dlq", "replay", "--stage", "downloader")
		if !strings.Contains(out, "replayed 2 of 2") {
			t.Errorf("replay said %q", out)
		}
		if !s.waitDrained(time.Minute, nil) {
			return
		}
		s.checkOutput(s.sim.Expected(7000))
		if n := len(s.deadLetters()); n != 0 {
			t.Errorf("%d letters left after replay", n)
		}
	})

	t.Run("data directory", func(t *testing.T) {
		sim, al := alsimtest.Serve(t, alsim.Config{Seed: 4, Submissions: 80, Faults: alsim.Faults{MissingBlobs: 2}})
		dir := t.TempDir()
		env := append(os.Environ(), "AL_URL="+al, "AL_USER="+alsim.DefaultUser, "AL_APIKEY="+alsim.DefaultAPIKey,
			"DATA_DIR="+filepath.Join(dir, "state"), "OUTPUT_DIR="+filepath.Join(dir, "out"), "NATS_URL=",
			"DOWNLOADER_RETRY_MIN=50ms", "DOWNLOADER_RETRY_MAX=200ms", "LOG_LEVEL=warn")
		run := func(args ...string) (string, int) {
			cmd := exec.Command(filepath.Join(binaries(t), "alharvest"), args...)
			cmd.Env = env
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return out.String() + errb.String(), code
		}
		out, code := run()
		if code != 3 {
			t.Fatalf("one-command run with missing blobs exited %d, want 3 (dead letters):\n%s", code, out)
		}
		if !strings.Contains(out, "dead-lettered       2") && !strings.Contains(out, "dead-lettered  2") {
			t.Logf("report:\n%s", out)
		}
		list, code := run("dlq", "list")
		if code != 0 || strings.Count(list, "The file was not found") != 2 {
			t.Fatalf("dlq list (exit %d):\n%s", code, list)
		}
		if err := sim.SetFaults(alsim.Faults{}); err != nil {
			t.Fatal(err)
		}
		if out, code := run("dlq", "replay", "--all"); code != 0 || !strings.Contains(out, "replayed 2 of 2") {
			t.Fatalf("dlq replay (exit %d):\n%s", code, out)
		}
		// The next run picks the replayed work up from the data directory.
		if out, code := run(); code != 0 {
			t.Fatalf("run after replay exited %d:\n%s", code, out)
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "out"))
		if len(entries) != len(sim.Expected(7000)) {
			t.Errorf("%d files after replay, want %d", len(entries), len(sim.Expected(7000)))
		}
	})
}

// alharvest runs an alharvest admin command against the stack's NATS.
func (s *stack) alharvest(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binaries(t), "alharvest"), args...)
	cmd.Env = s.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("alharvest %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}
