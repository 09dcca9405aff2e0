package harvest_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// loadConfig builds the one-command configuration the way the binary does,
// from environment variables.
func loadConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, _, err := config.Load(config.Alharvest, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func baseEnv(url, out, data string) map[string]string {
	return map[string]string{
		"AL_URL": url, "AL_USER": alsim.DefaultUser, "AL_APIKEY": alsim.DefaultAPIKey,
		"OUTPUT_DIR": out, "DATA_DIR": data, "SCORE_THRESHOLD": "7000",
		"SCORER_ACK_WAIT": "5s", "DOWNLOADER_ACK_WAIT": "5s", "SEARCH_PAGE_SIZE": "37",
	}
}

func testLogger(t *testing.T) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestOneCommandCollectsExactlyTheExpectedSet(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 7, Submissions: 300})
	out, data := t.TempDir(), t.TempDir()
	log, _ := testLogger(t)
	cfg := loadConfig(t, baseEnv(url, out, data))
	want := sim.Expected(7000)
	if len(want) < 50 {
		t.Fatalf("corpus too small to mean anything: %d expected files", len(want))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := harvest.Run(ctx, harvest.Options{Config: cfg, Logger: log})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	alsimtest.CheckCollected(t, out, want)
	if t.Failed() {
		t.FailNow()
	}
	if rep.Collected != int64(len(want)) || len(rep.DeadLetters) != 0 || rep.DeadLettered != 0 || !rep.FullSweep {
		t.Errorf("report: %+v", rep)
	}
	if rep.SubmissionsFound == 0 || rep.SubmissionsScored != int64(rep.SubmissionsFound) {
		t.Errorf("found %d submissions, scored %d", rep.SubmissionsFound, rep.SubmissionsScored)
	}

	// A second run finds the watermark and the files already there:
	// nothing is downloaded again and nothing changes on disk.
	before := snapshot(t, out)
	sim.ResetStats()
	rep2, err := harvest.Run(ctx, harvest.Options{Config: cfg, Logger: log})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if rep2.Collected != 0 || rep2.FullSweep {
		t.Errorf("second run collected %d (full sweep %t)", rep2.Collected, rep2.FullSweep)
	}
	if calls := sim.Stats().Calls["download"]; len(calls) != 0 {
		t.Errorf("second run made download calls: %v", calls)
	}
	if after := snapshot(t, out); !maps(before, after) {
		t.Error("files changed on disk during the second run")
	}
	var text bytes.Buffer
	rep2.WriteText(&text)
	for _, want := range []string{"submissions found", "collected", "already present", "dead-lettered", "elapsed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

func snapshot(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	m := map[string]time.Time{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		st, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = st.ModTime()
	}
	return m
}

func maps(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !b[k].Equal(v) {
			return false
		}
	}
	return true
}

// TestPlainNATSPublishersAndDeadLetters runs the one-command mode as a
// service listening on TCP, then feeds it the way another system would: a
// plain NATS client publishing a SID as JSON and as bare text, and a SID
// that does not exist.
func TestPlainNATSPublishersAndDeadLetters(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 11, Submissions: 120})
	out, data := t.TempDir(), t.TempDir()
	env := baseEnv(url, out, data)
	// The searcher finds nothing, so only what we publish is collected.
	env["SEARCH_FILTER"] = "params.submitter:nobody-at-all"
	env["SEARCH_INTERVAL"] = "1h"
	cfg := loadConfig(t, env)
	log, _ := testLogger(t)
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	var rep *harvest.Report
	go func() {
		var err error
		rep, err = harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Listen: listen, Logger: log})
		done <- err
	}()

	nc := connectWhenListening(t, listen)

	// Two matching submissions with distinct qualifying files.
	corpus := sim.Corpus()
	var picked []alsim.SubmissionInfo
	seen := map[string]bool{}
	for i := 0; i < corpus.Len() && len(picked) < 2; i++ {
		s := corpus.Submission(i)
		files := qualifying(s, 7000)
		if len(files) == 0 || s.Completed.IsZero() {
			continue
		}
		overlap := false
		for _, f := range files {
			overlap = overlap || seen[f]
		}
		if overlap {
			continue
		}
		for _, f := range files {
			seen[f] = true
		}
		picked = append(picked, s)
	}
	if len(picked) != 2 {
		t.Fatal("corpus has no two suitable submissions")
	}
	// Core NATS publishes, no JetStream client: the stream captures them.
	if err := nc.Publish(messages.SubjectSIDs, []byte(`{"sid":"`+picked[0].SID+`","source":"other-system"}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(messages.SubjectSIDs, []byte(picked[1].SID+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(messages.SubjectSIDs, []byte("NoSuchSubmission42")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(messages.SubjectSIDs, []byte("../../etc/passwd")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	var want []string
	for _, p := range picked {
		want = append(want, qualifying(p, 7000)...)
	}
	slices.Sort(want)
	if !testenv.Eventually(t, 60*time.Second, "published submissions collected", func() bool {
		entries, _ := os.ReadDir(out)
		return len(entries) >= len(want)
	}) {
		t.FailNow()
	}
	cancel()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("run: %v", err)
	}
	if got := alsimtest.Collected(t, out); !slices.Equal(got, want) {
		t.Errorf("collected %v, want %v", got, want)
	}
	reasons := map[string]string{}
	for _, l := range rep.DeadLetters {
		reasons[strings.TrimSpace(l.Payload)] = l.Reason
		if l.Stage != messages.StageScorer || l.OriginalSubject != messages.SubjectSIDs {
			t.Errorf("dead letter %+v", l)
		}
	}
	if r := reasons["NoSuchSubmission42"]; !strings.Contains(r, "does not exist") {
		t.Errorf("unknown SID dead letter reason %q (all: %v)", r, reasons)
	}
	if r := reasons["../../etc/passwd"]; !strings.Contains(r, "invalid message") {
		t.Errorf("invalid SID dead letter reason %q", r)
	}
	if len(rep.DeadLetters) != 2 || rep.DeadLettered != 2 {
		t.Errorf("%d dead letters listed, %d counted, want 2: %v", len(rep.DeadLetters), rep.DeadLettered, reasons)
	}
}

// connectWhenListening connects to a one-command run's --listen address
// once it serves, closing the connection when the test ends.
func connectWhenListening(t *testing.T, listen string) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	if !testenv.Eventually(t, 20*time.Second, "embedded NATS to listen", func() bool {
		c, err := nats.Connect("nats://"+listen, nats.Timeout(200*time.Millisecond))
		if err != nil {
			return false
		}
		nc = c
		return true
	}) {
		t.FailNow()
	}
	t.Cleanup(nc.Close)
	return nc
}

// qualifying lists a submission's files at or above the threshold.
func qualifying(s alsim.SubmissionInfo, threshold int64) []string {
	var out []string
	for _, f := range s.Files {
		if f.Score >= threshold && !slices.Contains(out, f.SHA256) {
			out = append(out, f.SHA256)
		}
	}
	return out
}
