// Package quota keeps a process's concurrent Assemblyline calls within the
// server's per-user quota, which every replica of every stage shares.
//
// Limiter is an adaptive concurrency limit in the AIMD family. Processes
// that share a quota cannot see each other, so each learns its share from
// the only signal the server gives, the concurrent-quota 503:
//
//   - on a rejection the limit shrinks multiplicatively (once per burst);
//   - while calls queue for a slot, the limit grows by one per probe
//     interval. The interval halves after each probe that drew no
//     rejection, so spare quota (a stage that ran out of work) is taken
//     within a fraction of a second, and resets to its maximum after a
//     rejection, so a full quota is probed about every two seconds per process.
//
// Growing by one call per probe, rather than by one per window of
// successful calls as TCP does, keeps rejections to about one per busy
// process every two seconds however fast calls complete: about one call in
// a hundred with several processes at full tilt, none for a lone process.
package quota

import (
	"context"
	"sync"
	"time"
)

// Config tunes a Limiter.
type Config struct {
	// Max is the most concurrent calls ever allowed (AL_MAX_CALLS).
	Max int
	// Initial is the starting limit (default min(Max, 2)); it grows quickly
	// while there is demand and no rejection, like TCP's slow start.
	Initial int
	// Min is the floor of the limit (default 1).
	Min int
	// Decrease multiplies the limit on a quota rejection (default 0.7).
	Decrease float64
	// Cooldown: rejections closer together than this count as one
	// overshoot (default 100 ms).
	Cooldown time.Duration
	// MinProbe and MaxProbe bound the interval between increases
	// (defaults 20 ms and 2 s).
	MinProbe, MaxProbe time.Duration
	// OnLimit, when set, is told the integer limit whenever it changes.
	OnLimit func(int)
	// Now is the clock (tests).
	Now func() time.Time
}

// Limiter is an adaptive concurrency limit. Use New.
type Limiter struct {
	cfg Config

	mu           sync.Mutex
	limit        float64
	inflight     int
	waiters      []chan struct{}
	probe        time.Duration // current interval between increases
	lastIncrease time.Time
	lastDecrease time.Time
	reported     int
}

// New returns a limiter.
func New(cfg Config) *Limiter {
	if cfg.Max < 1 {
		cfg.Max = 1
	}
	if cfg.Min < 1 {
		cfg.Min = 1
	}
	cfg.Min = min(cfg.Min, cfg.Max)
	if cfg.Initial <= 0 {
		cfg.Initial = min(cfg.Max, 2)
	}
	cfg.Initial = max(cfg.Min, min(cfg.Initial, cfg.Max))
	if cfg.Decrease <= 0 || cfg.Decrease >= 1 {
		cfg.Decrease = 0.7
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 100 * time.Millisecond
	}
	if cfg.MinProbe <= 0 {
		cfg.MinProbe = 20 * time.Millisecond
	}
	if cfg.MaxProbe < cfg.MinProbe {
		cfg.MaxProbe = max(cfg.MinProbe, 2*time.Second)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, limit: float64(cfg.Initial), probe: cfg.MinProbe}
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
	l.grow() // demand exceeds the limit: maybe probe for more
	l.report()
	l.wake()
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
	now := l.cfg.Now()
	if quotaRejected {
		if now.Sub(l.lastDecrease) >= l.cfg.Cooldown {
			l.limit = max(float64(l.cfg.Min), l.limit*l.cfg.Decrease)
			l.lastDecrease = now
		}
		// The quota is full: probe again only after the longest interval.
		l.probe = l.cfg.MaxProbe
		l.lastIncrease = now
	} else if len(l.waiters) > 0 {
		l.grow()
	}
	l.report()
	l.wake()
}

// grow raises the limit by one if the probe interval has passed, and
// shortens the next interval. Called with mu held, only under demand; the
// caller then reports the limit and wakes waiters.
func (l *Limiter) grow() {
	if l.limit >= float64(l.cfg.Max) {
		return
	}
	now := l.cfg.Now()
	if now.Sub(l.lastIncrease) < l.probe {
		return
	}
	l.limit = min(float64(l.cfg.Max), float64(l.allowed()+1))
	l.lastIncrease = now
	l.probe = max(l.cfg.MinProbe, l.probe/2)
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
