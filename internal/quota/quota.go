// Package quota keeps a process's concurrent Assemblyline calls within the
// server's per-user quota, which every replica of every stage shares.
//
// Limiter is an adaptive (AIMD) concurrency limit: it allows up to Max calls
// at once, shrinks multiplicatively when the server answers with its
// concurrent-quota 503, and grows back additively while calls succeed. Many
// processes that each run one settle on a fair share of the quota without
// talking to each other, the way TCP flows share a link.
package quota

import (
	"context"
	"sync"
	"time"
)

// Config tunes a Limiter.
type Config struct {
	// Max is the most concurrent calls ever allowed (AL_MAX_CALLS), and the
	// starting limit.
	Max int
	// Min is the floor of the limit (default 1).
	Min int
	// Decrease multiplies the limit on a quota rejection (default 0.7).
	Decrease float64
	// Increase is added to the limit per limit's worth of successful calls
	// (default 1).
	Increase float64
	// Cooldown: rejections closer together than this count as one, since a
	// burst of 503s is the answer to a single overshoot (default 100 ms).
	Cooldown time.Duration
	// OnLimit, when set, is told the integer limit whenever it changes.
	OnLimit func(int)
	// Now is the clock (tests).
	Now func() time.Time
}

// Limiter is an AIMD concurrency limit. Its zero value is not usable; call New.
type Limiter struct {
	cfg Config

	mu           sync.Mutex
	limit        float64
	inflight     int
	waiters      []chan struct{}
	lastDecrease time.Time
	reported     int
}

// New returns a limiter starting at cfg.Max.
func New(cfg Config) *Limiter {
	if cfg.Max < 1 {
		cfg.Max = 1
	}
	if cfg.Min < 1 {
		cfg.Min = 1
	}
	if cfg.Min > cfg.Max {
		cfg.Min = cfg.Max
	}
	if cfg.Decrease <= 0 || cfg.Decrease >= 1 {
		cfg.Decrease = 0.7
	}
	if cfg.Increase <= 0 {
		cfg.Increase = 1
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, limit: float64(cfg.Max)}
	l.report()
	return l
}

// Acquire blocks until a call may start or ctx ends.
func (l *Limiter) Acquire(ctx context.Context) error {
	l.mu.Lock()
	if l.inflight < l.allowed() && len(l.waiters) == 0 {
		l.inflight++
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, w := range l.waiters {
			if w == ch {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// Granted while we gave up: pass the slot on.
		l.inflight--
		l.wake()
		return ctx.Err()
	}
}

// Release ends a call. quotaRejected reports that the server refused it for
// exceeding the concurrent-call quota.
func (l *Limiter) Release(quotaRejected bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if quotaRejected {
		now := l.cfg.Now()
		if now.Sub(l.lastDecrease) >= l.cfg.Cooldown {
			l.limit = max(float64(l.cfg.Min), l.limit*l.cfg.Decrease)
			l.lastDecrease = now
		}
	} else {
		l.limit = min(float64(l.cfg.Max), l.limit+l.cfg.Increase/l.limit)
	}
	l.report()
	l.wake()
}

// Limit returns the current integer limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.allowed()
}

// InFlight returns the number of calls under way.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}

func (l *Limiter) allowed() int { return int(l.limit) }

// wake hands free slots to waiters in arrival order. Called with mu held.
func (l *Limiter) wake() {
	for len(l.waiters) > 0 && l.inflight < l.allowed() {
		ch := l.waiters[0]
		l.waiters = l.waiters[1:]
		l.inflight++
		close(ch)
	}
}

// report tells OnLimit about a change of the integer limit. Called with mu held.
func (l *Limiter) report() {
	if n := l.allowed(); n != l.reported && l.cfg.OnLimit != nil {
		l.reported = n
		l.cfg.OnLimit(n)
	}
}
