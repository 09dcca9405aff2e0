package quota

import (
	"maps"
	"slices"
)

// fallback runs while the record cannot be written: the lease is kept
// until it lapses, then the process limits itself to its part of the last
// known size split among the last known holders (see fallbackShare).
func (s *Shared) fallback() {
	now := s.cfg.Now()
	if now.Before(s.valid) {
		return
	}
	if !s.outage {
		s.outage = true
		s.log.Warn("quota: shared budget unreachable; falling back to a local share until NATS answers")
	}
	share := 1
	if s.rec != nil && len(s.rec.Holders) > 0 {
		share = fallbackShare(s.rec.Size, slices.Collect(maps.Keys(s.rec.Holders)), s.id)
	}
	// Our entry may be pruned by now: start afresh once NATS answers.
	s.held = 0
	if s.rec != nil {
		s.rec = s.rec.clone()
		delete(s.rec.Holders, s.id)
	}
	s.setAllowed(share, share)
	if s.cfg.OnHeld != nil {
		s.cfg.OnHeld(0)
	}
}

// fallbackShare is the calls one process (id) allows itself while the
// shared record cannot be reached: size split evenly among the holders it
// last knew, the remainder going to the first holders in ID order. Every
// process computes the same split from the same record, so the shares add
// up to size; with more processes than slots some get none and wait for
// NATS rather than all calling at once (one call each would put 21
// processes over a quota of 10). A process missing from the record counts
// as one more holder.
func fallbackShare(size int, holders []string, id string) int {
	if !slices.Contains(holders, id) {
		holders = append(holders, id)
	}
	slices.Sort(holders)
	rank := slices.Index(holders, id)
	share := size / len(holders)
	if rank < size%len(holders) {
		share++
	}
	return share
}
