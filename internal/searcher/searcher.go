// Package searcher is the first stage: it deep-pages Assemblyline's
// submission search for max_score >= threshold and publishes every SID it
// finds to the SIDs work queue.
//
// It keeps a watermark — the latest times.completed it has seen — in the
// ALHARVEST_STATE bucket, so the next sweep searches only from the watermark
// minus a safety overlap instead of from the beginning of time. The
// watermark moves only after a sweep published everything it found, and
// never backwards; SIDs published twice are dropped by JetStream's
// de-duplication or scored again harmlessly.
package searcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Source is the part of Assemblyline the searcher reads.
type Source interface {
	SearchSubmissions(ctx context.Context, req assemblyline.SearchRequest, fn func(items []assemblyline.SearchItem) error) error
}

// Publisher is the part of JetStream the searcher writes to.
type Publisher = broker.AsyncPublisher

// Observer is told about sweeps (metrics, reports).
type Observer interface {
	Page(items int)
	SweepDone(found, published int, watermark time.Time, err error)
}

// Config tunes the searcher.
type Config struct {
	// Server and User name the Assemblyline server and user searched
	// (AL_URL, AL_USER). With Threshold and Filter they decide which
	// checkpoint a sweep uses: another server or user sees other
	// submissions, so it must never inherit a watermark.
	Server, User string
	// Threshold is SCORE_THRESHOLD: the query is max_score:>=Threshold.
	Threshold int64
	// Filter is SEARCH_FILTER, an extra Lucene filter (optional).
	Filter string
	// Interval between sweeps in service mode (SEARCH_INTERVAL, default 5 min).
	Interval time.Duration
	// Overlap is subtracted from the watermark so that submissions indexed
	// late, or stamped by a server with a slightly slow clock, are still
	// found (SEARCH_OVERLAP, default 10 min).
	Overlap time.Duration
	// Rows per page (SEARCH_PAGE_SIZE, default 500).
	Rows int
	// MaxRestarts bounds how often one sweep restarts after its deep-paging
	// cursor expired (default 3). Beyond that the sweep fails loudly.
	MaxRestarts int
	// Source names the publisher in SID messages (default "searcher").
	Source   string
	Logger   *slog.Logger
	Observer Observer
	// PublishTimeout bounds waiting for JetStream acks of one page (default 30 s).
	PublishTimeout time.Duration
	// Push says a webhook receiver feeds the same queue: each sweep then
	// logs how many SIDs it queued that the push had not delivered (those
	// JetStream did not report as duplicates).
	Push bool
}

func (c *Config) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = 5 * time.Minute
	}
	if c.Overlap < 0 {
		c.Overlap = 0
	} else if c.Overlap == 0 {
		c.Overlap = 10 * time.Minute
	}
	if c.Rows <= 0 {
		c.Rows = 500
	}
	if c.MaxRestarts <= 0 {
		c.MaxRestarts = 3
	}
	if c.Source == "" {
		c.Source = messages.StageSearcher
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
}

// Searcher sweeps Assemblyline and feeds the SIDs queue.
type Searcher struct {
	al  Source
	pub Publisher
	kv  jetstream.KeyValue
	cfg Config
	log *slog.Logger
}

// New returns a searcher. kv is the ALHARVEST_STATE bucket.
func New(al Source, pub Publisher, kv jetstream.KeyValue, cfg Config) *Searcher {
	cfg.setDefaults()
	return &Searcher{al: al, pub: pub, kv: kv, cfg: cfg, log: cfg.Logger.With("stage", messages.StageSearcher)}
}

// SweepResult summarises one sweep.
type SweepResult struct {
	// Found counts SIDs returned by the search (including repeats after a
	// cursor restart); Published counts those JetStream stored as new.
	Found, Published int
	// Since is the lower bound on times.completed used (zero: full sweep).
	Since time.Time
	// Watermark is the watermark after the sweep.
	Watermark time.Time
	Restarts  int
	// Clamped counts items whose times.completed lay beyond the sweep's
	// own clock plus Overlap; they moved the watermark only that far.
	Clamped  int
	Started  time.Time
	Duration time.Duration

	furthest time.Time // the latest clamped times.completed, for the warning
}

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

// Run sweeps now and then every Interval until ctx ends. A failed sweep is
// logged and retried at the next interval (sooner if it failed early).
func (s *Searcher) Run(ctx context.Context) error { return s.RunEach(ctx, nil) }

// RunEach is Run that also hands each sweep's result to each (when not
// nil) before waiting for the next, so a caller can account for every sweep.
func (s *Searcher) RunEach(ctx context.Context, each func(SweepResult, error)) error {
	for {
		res, err := s.Sweep(ctx)
		if each != nil && ctx.Err() == nil {
			each(res, err)
		}
		wait := s.cfg.Interval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Error("sweep failed; will retry", "err", err, "kind", failure.KindOf(err))
			if failure.ActionFor(err) != failure.Halt && wait > time.Minute {
				wait = time.Minute
			}
		case s.cfg.Push:
			s.log.Info("sweep done; reconciled with the webhook push", "found", res.Found, "published", res.Published,
				"missed_by_push", res.Published, "already_queued", res.Found-res.Published,
				"since", res.Since, "watermark", res.Watermark, "took", res.Duration.Round(time.Millisecond))
		default:
			s.log.Info("sweep done", "found", res.Found, "published", res.Published,
				"since", res.Since, "watermark", res.Watermark, "took", res.Duration.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Sweep runs one complete search from the checkpoint and publishes every SID.
func (s *Searcher) Sweep(ctx context.Context) (res SweepResult, err error) {
	res.Started = time.Now()
	defer func() {
		res.Duration = time.Since(res.Started)
		if s.cfg.Observer != nil {
			s.cfg.Observer.SweepDone(res.Found, res.Published, res.Watermark, err)
		}
	}()

	key := CheckpointKey(s.scope())
	cp, rev, err := s.load(ctx, key)
	if err != nil {
		return res, err
	}
	if bound := res.Started.Add(s.cfg.Overlap); cp.Watermark.After(bound) {
		// Stored by a version without the bound below, or by a clock
		// since set back: sweeping from there would find nothing.
		s.log.Warn("the stored watermark is in the future; sweeping from this sweep's clock plus SEARCH_OVERLAP instead",
			"stored", cp.Watermark, "watermark_bound", bound.UTC())
		cp.Watermark = bound
	}
	res.Watermark = cp.Watermark
	if !cp.Watermark.IsZero() {
		res.Since = cp.Watermark.Add(-s.cfg.Overlap)
	}

	latest := cp.Watermark
	for attempt := 0; ; attempt++ {
		err = s.search(ctx, res.Since, &res, &latest)
		if err == nil {
			break
		}
		if failure.KindOf(err) == failure.CursorExpired && attempt < s.cfg.MaxRestarts {
			res.Restarts++
			s.log.Warn("deep-paging cursor expired; restarting the sweep (repeats are de-duplicated)", "restart", res.Restarts)
			continue
		}
		if failure.KindOf(err) == failure.BadRequest && !res.Since.IsZero() && res.Found == 0 {
			// A server that rejects the range filter still gets a full,
			// correct sweep, just a slower one.
			s.log.Warn("server rejected the watermark filter; sweeping everything instead", "err", err)
			res.Since = time.Time{}
			continue
		}
		return res, fmt.Errorf("sweep: %w", err)
	}
	if res.Clamped > 0 {
		s.log.Warn("search items completed in the future: Assemblyline's clock or data is off; the watermark was held at this sweep's clock plus SEARCH_OVERLAP",
			"items", res.Clamped, "latest_reported", res.furthest, "watermark_bound", res.Started.Add(s.cfg.Overlap).UTC())
	}

	cp.Scope = s.scope()
	if latest.After(cp.Watermark) {
		cp.Watermark = latest
	}
	cp.LastSweep = LastSweep{
		Finished: time.Now().UTC(), Found: res.Found, Published: res.Published,
		Duration: time.Since(res.Started).Round(time.Millisecond).String(), Full: res.Since.IsZero(),
	}
	if err := s.store(ctx, key, &cp, rev, int64(res.Published)); err != nil {
		return res, err
	}
	res.Watermark = cp.Watermark
	return res, nil
}

// search pages through one search and publishes each page before asking
// for the next, so the watermark never gets ahead of what is queued.
func (s *Searcher) search(ctx context.Context, since time.Time, res *SweepResult, latest *time.Time) error {
	req := assemblyline.SearchRequest{
		Query:  "max_score:>=" + strconv.FormatInt(s.cfg.Threshold, 10),
		Fields: []string{"sid", "times.completed"},
		Rows:   s.cfg.Rows,
	}
	if s.cfg.Filter != "" {
		req.Filters = append(req.Filters, s.cfg.Filter)
	}
	if !since.IsZero() {
		req.Filters = append(req.Filters, fmt.Sprintf("times.completed:[%q TO *]", since.UTC().Format(time.RFC3339Nano)))
	}
	return s.al.SearchSubmissions(ctx, req, func(items []assemblyline.SearchItem) error {
		if s.cfg.Observer != nil {
			s.cfg.Observer.Page(len(items))
		}
		res.Found += len(items)
		n, err := s.publish(ctx, items)
		res.Published += n
		if err != nil {
			return err
		}
		// A times.completed in the future (a server clock far ahead, a
		// bogus document) must not pin the watermark there: every later
		// sweep would search from the future and miss all new work.
		bound := res.Started.Add(s.cfg.Overlap)
		for _, it := range items {
			c := it.Completed
			if c.After(bound) {
				res.Clamped++
				if c.After(res.furthest) {
					res.furthest = c
				}
				c = bound
			}
			if c.After(*latest) {
				*latest = c
			}
		}
		return nil
	})
}

// publish queues one page of SIDs and waits until JetStream stored them
// all; it returns how many were new (not dropped as duplicates).
func (s *Searcher) publish(ctx context.Context, items []assemblyline.SearchItem) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
	defer cancel()
	msgs := make([]*nats.Msg, 0, len(items))
	for _, it := range items {
		m, err := messages.NewSIDMsg(it.SID, s.cfg.Source)
		if err != nil {
			s.log.Warn("skipping invalid SID from search", "err", err)
			continue
		}
		msgs = append(msgs, m)
	}
	acks, err := broker.PublishAll(ctx, s.pub, msgs)
	fresh := 0
	for _, ack := range acks {
		if !ack.Duplicate {
			fresh++
		}
	}
	if err != nil {
		return fresh, fmt.Errorf("publish sids: %w", err)
	}
	return fresh, nil
}

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
