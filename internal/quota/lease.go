package quota

import (
	"context"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The lease loop: following the shared record and writing this process's
// part of it.

// loop keeps the lease: it follows the record through a KV watch, and
// re-evaluates on every change, every local kick and a short tick.
func (s *Shared) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.Rotate / 5)
	defer tick.Stop()
	var w jetstream.KeyWatcher
	defer func() {
		if w != nil {
			_ = w.Stop()
		}
	}()
	for {
		if s.updates == nil {
			// Not watching yet, or the watch ended (here or in catchUp).
			if w != nil {
				_ = w.Stop()
				w = nil
			}
			if nw, err := s.kv.Watch(ctx, s.key, jetstream.UpdatesOnly()); err == nil {
				w, s.updates = nw, nw.Updates()
			}
		}
		select {
		case <-ctx.Done():
			return
		case e, ok := <-s.updates:
			if !ok {
				s.updates = nil
				continue
			}
			s.catchUp(e)
		case <-s.kick:
		case <-tick.C:
		}
		if err := s.step(ctx, false); err != nil && ctx.Err() == nil {
			if !s.heal(ctx, err) {
				s.fallback()
			}
		}
	}
}

// catchUp takes the newest record the watch has delivered so far, e (if
// not nil) being one just received, without waiting; it reports whether
// ours got newer. Only the newest is decoded: every write wakes every
// process, and one that was not scheduled for a while finds several
// waiting. After a lost compare-and-set the winner's record is usually
// among them, which saves reading it back.
func (s *Shared) catchUp(e jetstream.KeyValueEntry) bool {
	var newest jetstream.KeyValueEntry
	take := func(e jetstream.KeyValueEntry) {
		if e != nil && e.Operation() == jetstream.KeyValuePut && e.Revision() > s.rev &&
			(newest == nil || e.Revision() > newest.Revision()) {
			newest = e
		}
	}
	take(e)
drain:
	for {
		select {
		case e, ok := <-s.updates:
			if !ok {
				s.updates = nil
				break drain
			}
			take(e)
		default:
			break drain
		}
	}
	if newest == nil {
		return false
	}
	r, err := decodeBudget(newest.Value())
	if err != nil {
		return false
	}
	s.rec, s.rev = r, newest.Revision()
	return true
}

// heal is told that the record could not be read or written while the
// lease loop runs. It has the layout re-created (Heal: the bucket may be
// gone) and decides again from a fresh read; it reports whether that
// worked, so the caller falls back to a local share only while NATS is
// really away.
func (s *Shared) heal(ctx context.Context, cause error) bool {
	if s.cfg.Heal == nil {
		return false
	}
	if err := s.cfg.Heal(ctx); err != nil {
		return false
	}
	s.rec = nil     // read (or create) the record afresh
	s.updates = nil // and watch it anew: a watch of a deleted bucket sees nothing more
	if err := s.step(ctx, false); err != nil {
		return false
	}
	s.log.Info("quota: shared budget re-provisioned after a failed read or write", "cause", cause)
	return true
}

// fresh is a new record: the quota assumed or overridden, no holder.
func (s *Shared) fresh() *Budget {
	r := &Budget{Server: s.cfg.Server, User: s.cfg.User, Quota: DefaultQuota, Origin: OriginAssumed,
		Size: DefaultQuota, Changed: s.cfg.Now().UnixMilli(), Holders: map[string]*Holder{}}
	if s.cfg.Quota > 0 {
		r.Quota, r.Size, r.Origin = s.cfg.Quota, s.cfg.Quota, OriginOverride
	}
	return r
}

// refresh reads the record, creating it if missing and writing it afresh
// if it cannot be decoded: every holder then joins the new record within
// its next step, and the leases of the old one are lost with it (they
// could not be read anyway).
func (s *Shared) refresh(ctx context.Context) error {
	for range 5 {
		done, err := s.refreshOnce(ctx)
		if done || err != nil {
			return err
		}
	}
	return errors.New("quota: the shared record keeps changing under us")
}

// refreshOnce is one try of refresh; done is false when another process
// wrote the record between our read and our write (read it again).
func (s *Shared) refreshOnce(ctx context.Context) (done bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TTL/2)
	defer cancel()
	e, err := s.kv.Get(ctx, s.key)
	var rev uint64
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		// A new budget, or one deleted or purged: start afresh.
	case err != nil:
		return false, err
	default:
		r, derr := decodeBudget(e.Value())
		if derr == nil {
			s.rec, s.rev = r, e.Revision()
			return true, nil
		}
		s.log.Warn("quota: the shared budget's record is unreadable; writing it afresh", "err", derr)
		rev = e.Revision()
	}
	r := s.fresh()
	b, _ := json.Marshal(r)
	if rev == 0 {
		rev, err = s.kv.Create(ctx, s.key, b)
	} else {
		rev, err = s.kv.Update(ctx, s.key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.rec, s.rev = r, rev
	return true, nil
}

// write stores r if nobody changed the record since s.rev.
func (s *Shared) write(ctx context.Context, r *Budget) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TTL/2)
	defer cancel()
	rev, err := s.kv.Update(ctx, s.key, b, s.rev)
	if err != nil {
		return err
	}
	s.rec, s.rev = r, rev
	return nil
}

// step decides what this process should hold and writes it when it
// differs from the record; on a lost compare-and-set it reads the record
// again and decides again.
func (s *Shared) step(ctx context.Context, force bool) error {
	for attempt := 0; ; attempt++ {
		if s.rec == nil {
			if err := s.refresh(ctx); err != nil {
				return err
			}
		}
		sent := s.cfg.Now()
		next, changed := s.plan(sent, force)
		if !changed {
			s.apply(next)
			return nil
		}
		err := s.write(ctx, next)
		if err == nil {
			s.valid = sent.Add(s.cfg.TTL - s.cfg.TTL/4)
			if s.outage {
				s.outage = false
				s.log.Info("quota: shared budget reachable again")
			}
			s.apply(next)
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt >= 3 {
			return err
		}
		if attempt >= 100 {
			return err
		}
		// Another process wrote first: read and decide again, after a
		// short random pause once several of us keep colliding.
		if attempt >= 2 {
			time.Sleep(time.Duration(mrand.Int64N(int64(attempt) * int64(time.Millisecond))))
		}
		if s.catchUp(nil) {
			continue
		}
		if err := s.refresh(ctx); err != nil {
			return err
		}
	}
}

// apply makes the local limit follow what the record grants us.
func (s *Shared) apply(r *Budget) {
	h := r.Holders[s.id]
	held := 0
	if h != nil {
		held = h.Held
	}
	s.held = held
	// Over our share while others are owed slots the free ones cannot
	// cover: admit no new call on what must go back, while the calls
	// under way finish and the loop hands their slots back.
	allowed := held - r.excess(s.id, r.targets(s.cfg.Now(), s.cfg.Rotate))
	s.setAllowed(allowed, held)
	if s.cfg.OnHeld != nil {
		s.cfg.OnHeld(held)
	}
	if s.cfg.OnSize != nil {
		s.cfg.OnSize(r.Size)
	}
}
