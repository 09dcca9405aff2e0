package harvest

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/pkg/messages"
)

func TestProgressFitsTheTerminal(t *testing.T) {
	big := metrics.Snapshot{SIDsFound: 123456, Scored: 123456, Qualified: 999999, CollectedNew: 654321,
		Present: 111111, DownloadBytes: 5 << 40, DeadLettered: 12345}
	queued := map[string]uint64{messages.StreamSIDs: 50000, messages.StreamFiles: 70000}
	for _, width := range []int{200, 120, 80, 60, 40, 20, 5} {
		var buf bytes.Buffer
		p := newProgress(&buf, func() int { return width }, time.Now())
		p.update(big, queued, true)
		out := buf.String()
		line, ok := strings.CutPrefix(out, "\r\033[K")
		if !ok || strings.Contains(line, "\n") {
			t.Fatalf("width %d: not an in-place redraw: %q", width, out)
		}
		if n := utf8.RuneCountInString(line); n >= width {
			t.Errorf("width %d: line has %d columns (wraps): %q", width, n, line)
		}
		if width >= 200 && !strings.Contains(line, "collected 654321, present 111111") {
			t.Errorf("width %d: the long form fits but was not used: %q", width, line)
		}
		if width >= 40 && !strings.Contains(line, "654321") && !strings.Contains(line, "765432") {
			t.Errorf("width %d: collected count dropped: %q", width, line)
		}
	}
}

func TestProgressUnknownWidthPrintsPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, nil, time.Now())
	s := metrics.Snapshot{SIDsFound: 3, Scored: 1}
	p.update(s, nil, false)
	p.update(s, nil, false) // unchanged: nothing new
	s.Scored = 2
	p.update(s, nil, false) // changed, but too soon after the last line
	p.clear()
	out := buf.String()
	if strings.ContainsAny(out, "\r\033") {
		t.Errorf("escape sequences without a known width: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "searching 3 sids · scored 1 (0 queued)") {
		t.Errorf("plain output = %q, want one line", out)
	}
	p.lastPlainTime = time.Now().Add(-plainEvery)
	p.update(s, nil, true)
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("after %s a changed status gives a new line; have %d lines", plainEvery, got)
	}
}
