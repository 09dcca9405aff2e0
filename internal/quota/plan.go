package quota

import (
	"time"
)

// leaseSeen is another holder's lease as this process last saw it change:
// its expiry and when, by this process's clock, it first read that value.
//
// A lease's expiry is the holder's own clock. One whose clock runs an hour
// fast writes expiries an hour ahead, and killed, it would keep its slots
// for that hour. So a reader trusts no remote clock for how long a lease
// lasts: a live holder writes a new expiry at least every TTL/2 (renewals),
// and a lease whose expiry has not changed for a TTL of the reader's clock
// is dropped whatever it says. A killed holder's slots come back at most
// one TTL after a reader first sees its last record, which is within two
// leases of its death.
type leaseSeen struct {
	expires int64
	at      time.Time
}

// silent reports, for prune, a holder whose lease this process has not
// seen renewed for a TTL. Called from the loop only (it keeps s.seen).
func (s *Shared) silent(now time.Time) func(id string, h *Holder) bool {
	return func(id string, h *Holder) bool {
		if id == s.id {
			return false
		}
		seen, ok := s.seen[id]
		if !ok || seen.expires != h.Expires {
			s.seen[id] = leaseSeen{expires: h.Expires, at: now}
			return false
		}
		return now.Sub(seen.at) > s.cfg.TTL
	}
}

// plan returns the record as this process wants it, and whether that
// differs from the stored one enough to write.
func (s *Shared) plan(now time.Time, force bool) (*Budget, bool) {
	r := s.rec.clone()
	changed := force
	ms := now.UnixMilli()
	if r.prune(now, s.silent(now)) {
		changed = true
	}
	for id := range s.seen {
		if _, ok := r.Holders[id]; !ok {
			delete(s.seen, id)
		}
	}

	s.mu.Lock()
	demand := s.q.demand()
	rejects := s.rejects
	s.rejects = nil
	s.mu.Unlock()

	// The quota and the size.
	if s.cfg.Quota > 0 && (r.Quota != s.cfg.Quota || r.Origin != OriginOverride) {
		r.Quota, r.Origin, r.Size, r.Changed = s.cfg.Quota, OriginOverride, s.cfg.Quota, ms
		changed = true
	}
	for _, n := range rejects {
		switch {
		case n > 0 && r.Origin != OriginOverride && n != r.Quota:
			s.log.Info("quota: learnt Assemblyline's concurrent-call quota from a 503", "quota", n, "was", r.Quota)
			r.Quota, r.Origin, r.Size, r.Changed = n, OriginLearnt, n, ms
			changed = true
		case n > 0 && r.Origin == OriginAssumed:
			r.Origin = OriginLearnt
			changed = true
		case ms-r.Changed >= s.cfg.Rotate.Milliseconds() && r.Size > 1:
			// Within the budget and still refused: another client of the
			// same user holds slots. Shrink, once per burst.
			r.Size--
			r.Changed = ms
			changed = true
			s.log.Info("quota: refused within the budget, so another client uses this user; shrinking the budget", "size", r.Size, "quota", r.Quota)
		}
	}
	if r.Size > r.Quota {
		r.Size, changed = r.Quota, true
	}
	switch {
	case r.Size < r.Quota && ms-r.Changed >= s.cfg.Regrow.Milliseconds():
		r.Size++
		r.Changed = ms
		changed = true
	case r.Origin == OriginAssumed && ms-r.Changed >= s.cfg.ExploreAfter.Milliseconds() && r.held() >= r.Size && demand > s.held:
		// Nothing has named the quota and every slot is busy: try one more.
		r.Quota++
		r.Size++
		r.Changed = ms
		changed = true
		s.log.Info("quota: probing for a larger quota", "size", r.Size)
	}

	// Our lease.
	me := r.Holders[s.id]
	if me == nil {
		me = &Holder{Name: s.cfg.Name}
		r.Holders[s.id] = me
		changed = true
	}
	// Publish the demand coarsely: a new demand at once, a change of its
	// level once per rotation, its end after a short quiet spell. Every
	// write wakes every process, so flapping wants would cost more than
	// they are worth.
	want := min(demand, r.Size)
	var wantDue bool
	switch {
	case want == me.Want:
	case me.Want == 0:
		wantDue = true
	case want < me.Held && r.waiting(s.id):
		// Slots we hold and do not use while another process waits for
		// one: hand them over now, not after the quiet spell.
		wantDue = true
	case want == 0:
		wantDue = now.Sub(s.lastWant) >= s.cfg.Rotate/10
	default:
		wantDue = now.Sub(s.lastWant) >= s.cfg.Rotate
	}
	if wantDue {
		me.Want = want
		s.lastWant = now
		changed = true
	}
	targets := r.targets(now, s.cfg.Rotate)
	t := targets[s.id]
	free := r.Size - r.held()
	switch {
	case me.Held > t:
		// Give back what we must and no call of ours uses any more,
		// straight to the holders owed it: they start a call as soon as
		// they see this write, without one of their own.
		// Stop admitting calls on those slots before the write, not
		// after it: a call started in between would run on a slot its
		// new holder is already using.
		s.mu.Lock()
		keep := max(me.Held-r.excess(s.id, targets), s.q.inflight)
		if keep < me.Held {
			s.allowed = min(s.allowed, keep)
		}
		s.mu.Unlock()
		if keep < me.Held {
			r.give(s.id, me.Held-keep, targets)
			me.Held = keep
			changed = true
		}
	case me.Held < t && free > 0:
		me.Held += min(t-me.Held, free)
		changed = true
	}
	if free = r.Size - r.held(); free > 0 && min(demand, r.Size) > me.Held {
		// Borrow what nobody else is owed, up to our demand as it is now
		// (the published one lags).
		owed := 0
		for id, h := range r.Holders {
			if id != s.id && targets[id] > h.Held {
				owed += targets[id] - h.Held
			}
		}
		if extra := min(free-owed, min(demand, r.Size)-me.Held); extra > 0 {
			me.Held += extra
			changed = true
		}
	}
	if me.Held < 0 {
		me.Held = 0
	}
	// Renew once half the lease has gone: renewals were most of the
	// writes, and every write wakes every process and races theirs. The
	// lease is trusted only until TTL-TTL/4 after a write is sent, which
	// leaves a quarter of the TTL for the renewal to land.
	if me.Expires-ms < (s.cfg.TTL / 2).Milliseconds() {
		changed = true
	}
	if changed {
		me.Expires = now.Add(s.cfg.TTL).UnixMilli()
	}
	return r, changed
}
