package feed

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// handedLog reads the lines "<feed> <sha256>" the test program appends.
func handedLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
}

func countHanded(lines []string, feed, sha string) int {
	n := 0
	for i := 0; i+1 < len(lines); i += 2 {
		if lines[i] == feed && lines[i+1] == sha {
			n++
		}
	}
	return n
}

// Two feeds over a real JetStream server: each sees every file collected
// after it was created (and --from all the ones before too); a failing
// program is retried then dead-lettered with its stderr; a missing file is
// dead-lettered at once; a replayed letter reaches its own feed only.
func TestFeedsOverJetStream(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	ctx := context.Background()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "handed.log")
	marks := t.TempDir() // a file fail-<sha256> here makes the program fail on that file

	publish := func(c messages.Collected) {
		t.Helper()
		m, err := messages.NewCollectedMsg(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	before := writeCart(t, dir, "collected before any feed")
	publish(before)

	script := `if [ -e "` + marks + `/fail-$ALHARVEST_SHA256" ]; then echo "cannot parse $ALHARVEST_SHA256: bad magic" >&2; exit 7; fi; echo "$ALHARVEST_FEED $ALHARVEST_SHA256" >> "` + logPath + `"`
	env := map[string]string{"NATS_URL": srv.URL, "SHUTDOWN_GRACE": "2s", "LOG_LEVEL": "debug", "HTTP_ADDR": "127.0.0.1:0"}
	cfg, _, err := config.Load(config.Feed, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	start := func(durable, from string) {
		o := Options{Durable: durable, Jobs: 2, Timeout: 20 * time.Second, MaxAttempts: 2, From: from,
			AckWait: 5 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: 200 * time.Millisecond, Argv: sh(script)}
		wg.Go(func() {
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := Run(runCtx, cfg, o, io.Discard, io.Discard, log); err != nil {
				t.Errorf("feed %s: %v", durable, err)
			}
		})
		testenv.Eventually(t, 30*time.Second, "consumer "+durable, func() bool {
			_, err := js.Consumer(ctx, messages.StreamCollected, durable)
			return err == nil
		})
	}
	start("archive", "all")
	start("sandbox", "new")
	defer func() { stop(); wg.Wait() }()

	ok := writeCart(t, dir, "a good file")
	failing := writeCart(t, dir, "a file the program cannot parse")
	os.WriteFile(filepath.Join(marks, "fail-"+failing.SHA256), nil, 0o644)
	missing := writeCart(t, dir, "deleted before the feed got to it")
	os.Remove(missing.Path)
	for _, c := range []messages.Collected{ok, failing, missing} {
		publish(c)
	}

	letters := func() []dlq.Letter {
		ls, err := dlq.List(ctx, js, dlq.Filter{Stage: messages.StageFeed})
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	testenv.Eventually(t, 60*time.Second, "4 dead letters and 3 files handed", func() bool {
		return len(letters()) == 4 && len(handedLog(t, logPath)) == 6
	})
	lines := handedLog(t, logPath)
	for _, w := range []struct {
		feed, sha string
		n         int
	}{{"archive", before.SHA256, 1}, {"sandbox", before.SHA256, 0}, {"archive", ok.SHA256, 1}, {"sandbox", ok.SHA256, 1}} {
		if got := countHanded(lines, w.feed, w.sha); got != w.n {
			t.Errorf("%s handed %s %d times, want %d (log %v)", w.feed, w.sha[:8], got, w.n, lines)
		}
	}
	got := map[string]dlq.Letter{}
	for _, l := range letters() {
		var c messages.Collected
		json.Unmarshal(l.Data, &c)
		got[l.Header.Get(messages.HeaderConsumer)+" "+c.SHA256] = l
		if l.Stage != messages.StageFeed || l.OriginalSubject != messages.SubjectCollected {
			t.Errorf("letter %d: stage %q subject %q", l.Seq, l.Stage, l.OriginalSubject)
		}
	}
	for _, feed := range []string{"archive", "sandbox"} {
		l, found := got[feed+" "+failing.SHA256]
		if !found || !strings.Contains(l.Reason, "gave up after 2 attempts: program exited with status 7; stderr: cannot parse "+failing.SHA256+": bad magic") {
			t.Errorf("%s's letter for the failing file: %q", feed, l.Reason)
		}
		l, found = got[feed+" "+missing.SHA256]
		if !found || !strings.Contains(l.Reason, "no longer exists") || l.Deliveries != 1 {
			t.Errorf("%s's letter for the missing file: %q after %d deliveries", feed, l.Reason, l.Deliveries)
		}
	}

	// The program is fixed; replaying archive's letter hands the file to
	// archive, and sandbox (which gave up on it too) sees nothing.
	os.Remove(filepath.Join(marks, "fail-"+failing.SHA256))
	l := got["archive "+failing.SHA256]
	if _, err := dlq.Replay(ctx, js, []dlq.Letter{l}, dlq.ReplayOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the replayed file handed to archive", func() bool {
		return countHanded(handedLog(t, logPath), "archive", failing.SHA256) == 1
	})
	time.Sleep(500 * time.Millisecond)
	if n := countHanded(handedLog(t, logPath), "sandbox", failing.SHA256); n != 0 {
		t.Errorf("sandbox handed the file replayed to archive %d times", n)
	}
	if n := len(letters()); n != 3 {
		t.Errorf("%d letters left after replaying one, want 3", n)
	}
	cons, err := js.Consumer(ctx, messages.StreamCollected, "archive")
	if err != nil {
		t.Fatal(err)
	}
	if fs := cons.CachedInfo().Config.FilterSubjects; !slices.Equal(fs, []string{messages.SubjectCollected, messages.FeedSubject("archive")}) {
		t.Errorf("archive's filter subjects %v", fs)
	}
}

// The probes: /healthz always, /readyz once the consumer is bound, and the
// feed's metrics.
func TestFeedServesProbesAndMetrics(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	natstest.Provision(t, js)
	port := testenv.FreePort(t)
	addr := "127.0.0.1:" + itoa(int64(port))
	env := map[string]string{"NATS_URL": srv.URL, "HTTP_ADDR": addr, "SHUTDOWN_GRACE": "1s"}
	cfg, _, err := config.Load(config.Feed, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Durable: "probe", Jobs: 1, MaxAttempts: 1, From: "new", AckWait: 5 * time.Second,
			RetryMin: time.Second, RetryMax: time.Second, Argv: sh("exit 0")}, io.Discard, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, 30*time.Second, "/readyz 200", func() bool { code, _ := get("/readyz"); return code == 200 })
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `alharvest_feed_handed_total{feed="probe"} 0`) ||
		!strings.Contains(body, "alharvest_feed_program_duration_seconds") || !strings.Contains(body, `alharvest_feed_in_flight{feed="probe"} 0`) {
		t.Errorf("/metrics %d:\n%s", code, body)
	}
	// An operator deletes the consumer: the feed makes it again.
	if err := js.DeleteConsumer(context.Background(), messages.StreamCollected, "probe"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "the consumer made again", func() bool {
		_, err := js.Consumer(context.Background(), messages.StreamCollected, "probe")
		return err == nil
	})
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// A feed started before the stages waits for the collected stream, then
// binds, even to a stream of an older alharvest without the replay subject.
func TestConsumerWaitsForTheStreamAndFallsBack(t *testing.T) {
	srv := natstest.Start(t)
	_, js := natstest.Connect(t, srv.URL)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	time.AfterFunc(time.Second, func() {
		// An older layout: alharvest.collected only.
		_, _ = js.CreateStream(ctx, jetstream.StreamConfig{Name: messages.StreamCollected, Subjects: []string{messages.SubjectCollected}})
	})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cons, err := Consumer(cctx, js, ConsumerConfig{Durable: "early"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if fs := cons.CachedInfo().Config.FilterSubjects; len(fs) != 2 || fs[0] != messages.SubjectCollected {
		t.Errorf("filter subjects %v", fs)
	}
}
