// Repeating a call: the one retry loop every endpoint goes through.

package assemblyline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/alharvest/alharvest/internal/failure"
)

// retry runs attempt until it succeeds, fails in a way failure.Retryable
// says a repeat cannot fix, or MaxRetries repeats are spent. A 500 is
// repeated too, search pages included: a page request with the same
// deep_paging_id is idempotent (same point in time, same search_after), and
// the one deterministic 500 the API documents — a malformed cursor id —
// cannot come from us, since we only send ids the server gave. Restarting a
// long sweep on every transient 500 would never finish. attempt may return
// a backoff.Permanent error to stop at once with the wrapped error untouched.
func (c *Client) retry(ctx context.Context, ep endpoint, attempt func(n int) error) error {
	eb := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(c.retryInitial),
		backoff.WithMaxInterval(c.retryMax),
		backoff.WithMaxElapsedTime(0),
	)
	b := backoff.WithContext(backoff.WithMaxRetries(eb, uint64(c.maxRetries)), ctx)
	var (
		n         int
		last      error
		permanent bool
	)
	err := backoff.RetryNotify(func() error {
		n++
		err := attempt(n)
		last, permanent = err, false
		if err == nil {
			return nil
		}
		var pe *backoff.PermanentError
		if errors.As(err, &pe) || !failure.Retryable(err) {
			permanent = true
			if pe == nil {
				err = backoff.Permanent(err)
			}
		}
		return err
	}, b, func(err error, d time.Duration) {
		c.log.LogAttrs(ctx, slog.LevelDebug, "assemblyline: retrying",
			slog.String("endpoint", ep.label), slog.Int("attempt", n), slog.Duration("pause", d))
	})
	switch {
	case err == nil:
		return nil
	case last != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && !errors.Is(last, ctx.Err()):
		// backoff gave up because the caller's context ended during a pause;
		// keep what actually went wrong in the message.
		return fmt.Errorf("assemblyline %s: %w (last failure: %s)", ep.op, err, last.Error())
	case last != nil && ctx.Err() != nil && errors.Is(last, ctx.Err()):
		// The caller's context ended the attempt itself; backoff hands back
		// the bare ctx.Err(), the attempt's error says which call and where.
		return last
	case !permanent && n > 1:
		return fmt.Errorf("%w (gave up after %d attempts)", err, n)
	default:
		return err
	}
}
