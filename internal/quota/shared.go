package quota

import (
	"context"
	"crypto/rand"
	"log/slog"
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
	// long after its last renewal (default DefaultTTL, 2 s). Its expiry is
	// written by its own clock, so readers also drop a lease they have not
	// seen renewed for TTL by theirs (see leaseSeen).
	TTL time.Duration
	// Rotate is how often slots move between holders when more processes
	// want a slot than there are slots (default 500 ms).
	Rotate time.Duration
	// Regrow is how long the size stays shrunk after another tool's 503
	// before it grows back by one; also the pace of probes while the quota
	// is only assumed (default 5 s).
	Regrow time.Duration
	// ExploreAfter is how long the budget stays full, with the quota only
	// assumed, before it grows by one call to find out whether the server
	// allows more (default 30 s). The 503 that ends a probe names the quota.
	ExploreAfter time.Duration
	// OnSize, OnHeld and OnWait report the budget's size, the slots this
	// process holds and each wait for a slot, for metrics. Optional.
	OnSize, OnHeld func(int)
	OnWait         func(time.Duration)
	// Heal, when set, re-creates the state bucket (and whatever else of
	// alharvest's layout is missing) after a read or write of the record
	// failed: an operator deleted the bucket, or NATS lost its store. The
	// record is then written afresh, so no process waits on the last
	// known budget while NATS answers. Nil: nothing is re-created.
	Heal func(ctx context.Context) error
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

	mu      sync.Mutex
	allowed int       // calls that may run at once now
	heldNow int       // copy of held, for Release
	penalty time.Time // one slot fewer than held until then, after a 503
	q       queue
	rejects []int // quota 503s not yet handled: the N they named, 0 if none
	learnt  int   // N of the latest 503, for the Release that follows it
	kick    chan struct{}

	// The rest belongs to the loop.
	kv       jetstream.KeyValue
	updates  <-chan jetstream.KeyValueEntry // the record's watch, nil while it is down
	key      string
	rec      *Budget
	rev      uint64
	held     int       // slots this process holds in rec
	valid    time.Time // our lease is ours until then (renewed by every write of ours)
	lastWant time.Time
	seen     map[string]leaseSeen // other holders' leases as this process saw them change
	outage   bool
	done     chan struct{}
	stop     context.CancelFunc
}

// NewShared returns a gate that allows one call at a time until Start has
// joined the shared budget: no process ever assumes the whole quota alone.
func NewShared(cfg SharedConfig) *Shared {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Rotate <= 0 {
		cfg.Rotate = 500 * time.Millisecond
	}
	if cfg.Regrow <= 0 {
		cfg.Regrow = 5 * time.Second
	}
	if cfg.ExploreAfter <= 0 {
		cfg.ExploreAfter = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Shared{cfg: cfg, id: rand.Text(), log: log, allowed: 1, kick: make(chan struct{}, 1),
		key: Key(cfg.Server, cfg.User), seen: map[string]leaseSeen{}}
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
	if s.q.admit(s.allowed) {
		s.mu.Unlock()
		return nil
	}
	ch := s.q.enqueue()
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
		s.q.abandon(ch, s.allowed)
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Release ends a call; quotaRejected reports a concurrent-quota 503.
func (s *Shared) Release(quotaRejected bool) {
	s.mu.Lock()
	s.q.release()
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
	notify := quotaRejected || s.allowed < s.heldNow || s.q.demand() == 0
	s.q.wake(s.allowed)
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

func (s *Shared) setAllowed(n, held int) {
	s.mu.Lock()
	if n > 0 && s.cfg.Now().Before(s.penalty) {
		n--
	}
	s.allowed, s.heldNow = n, held
	s.q.wake(s.allowed)
	s.mu.Unlock()
}
