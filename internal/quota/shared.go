package quota

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// SharedConfig configures a Shared gate.
type SharedConfig struct {
	// Server and User name the Assemblyline user whose quota is shared.
	Server, User string
	// Name says who this process is in `alharvest status` (binary@host:pid).
	Name string
	// Quota, when above zero, overrides the learnt quota (AL_QUOTA).
	Quota int
	// TTL is the lease: a holder that stops renewing loses its slots this
	// long after its last renewal (default 2 s).
	TTL time.Duration
	// Rotate is how often slots move between holders when more processes
	// want a slot than there are slots (default 500 ms).
	Rotate time.Duration
	// Regrow is how long the size stays shrunk after another tool's 503
	// before it grows back by one; also the pace of probes while the quota
	// is only assumed (default 5 s).
	Regrow time.Duration
	// Probe is how long the budget stays full, with the quota only
	// assumed, before it grows by one call to find out whether the server
	// allows more (default 30 s). The 503 that ends a probe names the quota.
	Probe time.Duration
	// OnSize, OnHeld and OnWait report the budget's size, the slots this
	// process holds and each wait for a slot, for metrics. Optional.
	OnSize, OnHeld func(int)
	OnWait         func(time.Duration)
	// Logger receives notices about learnt quotas and NATS outages. Nil discards.
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Shared is a Gate whose slots are leased from a budget shared through a
// NATS KV bucket by every process calling the same Assemblyline user. Calls
// take and return slots locally, under a mutex; a background loop leases
// blocks of slots from the shared record with compare-and-set writes. Use
// NewShared, then Start once the bucket is reachable, and Close on the way out.
type Shared struct {
	cfg SharedConfig
	id  string
	log *slog.Logger

	mu       sync.Mutex
	allowed  int       // calls that may run at once now
	heldNow  int       // copy of held, for Release
	penalty  time.Time // one slot fewer than held until then, after a 503
	inflight int
	waiters  []chan struct{}
	rejects  []int // quota 503s not yet handled: the N they named, 0 if none
	learnt   int   // N of the latest 503, for the Release that follows it
	kick     chan struct{}

	// The rest belongs to the loop.
	kv       jetstream.KeyValue
	updates  <-chan jetstream.KeyValueEntry // the record's watch, nil while it is down
	key      string
	rec      *Budget
	rev      uint64
	held     int       // slots this process holds in rec
	valid    time.Time // our lease is ours until then (renewed by every write of ours)
	lastWant time.Time
	outage   bool
	done     chan struct{}
	stop     context.CancelFunc
}

// NewShared returns a gate that allows one call at a time until Start has
// joined the shared budget: no process ever assumes the whole quota alone.
func NewShared(cfg SharedConfig) *Shared {
	if cfg.TTL <= 0 {
		cfg.TTL = 2 * time.Second
	}
	if cfg.Rotate <= 0 {
		cfg.Rotate = 500 * time.Millisecond
	}
	if cfg.Regrow <= 0 {
		cfg.Regrow = 5 * time.Second
	}
	if cfg.Probe <= 0 {
		cfg.Probe = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shared{cfg: cfg, id: rand.Text(), log: log, allowed: 1, kick: make(chan struct{}, 1),
		key: Key(cfg.Server, cfg.User)}
}

// Start joins the budget in kv and keeps the lease until ctx ends or Close.
// It returns once this process is registered, or with the error that
// prevented it (the gate then keeps its one-call fallback).
func (s *Shared) Start(ctx context.Context, kv jetstream.KeyValue) error {
	s.kv = kv
	if err := s.refresh(ctx); err != nil {
		return err
	}
	if err := s.step(ctx, true); err != nil {
		return err
	}
	ctx, s.stop = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.loop(ctx)
	return nil
}

// Close leaves the budget, handing this process's slots back at once
// rather than at the end of its lease.
func (s *Shared) Close() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for range 5 {
		if s.rec == nil {
			return
		}
		r := s.rec.clone()
		if _, ok := r.Holders[s.id]; !ok {
			return
		}
		delete(r.Holders, s.id)
		if s.write(ctx, r) == nil {
			return
		}
		if s.refresh(ctx) != nil {
			return
		}
	}
}

// Acquire blocks until a call may start or ctx ends.
func (s *Shared) Acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.inflight < s.allowed && len(s.waiters) == 0 {
		s.inflight++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	s.poke()
	start := s.cfg.Now()

	select {
	case <-ch:
		if s.cfg.OnWait != nil {
			s.cfg.OnWait(s.cfg.Now().Sub(start))
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiters {
			if w == ch {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		s.inflight--
		s.wake()
		return ctx.Err()
	}
}

// Release ends a call; quotaRejected reports a concurrent-quota 503.
func (s *Shared) Release(quotaRejected bool) {
	s.mu.Lock()
	s.inflight--
	if quotaRejected {
		s.rejects = append(s.rejects, s.learnt)
		s.learnt = 0
		// The server is full whatever the record says: do not start the
		// next call on this slot until the loop has dealt with it, or
		// every waiter would collect a 503 of its own in turn.
		s.allowed = max(0, s.allowed-1)
		s.penalty = s.cfg.Now().Add(s.cfg.Rotate)
	}
	// Tell the loop when a slot can go back, a rejection needs handling
	// or the demand fell to nothing; anything else waits for its tick.
	notify := quotaRejected || s.allowed < s.heldNow || (s.inflight == 0 && len(s.waiters) == 0)
	s.wake()
	s.mu.Unlock()
	if notify {
		s.poke()
	}
}

// LearnQuota is told the N of a "…quota of N" 503, just before the Release
// of that call.
func (s *Shared) LearnQuota(n int) {
	s.mu.Lock()
	s.learnt = n
	s.mu.Unlock()
}

// Allowed returns how many calls this process may run at once now.
func (s *Shared) Allowed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allowed
}

func (s *Shared) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// wake hands free slots to waiters in arrival order. Called with mu held.
func (s *Shared) wake() {
	for len(s.waiters) > 0 && s.inflight < s.allowed {
		ch := s.waiters[0]
		s.waiters = s.waiters[1:]
		s.inflight++
		close(ch)
	}
}

func (s *Shared) setAllowed(n, held int) {
	s.mu.Lock()
	if n > 0 && s.cfg.Now().Before(s.penalty) {
		n--
	}
	s.allowed, s.heldNow = n, held
	s.wake()
	s.mu.Unlock()
}

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
			s.fallback()
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

// refresh reads the record (creating it if missing).
func (s *Shared) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TTL/2)
	defer cancel()
	e, err := s.kv.Get(ctx, s.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		r := &Budget{Server: s.cfg.Server, User: s.cfg.User, Quota: DefaultQuota, Source: SourceAssumed,
			Size: DefaultQuota, Changed: s.cfg.Now().UnixMilli(), Holders: map[string]*Holder{}}
		if s.cfg.Quota > 0 {
			r.Quota, r.Size, r.Source = s.cfg.Quota, s.cfg.Quota, SourceOverride
		}
		b, _ := json.Marshal(r)
		rev, err := s.kv.Create(ctx, s.key, b)
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				return s.refresh(ctx)
			}
			return err
		}
		s.rec, s.rev = r, rev
		return nil
	case err != nil:
		return err
	}
	r, err := decodeBudget(e.Value())
	if err != nil {
		return err
	}
	s.rec, s.rev = r, e.Revision()
	return nil
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

// plan returns the record as this process wants it, and whether that
// differs from the stored one enough to write.
func (s *Shared) plan(now time.Time, force bool) (*Budget, bool) {
	r := s.rec.clone()
	changed := force
	ms := now.UnixMilli()
	if r.prune(now) {
		changed = true
	}

	s.mu.Lock()
	demand := s.inflight + len(s.waiters)
	rejects := s.rejects
	s.rejects = nil
	s.mu.Unlock()

	// The quota and the size.
	if s.cfg.Quota > 0 && (r.Quota != s.cfg.Quota || r.Source != SourceOverride) {
		r.Quota, r.Source, r.Size, r.Changed = s.cfg.Quota, SourceOverride, s.cfg.Quota, ms
		changed = true
	}
	for _, n := range rejects {
		switch {
		case n > 0 && r.Source != SourceOverride && n != r.Quota:
			s.log.Info("quota: learnt Assemblyline's concurrent-call quota from a 503", "quota", n, "was", r.Quota)
			r.Quota, r.Source, r.Size, r.Changed = n, SourceLearnt, n, ms
			changed = true
		case n > 0 && r.Source == SourceAssumed:
			r.Source = SourceLearnt
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
	case r.Source == SourceAssumed && ms-r.Changed >= s.cfg.Probe.Milliseconds() && r.held() >= r.Size && demand > s.held:
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
		keep := max(me.Held-r.excess(s.id, targets), s.inflight)
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

// ReadBudgets returns every shared budget in kv, for `alharvest status`.
func ReadBudgets(ctx context.Context, kv jetstream.KeyValue) ([]Snapshot, error) {
	l, err := kv.ListKeysFiltered(ctx, KeyPrefix+">")
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	now := time.Now()
	for k := range l.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		r, err := decodeBudget(e.Value())
		if err != nil {
			continue
		}
		out = append(out, r.snapshot(k, now))
	}
	return out, nil
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
