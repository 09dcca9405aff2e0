// Package quota keeps alharvest's concurrent Assemblyline calls within the
// server's per-user quota, which every replica of every stage shares.
//
// # One process: Limiter
//
// Limiter is an adaptive concurrency limit in the AIMD family, for a process
// that has the quota to itself (the one-command mode). It learns the limit
// from the only signal the server gives, the concurrent-quota 503: on a
// rejection the limit shrinks multiplicatively (once per burst); while calls
// queue for a slot it grows by one per probe interval, which halves after
// each probe that drew no rejection and resets to its maximum after one.
//
// # Many processes: Shared
//
// Processes that adapt alone cannot see each other: every one of them keeps
// probing, and Assemblyline's accounting quirk (a 503 also frees somebody
// else's slot) lets the probes through. With 10 + 10 replicas that cost 17 %
// of all calls. Shared gives every process calling one Assemblyline user
// (server URL + user) one budget, kept as a single JSON record in the state
// bucket of NATS KV (key "quota.<digest>"), which every process already has:
//
//   - The record holds the quota, where it comes from (assumed, learnt from
//     a 503, or AL_QUOTA), the size of the budget, and one lease per process:
//     the slots it holds, its demand, and when the lease lapses.
//   - A process runs calls on the slots it holds with a local mutex and no
//     network at all: Acquire and Release cost under 100 ns. Slots move
//     between processes through compare-and-set writes of the record by a
//     background loop that follows it with a KV watch. The sum of the
//     leases never exceeds the size, and a process gives up a slot only
//     once no call of its own runs on it (it stops admitting calls on it
//     before the write), so the server never sees more calls than the size.
//   - Shares follow demand: the size is water-filled over the demands, so
//     an idle stage leaves its slots to a busy one, and free slots nobody is
//     owed are borrowed at once. When more processes want a slot than there
//     are slots, the last ones go round a hashed ring whose pointer advances
//     every rotate period, so every process gets its turn and a process
//     joining or leaving moves one slot, not all of them. A slot given back
//     goes straight to the process owed it, one write per move.
//   - Leases last TTL (2 s) and are renewed once half of it has gone by
//     (any write of the process renews its lease too); any process drops a
//     lapsed lease, so a killed process's slots come back within the TTL.
//     An expiry is the holder's clock, so readers also drop a lease they
//     have not seen renewed for a TTL of their own clock: a killed holder
//     whose clock runs fast frees its slots within two leases.
//     A process trusts its lease only for three quarters of the TTL after
//     sending its last write, so it stops calling on it before anyone
//     else may drop it, whatever the renewal pace. Close hands them back
//     at once.
//   - The quota is learnt: a "…quota of N" 503 sets it; until one arrives
//     Assemblyline's default (10) is assumed, and a full budget grows by one
//     call at most every 30 s to find out if the server allows more (the
//     503 that answers names the quota). AL_QUOTA overrides. A 503 while
//     alharvest stays within the quota means another client uses the same
//     user: the size shrinks by one per burst and grows back by one every
//     5 s without a refusal.
//   - A record that is gone or cannot be decoded is written afresh, and a
//     bucket that is gone is re-created (SharedConfig.Heal), so no process
//     waits on the last known budget while NATS answers.
//   - Without NATS a process keeps its lease until it lapses, then limits
//     itself to its part of the last known size split among the last known
//     holders (the remainder to the first in ID order), so the parts add up
//     to the size: with more processes than slots some wait for NATS
//     instead of calling, and the whole stays within the quota.
//
// Alternatives weighed:
//
//   - A KV key per call slot, taken with Create and per-message TTL
//     (LimitMarkerTTL): exact and self-cleaning, but every call pays two
//     KV round trips (0.3–1 ms each on loopback, far more on a loaded host
//     or a cluster), against a budget of 1 ms per call, and a
//     full quota turns into a spin of failing Creates.
//   - Fixed fair shares (quota / processes) with membership only: no per-call
//     cost, but a busy stage cannot use what an idle one leaves, and with
//     more processes than slots the shares round to zero.
//   - Per-process AIMD (the Limiter, as before): no coordination, but the
//     rejections grow with the number of processes (see above).
//   - A leader granting slots over request/reply: a round trip per grant and
//     a leader to elect and fail over; the CAS record gives the same
//     ordering with JetStream doing the consensus.
//
// The lease record is one key written by every process, so its write rate
// (renewals, demand changes, slot moves: tens to a few hundred a second
// with 20 processes) bounds how far this scales; beyond about a hundred
// processes per user a hierarchy (a budget per host) would be the next step.
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
	q            queue
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
	if l.q.admit(l.allowed()) {
		l.mu.Unlock()
		return nil
	}
	ch := l.q.enqueue()
	l.grow() // demand exceeds the limit: maybe probe for more
	l.report()
	l.q.wake(l.allowed())
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.q.abandon(ch, l.allowed())
		l.mu.Unlock()
		return ctx.Err()
	}
}

// Release ends a call. quotaRejected reports that the server refused it for
// exceeding the concurrent-call quota.
func (l *Limiter) Release(quotaRejected bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.q.release()
	now := l.cfg.Now()
	if quotaRejected {
		if now.Sub(l.lastDecrease) >= l.cfg.Cooldown {
			l.limit = max(float64(l.cfg.Min), l.limit*l.cfg.Decrease)
			l.lastDecrease = now
		}
		// The quota is full: probe again only after the longest interval.
		l.probe = l.cfg.MaxProbe
		l.lastIncrease = now
	} else if len(l.q.waiters) > 0 {
		l.grow()
	}
	l.report()
	l.q.wake(l.allowed())
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
	return l.q.inflight
}

func (l *Limiter) allowed() int { return int(l.limit) }

// report tells OnLimit about a change of the integer limit. Called with mu held.
func (l *Limiter) report() {
	if n := l.allowed(); n != l.reported && l.cfg.OnLimit != nil {
		l.reported = n
		l.cfg.OnLimit(n)
	}
}
