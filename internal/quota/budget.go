package quota

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeyPrefix starts the KV key of every shared budget.
const KeyPrefix = "quota."

// Origins of a budget's quota (Budget.Origin).
const (
	// OriginAssumed: no 503 has named the quota yet; Assemblyline's default
	// (10) is assumed and probed upwards while every slot is busy.
	OriginAssumed = "assumed"
	// OriginLearnt: a concurrent-quota 503 named it ("…quota of N").
	OriginLearnt = "learnt"
	// OriginOverride: AL_QUOTA set it.
	OriginOverride = "override"
)

// DefaultQuota is Assemblyline's default per-user concurrent-call quota
// (ui.default_quotas.concurrent_api_calls).
const DefaultQuota = 10

// Key is the KV key of the budget shared by every process calling server as
// user. It is a digest, so any URL fits the key alphabet.
func Key(server, user string) string {
	sum := sha256.Sum256([]byte(server + "\x00" + user))
	return KeyPrefix + hex.EncodeToString(sum[:8])
}

// Budget is the shared state of one Assemblyline user's quota, kept as JSON
// in one KV key and changed only by compare-and-set.
type Budget struct {
	Server string `json:"server"`
	User   string `json:"user"`
	// Quota is the server's per-user concurrent-call quota; Origin says
	// where it comes from.
	Quota  int    `json:"quota"`
	Origin string `json:"source"`
	// Size is what alharvest's processes may hold together: Quota, less
	// what other tools on the same user were seen to use (their calls show
	// up as 503s while alharvest stays within Size).
	Size int `json:"size"`
	// Changed is when Size or Quota last moved (Unix ms): shrinks, regrowth
	// and probes are paced from it.
	Changed int64 `json:"changed_ms"`
	// Holders are the processes taking part, by random id.
	Holders map[string]*Holder `json:"holders"`
}

// Holder is one process's lease on part of a budget.
type Holder struct {
	// Name says who it is: binary@host:pid.
	Name string `json:"name"`
	// Held is how many slots it holds; it may run that many calls at once.
	Held int `json:"held"`
	// Want is its demand (calls under way or waiting, capped at the size).
	Want int `json:"want"`
	// Expires is when the lease lapses unless renewed (Unix ms); any
	// process may then drop the holder and reuse its slots.
	Expires int64 `json:"expires_ms"`
}

// decodeBudget reads a stored record. One that does not decode, or whose
// numbers no process could have written, is an error: the caller writes the
// record afresh rather than share a budget nobody can compute.
func decodeBudget(b []byte) (*Budget, error) {
	var r Budget
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Quota < 1 || r.Size < 1 || r.Size > r.Quota {
		return nil, fmt.Errorf("quota %d, size %d: not a budget", r.Quota, r.Size)
	}
	if r.Holders == nil {
		r.Holders = map[string]*Holder{}
	}
	for id, h := range r.Holders {
		if h == nil || h.Held < 0 {
			return nil, fmt.Errorf("holder %q: not a lease", id)
		}
	}
	return &r, nil
}

func (r *Budget) clone() *Budget {
	c := *r
	c.Holders = make(map[string]*Holder, len(r.Holders))
	for id, h := range r.Holders {
		hc := *h
		c.Holders[id] = &hc
	}
	return &c
}

// held sums the slots of every holder.
func (r *Budget) held() int {
	n := 0
	for _, h := range r.Holders {
		n += h.Held
	}
	return n
}

// prune drops holders whose lease lapsed before now, or that silent (when
// set) finds silent for too long; it reports whether any was dropped.
func (r *Budget) prune(now time.Time, silent func(id string, h *Holder) bool) bool {
	ms := now.UnixMilli()
	pruned := false
	for id, h := range r.Holders {
		if h.Expires < ms || (silent != nil && silent(id, h)) {
			delete(r.Holders, id)
			pruned = true
		}
	}
	return pruned
}

// ringSteps is how many rotate periods the last-round pointer takes to go
// once round the ring of holders.
const ringSteps = 16

// targets shares Size among the holders by water-filling their wants: every
// holder with demand gets a slot in turn until the slots or the demand run
// out. When slots are fewer than the holders that want one, the last round
// goes to the holders next after a pointer on a ring (each holder sits at a
// point given by a hash of its id) that advances every rotate period: each
// holder gets its turn, and a holder joining, leaving or changing its want
// moves one slot, not all of them. Every process computes the same targets
// from the same record and clock.
func (r *Budget) targets(now time.Time, rotate time.Duration) map[string]int {
	ids := make([]string, 0, len(r.Holders))
	for id := range r.Holders {
		ids = append(ids, id)
	}
	epoch := uint64(now.UnixNano() / int64(rotate))
	pointer := uint32((epoch % ringSteps) * (1 << 32 / ringSteps))
	// Clockwise from the pointer; ties (equal hashes) by id.
	pos := make(map[string]uint32, len(ids))
	for _, id := range ids {
		pos[id] = ringPos(id) - pointer
	}
	sort.Slice(ids, func(i, j int) bool {
		di, dj := pos[ids[i]], pos[ids[j]]
		if di != dj {
			return di < dj
		}
		return ids[i] < ids[j]
	})
	out := make(map[string]int, len(ids))
	left := r.Size
	for left > 0 {
		var cands []string
		for _, id := range ids {
			if out[id] < r.Holders[id].Want {
				cands = append(cands, id)
			}
		}
		if len(cands) == 0 {
			break
		}
		if left >= len(cands) {
			for _, id := range cands {
				out[id]++
			}
			left -= len(cands)
			continue
		}
		for _, id := range cands[:left] {
			out[id]++
		}
		left = 0
	}
	return out
}

// waiting reports whether a holder other than id wants more slots than it holds.
func (r *Budget) waiting(id string) bool {
	for j, h := range r.Holders {
		if j != id && h.Want > h.Held {
			return true
		}
	}
	return false
}

// excess is how many of id's slots must go back: what it holds above its
// target, as far as other holders are owed more than the free slots give.
func (r *Budget) excess(id string, targets map[string]int) int {
	me := r.Holders[id]
	if me == nil || me.Held <= targets[id] {
		return 0
	}
	owed := 0
	for j, h := range r.Holders {
		if j != id && targets[j] > h.Held {
			owed += targets[j] - h.Held
		}
	}
	return min(me.Held-targets[id], max(0, owed-(r.Size-r.held())))
}

// give hands n of from's slots to the holders below their targets, the
// furthest below first; from's own count is the caller's to lower.
func (r *Budget) give(from string, n int, targets map[string]int) {
	ids := make([]string, 0, len(r.Holders))
	for id, h := range r.Holders {
		if id != from && targets[id] > h.Held {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		di, dj := targets[ids[i]]-r.Holders[ids[i]].Held, targets[ids[j]]-r.Holders[ids[j]].Held
		if di != dj {
			return di > dj
		}
		return ids[i] < ids[j]
	})
	for _, id := range ids {
		if n == 0 {
			return
		}
		h := r.Holders[id]
		k := min(n, targets[id]-h.Held)
		h.Held += k
		n -= k
	}
}

// ringPos places a holder on the ring. Positions are cached: targets runs
// on every change of the record in every process.
func ringPos(id string) uint32 {
	ringMu.Lock()
	defer ringMu.Unlock()
	if p, ok := ringCache[id]; ok {
		return p
	}
	if len(ringCache) > 4096 {
		clear(ringCache) // ids of processes long gone
	}
	sum := sha256.Sum256([]byte(id))
	p := binary.BigEndian.Uint32(sum[:4])
	ringCache[id] = p
	return p
}

var (
	ringMu    sync.Mutex
	ringCache = map[string]uint32{}
)

// DefaultTTL is a lease's length unless SharedConfig.TTL says otherwise.
const DefaultTTL = 2 * time.Second

// Snapshot is a Budget as shown by `alharvest status`, holders sorted by name.
type Snapshot struct {
	Key     string          `json:"key"`
	Server  string          `json:"server"`
	User    string          `json:"user"`
	Quota   int             `json:"quota"`
	Origin  string          `json:"source"`
	Size    int             `json:"size"`
	Held    int             `json:"held"`
	Holders []HolderSummary `json:"holders"`
}

// HolderSummary is one holder in a Snapshot.
type HolderSummary struct {
	Name    string    `json:"name"`
	Held    int       `json:"held"`
	Want    int       `json:"want"`
	Expires time.Time `json:"expires"`
	// Lapsed is true once the lease is past its expiry (a crashed process
	// whose slots the next writer reclaims).
	Lapsed bool `json:"lapsed"`
}

func (r *Budget) snapshot(key string, now time.Time) Snapshot {
	s := Snapshot{Key: key, Server: r.Server, User: r.User, Quota: r.Quota, Origin: r.Origin, Size: r.Size, Held: r.held()}
	for _, h := range r.Holders {
		// The expiry is the holder's clock: one an hour fast would show
		// a lease an hour long, which the processes no longer honour
		// (see leaseSeen). Show at most what a live holder can have.
		exp := time.UnixMilli(min(h.Expires, now.Add(DefaultTTL).UnixMilli()))
		s.Holders = append(s.Holders, HolderSummary{Name: h.Name, Held: h.Held, Want: h.Want, Expires: exp.UTC(), Lapsed: exp.Before(now)})
	}
	slices.SortFunc(s.Holders, func(a, b HolderSummary) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return s
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
