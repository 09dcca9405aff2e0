package webhook

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultLogEvery is how often the receiver logs refused requests of one
// kind: the first at once, the rest of each interval as a count.
const DefaultLogEvery = 10 * time.Second

// logRate writes at most one line per key per interval, so that a client
// sending hundreds of bad requests — a scanner, a misconfigured
// Assemblyline — cannot flood the log. A line that follows suppressed ones
// says how many ("suppressed"); every request is still counted by the
// Observer. Keys name the kinds of refusal, a short fixed set.
type logRate struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*rateKey
}

type rateKey struct {
	last       time.Time // when a line was last written
	suppressed int       // requests since, not written
}

func newLogRate(log *slog.Logger, every time.Duration) *logRate {
	return &logRate{log: log, every: every, now: time.Now, keys: map[string]*rateKey{}}
}

// write logs msg at level unless a line for key was written less than an
// interval ago, in which case it only counts it.
func (l *logRate) write(level slog.Level, key, msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	k := l.keys[key]
	if k == nil {
		k = &rateKey{}
		l.keys[key] = k
	} else if now.Sub(k.last) < l.every {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n, "suppressed_over", l.every.String())
	}
	l.log.Log(context.Background(), level, msg, args...)
}
