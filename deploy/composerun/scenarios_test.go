package composerun

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

var pipeline = []string{"nats", "alsim", "searcher", "scorer", "downloader"}

// TestDemo: `--env-file deploy/demo.env up`, with the feed's profile too,
// reaches healthy, collects the exact set, leaves empty queues,
// dead-letters only what alsim can never serve, and its collected events
// name files a consumer can open. The generated feeder identity feeds SIDs
// and nothing else, no stage raises an alarm about a demo key, and the
// feed hands every collected file to the example program (checkFeed).
func TestDemo(t *testing.T) {
	t.Parallel()
	inbox := filepath.Join(t.TempDir(), "inbox")
	p := newProject(t, options{alsim: map[string]string{"ALSIM_FAULT_MISSING_BLOBS": "2"}, env: map[string]string{
		"COMPOSE_PROFILES":    "demo,feed",
		"FEED_INBOX_HOST_DIR": inbox,
	}})
	services := append(slices.Clone(pipeline), "feed")
	start := time.Now()
	p.compose("up", "-d")
	p.waitHealthy(2*time.Minute, services...)
	healthy := time.Since(start)
	p.waitCollected(3 * time.Minute)
	want, uncollectable := p.expected()
	t.Logf("demo: %d files (+%d uncollectable), the last one written %v after `up` began (all healthy after %v)",
		len(want), len(uncollectable), p.lastWrite().Sub(start).Round(100*time.Millisecond), healthy.Round(100*time.Millisecond))
	if len(uncollectable) != 2 {
		t.Errorf("alsim reports %d uncollectable files, want the 2 missing blobs", len(uncollectable))
	}
	if n := p.alsimDownloads(); n != int64(len(want)) {
		t.Errorf("alsim served %d downloads for %d files", n, len(want))
	}

	// The collected event's path: /collected/<sha256>.cart, the same
	// directory as OUTPUT_HOST_DIR on the host.
	js := p.js("nats")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, messages.StreamCollected)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, messages.SubjectCollected)
	if err != nil {
		t.Fatal(err)
	}
	var ev messages.Collected
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Path != "/collected/"+ev.SHA256+".cart" {
		t.Errorf("collected event path %q, want /collected/<sha256>.cart", ev.Path)
	}
	if _, err := os.Stat(filepath.Join(p.out, filepath.Base(ev.Path))); err != nil {
		t.Errorf("the event's file is not in OUTPUT_HOST_DIR: %v", err)
	}

	checkFeeder(t, p, ev.SID)
	for _, stage := range []string{"searcher", "scorer", "downloader"} {
		if logs := docker(t, "logs", p.one(stage).ID); strings.Contains(logs, "demo's key") {
			t.Errorf("the demo's %s raises the alarm about the demo key", stage)
		}
	}

	// The binaries say which build they are.
	dl := p.one("downloader")
	url := "http://" + dl.ip() + ":9103/metrics"
	if metric(t, url, "alharvest_build_info", `version="devel"`) != 0 || metric(t, url, "alharvest_build_info") != 1 {
		t.Errorf("build_info carries no version")
	}
	if v := dl.Config.Labels["org.opencontainers.image.revision"]; len(v) != 40 {
		t.Errorf("image revision label %q, want the git commit", v)
	}
	checkFeed(t, p, inbox, len(want))
	p.noRestarts(services...)
}

// checkFeeder: the generated publish-only identity can feed a SID (here a
// duplicate of one already queued, which JetStream drops) and nothing else.
func checkFeeder(t *testing.T, p *project, sid string) {
	errs := make(chan error, 4)
	nc := p.connectAs("nats", "feeder.nk", errs)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: messages.SubjectSIDs, Data: []byte(`{"sid":"` + sid + `"}`),
		Header: nats.Header{"Nats-Msg-Id": []string{sid}}})
	if err != nil {
		t.Errorf("feeder cannot publish a SID: %v", err)
	} else if ack.Stream != messages.StreamSIDs {
		t.Errorf("feeder's SID went to %s", ack.Stream)
	}
	if err := nc.Publish(messages.SubjectFiles, []byte("{}")); err == nil {
		nc.Flush()
	}
	select {
	case err := <-errs:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("feeder published to %s: %v, want a permissions violation", messages.SubjectFiles, err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("feeder published to %s without a permissions violation", messages.SubjectFiles)
	}
	if _, err := nats.Connect("nats://" + p.one("nats").ip() + ":4222"); err == nil {
		t.Errorf("NATS accepts a client without credentials")
	}
}

// checkFeed: the feed, as the reader identity, hands every collected file
// to the example program: its inbox ends up holding each of them, byte for
// byte the size the downloader wrote; the feed is ready, counts every file
// as handed, dead-letters none, and the program's log lines reach its own.
func checkFeed(t *testing.T, p *project, inbox string, want int) {
	t.Helper()
	sizes := func(dir string) map[string]int64 {
		m := map[string]int64{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".cart") || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if fi, err := e.Info(); err == nil {
				m[e.Name()] = fi.Size()
			}
		}
		return m
	}
	collected := sizes(p.out)
	if want == 0 || len(collected) != want {
		t.Fatalf("%d files collected, alsim expects %d", len(collected), want)
	}
	waitFor(t, "every collected file in the feed's inbox", 2*time.Minute, func() (bool, string) {
		got := sizes(inbox)
		var missing []string
		for name, size := range collected {
			if got[name] != size {
				missing = append(missing, name)
			}
		}
		return len(missing) == 0 && len(got) == len(collected),
			strings.Join(missing, " ") + " missing or of another size; inbox holds " + strconv.Itoa(len(got))
	})
	t.Logf("feed: all %d collected files in the inbox", len(collected))

	feed := p.one("feed")
	base := "http://" + feed.ip() + ":9104"
	httpGet(t, base+"/readyz")
	if n := metric(t, base+"/metrics", "alharvest_feed_handed_total"); n < float64(want) {
		t.Errorf("alharvest_feed_handed_total = %v, want >= %d", n, want)
	}
	if n := metric(t, base+"/metrics", "alharvest_messages_settled_total", `outcome="dead_lettered"`); n != 0 {
		t.Errorf("the feed dead-lettered %v files", n)
	}
	if logs := docker(t, "logs", feed.ID); !strings.Contains(logs, "handed ") {
		t.Errorf("the example program logged nothing through the feed:\n%s", logs)
	}
}

// TestScale: three scorers and three downloaders share the work; every
// file is downloaded once; the searcher stays one.
func TestScale(t *testing.T) {
	t.Parallel()
	p := newProject(t, options{alsim: map[string]string{"ALSIM_DOWNLOAD_LATENCY": "200ms", "ALSIM_FULL_LATENCY": "50ms"},
		env: map[string]string{"DOWNLOADER_CONCURRENCY": "2", "SCORER_CONCURRENCY": "2"}})
	p.compose("up", "-d", "--scale", "scorer=3", "--scale", "downloader=3")
	p.waitHealthy(2*time.Minute, pipeline...)
	p.waitCollected(3 * time.Minute)
	want, _ := p.expected()
	if n := p.alsimDownloads(); n != int64(len(want)) {
		t.Errorf("alsim served %d downloads for %d files: some file was downloaded twice", n, len(want))
	}
	if n := len(p.containers("searcher")); n != 1 {
		t.Errorf("%d searchers, want 1", n)
	}
	for stage, port := range map[string]string{"scorer": "9102", "downloader": "9103"} {
		cs := p.containers(stage)
		if len(cs) != 3 {
			t.Errorf("%d %s replicas, want 3", len(cs), stage)
		}
		for _, c := range cs {
			acked := metric(t, "http://"+c.ip()+":"+port+"/metrics", "alharvest_messages_settled_total", `outcome="acked"`)
			t.Logf("%s acked %v", c.Name, acked)
			if acked == 0 {
				t.Errorf("%s did no work", c.Name)
			}
		}
	}
	p.noRestarts(pipeline...)
}

// TestRollingReplace: `up -d --no-deps --force-recreate` of the downloader,
// then the scorer, while work is queued: graceful stop inside
// stop_grace_period, nothing lost, nothing dead-lettered.
func TestRollingReplace(t *testing.T) {
	t.Parallel()
	// About 45 s of scoring and 50 s of downloads, so both stages have
	// work queued when they are replaced.
	p := newProject(t, options{alsim: map[string]string{"ALSIM_DOWNLOAD_LATENCY": "400ms", "ALSIM_FULL_LATENCY": "500ms"},
		env: map[string]string{"DOWNLOADER_CONCURRENCY": "1", "SCORER_CONCURRENCY": "1"}})
	p.compose("up", "-d")
	p.waitHealthy(2*time.Minute, pipeline...)
	want, _ := p.expected()
	waitFor(t, "the first files", time.Minute, func() (bool, string) { return p.collectedCount() >= 5, "" })
	// The scorer first: its queue empties sooner.
	for i, stage := range []string{"scorer", "downloader"} {
		st, err := p.status()
		if err != nil {
			t.Fatal(err)
		}
		if q := st.Stages[i]; q.Stage != stage || q.Queued+q.Pending+uint64(q.InFlight) == 0 {
			t.Errorf("nothing queued for the %s when it is replaced: %+v", stage, q)
		}
		old := p.one(stage)
		logs := followLogs(t, old.ID)
		start := time.Now()
		p.compose("up", "-d", "--no-deps", "--force-recreate", stage)
		took := time.Since(start)
		t.Logf("replacing the %s took %v with %d of %d files collected", stage, took.Round(100*time.Millisecond), p.collectedCount(), len(want))
		if took > 45*time.Second {
			t.Errorf("replacing the %s took %v, beyond stop_grace_period 45s", stage, took)
		}
		if out := logs(); !strings.Contains(out, `"msg":"stopped"`) {
			t.Errorf("the old %s did not stop gracefully; its last logs:\n%s", stage, tail(out, 10))
		}
	}
	p.waitCollected(3 * time.Minute)
}

// TestKillStage: SIGKILL of the downloader and the scorer mid-run; their
// unacknowledged messages are redelivered.
func TestKillStage(t *testing.T) {
	t.Parallel()
	p := newProject(t, options{alsim: map[string]string{"ALSIM_DOWNLOAD_LATENCY": "400ms", "ALSIM_FULL_LATENCY": "100ms"},
		env: map[string]string{"DOWNLOADER_CONCURRENCY": "2", "SCORER_CONCURRENCY": "2"}})
	p.compose("up", "-d")
	p.waitHealthy(2*time.Minute, pipeline...)
	want, _ := p.expected()
	waitFor(t, "the first files", time.Minute, func() (bool, string) { return p.collectedCount() >= len(want)/5, "" })
	for _, stage := range []string{"downloader", "scorer"} {
		c := p.one(stage)
		docker(t, "kill", c.ID)
		t.Logf("killed the %s with %d of %d files collected", stage, p.collectedCount(), len(want))
	}
	// Docker does not restart a container killed by hand; bring them back
	// as an operator (or an orchestrator) would.
	time.Sleep(2 * time.Second)
	killed := time.Now()
	p.compose("up", "-d", "--no-deps", "downloader", "scorer")
	p.waitCollected(3 * time.Minute)
	t.Logf("every file collected %v after the kill", p.lastWrite().Sub(killed).Round(100*time.Millisecond))
}

// followLogs captures a container's logs until it is removed.
func followLogs(t *testing.T, id string) func() string {
	var (
		mu  sync.Mutex
		buf bytes.Buffer
	)
	cmd := exec.Command("docker", "logs", "-f", id)
	w := &lockedWriter{mu: &mu, w: &buf}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() string {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}
