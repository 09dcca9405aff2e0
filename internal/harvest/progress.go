package harvest

import (
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/bytesize"
	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/pkg/messages"
)

// progress draws one status line on a terminal, redrawn in place and cut
// to the terminal's width so it never wraps (a wrapped line cannot be
// redrawn and leaves stale rows). When the width is unknown it degrades to
// plain lines, printed when something changed and at most every plainEvery.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	start time.Time
	shown bool

	lastPlain     string
	lastPlainTime time.Time
}

// plainEvery spaces the plain lines of a terminal of unknown width.
const plainEvery = 5 * time.Second

func newProgress(w io.Writer, width func() int, start time.Time) *progress {
	if width == nil {
		width = func() int { return 0 }
	}
	return &progress{w: w, width: width, start: start}
}

func (p *progress) update(s metrics.Snapshot, queued map[string]uint64, swept bool) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	elapsed := time.Since(p.start).Round(100 * time.Millisecond)
	lines := progressLines(s, queued, swept)
	width := p.width()
	if width <= 0 {
		if lines[0] == p.lastPlain || time.Since(p.lastPlainTime) < plainEvery {
			return
		}
		p.lastPlain, p.lastPlainTime = lines[0], time.Now()
		fmt.Fprintf(p.w, "%s · %s\n", lines[0], elapsed)
		return
	}
	fmt.Fprintf(p.w, "\r\033[K%s", fit(lines, " · "+elapsed.String(), width-1))
	p.shown = true
}

// progressLines says the same from the longest form to the shortest.
func progressLines(s metrics.Snapshot, queued map[string]uint64, swept bool) []string {
	search := "searching"
	if swept {
		search = "swept"
	}
	qs, qf := queued[messages.StreamSIDs], queued[messages.StreamFiles]
	return []string{
		fmt.Sprintf("%s %d sids · scored %d (%d queued) · qualified %d · collected %d, present %d (%d queued) · %s · dead %d",
			search, s.SIDsFound, s.Scored, qs, s.Qualified, s.CollectedNew, s.Present, qf, bytesize.Format(s.DownloadBytes), s.DeadLettered),
		fmt.Sprintf("%s %d · scored %d+%dq · qual %d · got %d+%d present, %dq · %s · dead %d",
			search, s.SIDsFound, s.Scored, qs, s.Qualified, s.CollectedNew, s.Present, qf, bytesize.Format(s.DownloadBytes), s.DeadLettered),
		fmt.Sprintf("scored %d/%d · got %d+%d · dead %d", s.Scored, s.SIDsFound, s.CollectedNew, s.Present, s.DeadLettered),
		fmt.Sprintf("got %d · dead %d", s.CollectedNew+s.Present, s.DeadLettered),
	}
}

// fit returns the longest form that fits in width columns with suffix,
// then without it, and cuts the shortest as a last resort.
func fit(lines []string, suffix string, width int) string {
	for _, l := range lines {
		if utf8.RuneCountInString(l+suffix) <= width {
			return l + suffix
		}
	}
	for _, l := range lines {
		if utf8.RuneCountInString(l) <= width {
			return l
		}
	}
	r := []rune(lines[len(lines)-1])
	return string(r[:max(0, min(len(r), width))])
}

func (p *progress) clear() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

// LogWriter returns a writer for log output that keeps log lines and the
// status line from overwriting each other.
func LogWriter(terminal io.Writer) io.Writer { return &lineClearer{w: terminal} }

type lineClearer struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineClearer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := io.WriteString(l.w, "\r\033[K"); err != nil {
		return 0, err
	}
	return l.w.Write(b)
}
