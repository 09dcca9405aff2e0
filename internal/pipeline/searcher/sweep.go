// One sweep: deep-paging the search from the watermark and publishing each
// page of SIDs before asking for the next.

package searcher

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/pkg/messages"
)

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
		m, err := messages.NewSIDMsg(it.SID, s.cfg.PublishedBy)
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
