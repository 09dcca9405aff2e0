package harvest

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/alharvest/alharvest/internal/metrics"
	"github.com/alharvest/alharvest/pkg/messages"
)

// progress draws one status line on a terminal, redrawn in place.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	shown bool
}

func newProgress(w io.Writer, start time.Time) *progress { return &progress{w: w, start: start} }

func (p *progress) update(s metrics.Snapshot, queued map[string]uint64, swept bool) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	search := "searching"
	if swept {
		search = "swept"
	}
	line := fmt.Sprintf("%s %d sids · scored %d (%d queued) · qualified %d · collected %d, present %d (%d queued) · %s · dead %d · %s",
		search, s.SIDsFound, s.Scored, queued[messages.StreamSIDs], s.Qualified,
		s.CollectedNew, s.Present, queued[messages.StreamFiles], humanBytes(s.DownloadBytes),
		s.DeadLettered, time.Since(p.start).Round(100*time.Millisecond))
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.shown = true
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
