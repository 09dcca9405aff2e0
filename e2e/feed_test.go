package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// feedProgram logs "start <sha256> <path>" when it begins and "done
// <sha256>" when it succeeds; it always fails, with its own error on
// stderr, on the file named by $FAIL_SHA256.
const feedProgram = `echo "start $ALHARVEST_SHA256 $1" >> "$FEED_LOG"
sleep 0.2
if [ "$ALHARVEST_SHA256" = "$FAIL_SHA256" ]; then echo "cannot parse $1: unsupported format" >&2; exit 9; fi
cmp -s "$1" "$ALHARVEST_PATH" || exit 1
echo "done $ALHARVEST_SHA256" >> "$FEED_LOG"
`

type feedLog struct{ start, done []string } // sha256s in order; start also the paths

func readFeedLog(t *testing.T, path string) (l feedLog, paths []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "start":
			l.start = append(l.start, f[1])
			paths = append(paths, f[2])
		case len(f) == 2 && f[0] == "done":
			l.done = append(l.done, f[1])
		}
	}
	return l, paths
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

// TestFeedHandsEveryFileAtLeastOnce runs the pipeline and `alharvest feed`
// as separate processes, the feed reading the output directory through a
// path of its own (as another container would), with a program that fails
// on one file. The feed is killed with SIGKILL mid-run and restarted:
// every collected file is handed at least once; a file is handed again
// only if its program was running (or had just finished, unacknowledged)
// when the feed died; the failing file is a dead letter whose reason is the
// program's own error.
func TestFeedHandsEveryFileAtLeastOnce(t *testing.T) {
	s := newStack(t, alsim.Config{Seed: 5, Submissions: 120})
	want := s.sim.Expected(7000)
	if len(want) < 10 {
		t.Fatalf("corpus too small: %d files", len(want))
	}
	failSHA := want[0]
	work := t.TempDir()
	script := filepath.Join(work, "program.sh")
	if err := os.WriteFile(script, []byte(feedProgram), 0o755); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(work, "feed.log")
	// The feed's view of OUTPUT_DIR: another path to the same directory.
	if err := os.MkdirAll(s.out, 0o755); err != nil {
		t.Fatal(err)
	}
	remapped := filepath.Join(work, "inbox-mount")
	if err := os.Symlink(s.out, remapped); err != nil {
		t.Fatal(err)
	}
	s.env = append(s.env, "FEED_LOG="+logPath, "FAIL_SHA256="+failSHA)

	s.start("scorer")
	s.start("downloader")
	ctx := context.Background()
	testenv.Eventually(t, 60*time.Second, "the collected stream", func() bool {
		_, err := s.js.Stream(ctx, messages.StreamCollected)
		return err == nil
	})
	feedArgs := []string{"feed", "--durable", "inbox", "--from", "all", "--jobs", "3", "--max-attempts", "3",
		"--retry-min", "200ms", "--retry-max", "500ms", "--ack-wait", "3s", "--output-dir", remapped, "--", "/bin/sh", script}
	feed := s.start("alharvest feed", feedArgs...)
	searcher := s.start("searcher", "--once")

	// Kill the feed while programs run.
	testenv.Eventually(t, 2*time.Minute, "a third of the files handed", func() bool {
		l, _ := readFeedLog(t, logPath)
		return len(l.done) >= len(want)/3
	})
	feed.kill()
	atKill, _ := readFeedLog(t, logPath)
	s.restart(feed)

	if !s.waitDrained(3*time.Minute, searcher) {
		return
	}
	s.checkOutput(want)
	var final feedLog
	var paths []string
	testenv.Eventually(t, 3*time.Minute, "every file handed and the failing one dead-lettered", func() bool {
		final, paths = readFeedLog(t, logPath)
		for _, sha := range want[1:] {
			if count(final.done, sha) == 0 {
				return false
			}
		}
		return len(feedLetters(t, s)) > 0
	})

	// Handed again only if in flight when the feed died: started before
	// the kill and not done then, or done among the last runs before it
	// (its ack may not have been sent).
	recent := atKill.done[max(0, len(atKill.done)-3):]
	again := 0
	for _, sha := range want[1:] {
		if n := count(final.done, sha); n > 1 {
			again++
			inFlight := count(atKill.start, sha) > count(atKill.done, sha) || slices.Contains(recent, sha)
			if !inFlight {
				t.Errorf("%s handed %d times though its program was not running when the feed died", sha, n)
			}
		}
	}
	t.Logf("%d files; at the kill %d runs had started and %d were done; %d files handed twice", len(want), len(atKill.start), len(atKill.done), again)
	for _, p := range paths {
		if filepath.Dir(p) != remapped {
			t.Errorf("program given %s, want a path under %s", p, remapped)
		}
	}
	letters := feedLetters(t, s)
	if len(letters) != 1 {
		t.Fatalf("%d feed dead letters, want 1: %+v", len(letters), letters)
	}
	l := letters[0]
	if !strings.Contains(string(l.Data), failSHA) || !strings.Contains(l.Reason, "exited with status 9") ||
		!strings.Contains(l.Reason, "cannot parse "+filepath.Join(remapped, failSHA+".cart")+": unsupported format") ||
		l.Header.Get(messages.HeaderConsumer) != "inbox" {
		t.Errorf("dead letter: reason %q, consumer %q, payload %s", l.Reason, l.Header.Get(messages.HeaderConsumer), l.Data)
	}
	if count(final.done, failSHA) != 0 {
		t.Errorf("the failing file was reported done")
	}
	if exited, err := feed.term(15 * time.Second); !exited || err != nil {
		t.Errorf("feed after SIGTERM: exited %t, %v", exited, err)
	}
}

func feedLetters(t *testing.T, s *stack) []dlq.Letter {
	t.Helper()
	var out []dlq.Letter
	for _, l := range s.deadLetters() {
		if l.Stage == messages.StageFeed {
			out = append(out, l)
		}
	}
	return out
}
