package harvest_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// metric reads one sample from a /metrics page (0 when absent).
func metric(t *testing.T, url, series string) float64 {
	t.Helper()
	m, _ := metrics.Scrape(url)
	return m[series]
}

// TestRecollect replays an operator's story: a collected
// file is deleted and its SID re-published within the files stream's
// duplicate window. A plain re-publication is said aloud (log line,
// metric); `alharvest recollect` restores the file; two recollects of one
// hash at once write it once.
func TestRecollect(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 21, Submissions: 60})
	out, data := t.TempDir(), t.TempDir()
	env := baseEnv(url, out, data)
	env["SEARCH_INTERVAL"] = "1h"
	httpAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	env["HTTP_ADDR"] = httpAddr
	cfg := loadConfig(t, env)
	logs := &testenv.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	listen := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Listen: listen, Logger: log})
		done <- err
	}()
	t.Cleanup(func() { cancel(); <-done })
	nc := connectWhenListening(t, listen)

	want := sim.Expected(7000)
	if !testenv.Eventually(t, 60*time.Second, "the first sweep collected", func() bool {
		return len(alsimtest.Collected(t, out)) == len(want)
	}) {
		t.FailNow()
	}

	// A completed submission with collectable qualifying files.
	var sid string
	var files []string
	corpus := sim.Corpus()
	for i := 0; i < corpus.Len() && sid == ""; i++ {
		s := corpus.Submission(i)
		q := qualifying(s, 7000)
		if s.Completed.IsZero() || len(q) == 0 {
			continue
		}
		all := true
		for _, f := range q {
			all = all && slices.Contains(want, f)
		}
		if all {
			sid, files = s.SID, q
		}
	}
	if sid == "" {
		t.Fatal("no suitable submission")
	}
	metrics := "http://" + httpAddr + "/metrics"
	dedup := `alharvest_messages_deduplicated_total{stage="scorer",subject="` + messages.SubjectFiles + `"}`
	before := metric(t, metrics, dedup)
	for _, f := range files {
		if err := os.Remove(filepath.Join(out, f+".cart")); err != nil {
			t.Fatal(err)
		}
	}

	// 1. The plain re-publication: dropped by the window, but said.
	if err := nc.Publish(messages.SubjectSIDs, []byte(sid)); err != nil {
		t.Fatal(err)
	}
	if !testenv.Eventually(t, 30*time.Second, "the deduplication metric", func() bool {
		return metric(t, metrics, dedup) >= before+float64(len(files))
	}) {
		t.FailNow()
	}
	if !strings.Contains(logs.String(), "output not stored again") || !strings.Contains(logs.String(), files[0]) {
		t.Errorf("no log line names the deduplicated file %s", files[0])
	}
	if _, err := os.Stat(filepath.Join(out, files[0]+".cart")); err == nil {
		t.Fatal("the file came back without recollect: the window did not apply, the test proves nothing")
	}

	// 2. recollect SID: the files come back.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	var stdout bytes.Buffer
	if code := harvest.Main([]string{"recollect", "-nats-url", "nats://" + listen, sid}, &stdout, stderr); code != 0 {
		b, _ := os.ReadFile(stderr.Name())
		t.Fatalf("recollect exit %d: %s", code, b)
	}
	if !strings.HasPrefix(stdout.String(), "queued submission "+sid+" (ALHARVEST_SIDS #") {
		t.Errorf("recollect printed %q", stdout.String())
	}
	if !testenv.Eventually(t, 30*time.Second, "recollected files back in OUTPUT_DIR", func() bool {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(out, f+".cart")); err != nil {
				return false
			}
		}
		return true
	}) {
		t.FailNow()
	}
	alsimtest.CheckCollected(t, out, want)

	// 3. The same hash twice at once: written once, found present once.
	newSeries, presentSeries := `alharvest_files_collected_total{result="new"}`, `alharvest_files_collected_total{result="present"}`
	if err := os.Remove(filepath.Join(out, files[0]+".cart")); err != nil {
		t.Fatal(err)
	}
	newBefore, presentBefore := metric(t, metrics, newSeries), metric(t, metrics, presentSeries)
	if code := harvest.Main([]string{"recollect", "-nats-url", "nats://" + listen, files[0], files[0]}, io.Discard, stderr); code != 0 {
		t.Fatalf("recollect exit %d", code)
	}
	if !testenv.Eventually(t, 30*time.Second, "both recollects handled", func() bool {
		return metric(t, metrics, newSeries)+metric(t, metrics, presentSeries) >= newBefore+presentBefore+2
	}) {
		t.FailNow()
	}
	if got := metric(t, metrics, newSeries) - newBefore; got != 1 {
		t.Errorf("the file was downloaded %v times for two simultaneous recollects, want 1", got)
	}

	// Bad input: exit 2, nothing queued.
	if code := harvest.Main([]string{"recollect", "-nats-url", "nats://" + listen, "../etc/passwd"}, io.Discard, stderr); code != 2 {
		t.Errorf("recollect of a bad id: exit %d, want 2", code)
	}
}
