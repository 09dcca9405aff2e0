package composerun

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFeed: the demo with `--profile feed`. The feed, as the reader
// identity, hands every collected file to the example program: its inbox
// ends up holding each of them, byte for byte the size the downloader
// wrote; the feed is healthy and ready, counts every file as handed and
// dead-letters none.
func TestFeed(t *testing.T) {
	t.Parallel()
	inbox := filepath.Join(t.TempDir(), "inbox")
	p := newProject(t, options{env: map[string]string{
		"COMPOSE_PROFILES":    "demo,feed",
		"FEED_INBOX_HOST_DIR": inbox,
	}})
	services := append(slices.Clone(pipeline), "feed")
	p.compose("up", "-d")
	p.waitHealthy(2*time.Minute, services...)
	p.waitCollected(3 * time.Minute)
	want, _ := p.expected()

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
	if len(want) == 0 || len(collected) != len(want) {
		t.Fatalf("%d files collected, alsim expects %d", len(collected), len(want))
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
	if n := metric(t, base+"/metrics", "alharvest_feed_handed_total"); n < float64(len(want)) {
		t.Errorf("alharvest_feed_handed_total = %v, want >= %d", n, len(want))
	}
	if n := metric(t, base+"/metrics", "alharvest_messages_settled_total", `outcome="dead_lettered"`); n != 0 {
		t.Errorf("the feed dead-lettered %v files", n)
	}
	// The example program's log lines reach the feed's stdout.
	if logs := docker(t, "logs", feed.ID); !strings.Contains(logs, "handed ") {
		t.Errorf("the example program logged nothing through the feed:\n%s", logs)
	}
	p.noRestarts(services...)
}
