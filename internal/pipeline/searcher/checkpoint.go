// The checkpoint of each scope in ALHARVEST_STATE: its key, and reading
// and storing it (the watermark is only ever moved forward).

package searcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/failure"
)

// Scope is what a sweep covers. Each scope has its own checkpoint: a change
// of server, user, threshold or filter starts a full sweep rather than
// silently skipping older submissions that now qualify.
type Scope struct {
	Server    string `json:"server,omitempty"`
	User      string `json:"user,omitempty"`
	Threshold int64  `json:"threshold"`
	Filter    string `json:"filter,omitempty"`
}

// Checkpoint is what the searcher stores in ALHARVEST_STATE for a scope.
type Checkpoint struct {
	Scope
	Watermark time.Time `json:"watermark"`
	LastSweep LastSweep `json:"last_sweep"`
	// PublishedTotal sums Published over every sweep of the scope: with a
	// webhook receiver on, the SIDs the push missed.
	PublishedTotal int64 `json:"published_total"`
}

// LastSweep records the most recent completed sweep, for `alharvest status`.
type LastSweep struct {
	Finished  time.Time `json:"finished"`
	Found     int       `json:"found"`
	Published int       `json:"published"`
	Duration  string    `json:"duration"`
	Full      bool      `json:"full"`
}

// CheckpointKey is the KV key of a scope's checkpoint.
func CheckpointKey(sc Scope) string {
	h := sha256.Sum256([]byte(sc.Server + "\x00" + sc.User + "\x00" + strconv.FormatInt(sc.Threshold, 10) + "\x00" + sc.Filter))
	return "searcher.checkpoint." + hex.EncodeToString(h[:8])
}

func (s *Searcher) scope() Scope {
	return Scope{Server: s.cfg.Server, User: s.cfg.User, Threshold: s.cfg.Threshold, Filter: s.cfg.Filter}
}

// load reads a scope's checkpoint and its revision for the compare-and-set
// in store; a missing one is the zero checkpoint (a first, full sweep).
func (s *Searcher) load(ctx context.Context, key string) (Checkpoint, uint64, error) {
	var cp Checkpoint
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return cp, 0, nil
	}
	if err != nil {
		return cp, 0, failure.Wrap(failure.Unavailable, fmt.Errorf("read checkpoint: %w", err))
	}
	if err := json.Unmarshal(e.Value(), &cp); err != nil {
		// A damaged checkpoint costs one full sweep, never a missed file.
		s.log.Warn("unreadable checkpoint; doing a full sweep", "err", err)
		return Checkpoint{}, e.Revision(), nil
	}
	return cp, e.Revision(), nil
}

// store writes the checkpoint with compare-and-set, merging with whatever a
// concurrent searcher stored so the watermark never moves backwards; added
// is this sweep's contribution to PublishedTotal.
func (s *Searcher) store(ctx context.Context, key string, cp *Checkpoint, rev uint64, added int64) error {
	base := cp.PublishedTotal
	for range 5 {
		cp.PublishedTotal = base + added
		data, err := json.Marshal(cp)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, data)
		} else {
			_, err = s.kv.Update(ctx, key, data, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return failure.Wrap(failure.Unavailable, fmt.Errorf("store checkpoint: %w", err))
		}
		other, orev, lerr := s.load(ctx, key)
		if lerr != nil {
			return lerr
		}
		if other.Watermark.After(cp.Watermark) {
			cp.Watermark = other.Watermark
		}
		base = other.PublishedTotal
		rev = orev
	}
	return failure.Errorf(failure.Unavailable, "store checkpoint: too many concurrent updates")
}

// LoadCheckpoints returns every searcher checkpoint in the bucket, for status reports.
func LoadCheckpoints(ctx context.Context, kv jetstream.KeyValue) ([]Checkpoint, error) {
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []Checkpoint
	for k := range lister.Keys() {
		if len(k) < len("searcher.checkpoint.") || k[:len("searcher.checkpoint.")] != "searcher.checkpoint." {
			continue
		}
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var cp Checkpoint
		if json.Unmarshal(e.Value(), &cp) == nil {
			out = append(out, cp)
		}
	}
	return out, nil
}
