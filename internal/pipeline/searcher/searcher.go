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
	"errors"
	"log/slog"
	"time"

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
	// PublishedBy names the publisher in SID messages (default "searcher").
	PublishedBy string
	Logger      *slog.Logger
	Observer    Observer
	// PublishTimeout bounds waiting for JetStream acks of one page (default 30 s).
	PublishTimeout time.Duration
	// Push says a webhook receiver feeds the same queue: each sweep then
	// logs how many SIDs it queued that the push had not delivered (those
	// JetStream did not report as duplicates).
	Push bool
	// Heal, when set, re-creates the streams and the bucket when a sweep
	// or a check finds them missing (broker.Healer.Heal).
	Heal func(ctx context.Context) error
	// LossCheck is how often, between sweeps, the searcher checks that its
	// checkpoint still exists (default 5 s; one KV read). One that vanished
	// — the bucket deleted, the NATS store lost with every queued SID —
	// starts a sweep at once, a full one since the watermark went with it,
	// rather than at the next Interval.
	LossCheck time.Duration
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
	if c.PublishedBy == "" {
		c.PublishedBy = messages.StageSearcher
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LossCheck <= 0 {
		c.LossCheck = 5 * time.Second
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
		case err != nil && broker.Missing(err) && s.heal(ctx):
			s.log.Warn("sweep failed on a missing stream or bucket, now re-created; sweeping again", "err", err)
			wait = time.Second
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
		if !s.waitOrLoss(ctx, wait, err == nil) {
			return nil
		}
	}
}

// waitOrLoss waits d, or less when the checkpoint a successful sweep
// stored (stored) vanishes meanwhile; it returns false once ctx ends.
func (s *Searcher) waitOrLoss(ctx context.Context, d time.Duration, stored bool) bool {
	end := time.NewTimer(d)
	defer end.Stop()
	check := time.NewTicker(s.cfg.LossCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-end.C:
			return true
		case <-check.C:
			if stored && s.checkpointLost(ctx) {
				return true
			}
		}
	}
}

// checkpointLost reports whether the checkpoint is gone, after having the
// layout re-created if the bucket went with it.
func (s *Searcher) checkpointLost(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := s.kv.Get(cctx, CheckpointKey(s.scope()))
	switch {
	case err == nil:
		return false
	case errors.Is(err, jetstream.ErrKeyNotFound):
		s.log.Warn("the searcher's checkpoint is gone (bucket deleted or NATS store lost); sweeping now, in full")
		return true
	case broker.Missing(err) && s.heal(ctx):
		s.log.Warn("the state bucket was missing and is re-created; sweeping now, in full", "err", err)
		return true
	}
	return false
}

// heal has the layout re-created; it reports whether that worked.
func (s *Searcher) heal(ctx context.Context) bool {
	return s.cfg.Heal != nil && s.cfg.Heal(ctx) == nil
}
