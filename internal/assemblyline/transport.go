// One HTTP round trip: sending a request through the quota gate, reading
// its body under a stall watchdog and a size limit, and settling it.

package assemblyline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alharvest/alharvest/internal/failure"
)

// endpoint names one of the three calls, for errors, metrics and retries.
type endpoint struct {
	op     string // in errors: "search", "submission/full", "download"
	label  string // in Call: "search", "submission_full", "download"
	method string
}

var (
	epSearch   = endpoint{op: "search", label: "search", method: http.MethodPost}
	epFull     = endpoint{op: "submission/full", label: "submission_full", method: http.MethodGet}
	epDownload = endpoint{op: "download", label: "download", method: http.MethodGet}
)

// errStalled is the cause the watchdog cancels an attempt with.
var errStalled = errors.New("stalled")

// headBytes of every answer are kept for the excerpt of a non-JSON error body.
const headBytes = 512

// exchange is one HTTP attempt from the gate's Acquire to the end.
type exchange struct {
	c        *Client
	ep       endpoint
	path     string
	n        int
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelCauseFunc
	wd       *watchdog
	start    time.Time
	resp     *http.Response
	holding  bool // the gate is held
	finished bool
}

// send acquires the gate and sends one request. On error the attempt is
// already finished (gate released, observed, logged).
func (c *Client) send(ctx context.Context, ep endpoint, path, query string, body []byte, n int) (*exchange, error) {
	if c.gate != nil {
		if err := c.gate.Acquire(ctx); err != nil {
			return nil, fmt.Errorf("assemblyline %s: waiting for a call slot: %w", ep.op, err)
		}
	}
	x := &exchange{c: c, ep: ep, path: path, n: n, parent: ctx, start: time.Now(), holding: c.gate != nil}
	x.ctx, x.cancel = context.WithCancelCause(ctx)
	x.wd = newWatchdog(c.stall, x.cancel)

	target := c.base + path
	if query != "" {
		target += "?" + query
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(x.ctx, ep.method, target, rd)
	if err != nil {
		// The base URL was validated and path segments escaped, so this is
		// a bug rather than bad input; the message never holds the key.
		err = failure.Errorf(failure.Invalid, "assemblyline %s: building the request: %w", ep.op, err)
		x.finish(err)
		return nil, err
	}
	req.Header.Set("X-USER", c.user)
	req.Header.Set("X-APIKEY", c.apiKey)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "alharvest")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	x.wd.arm()
	resp, err := c.hc.Do(req)
	x.wd.disarm()
	if err != nil {
		err = c.transportError(ctx, x.ctx, ep.op, err)
		x.finish(err)
		return nil, err
	}
	x.resp = resp
	return x, nil
}

// status is the HTTP status, 0 before a response.
func (x *exchange) status() int {
	if x.resp == nil {
		return 0
	}
	return x.resp.StatusCode
}

// release hands the gate back, once.
func (x *exchange) release(quota bool) {
	if x.holding {
		x.holding = false
		x.c.gate.Release(quota)
	}
}

// body wraps the response body with the watchdog, an optional size cap
// (limit 0 = none) and error tagging.
func (x *exchange) body(limit int64, what string) *bodyReader {
	return &bodyReader{x: x, r: x.resp.Body, limit: limit, what: what, size: x.resp.ContentLength}
}

// finish ends the attempt: gate, body, context, metrics and the debug log.
func (x *exchange) finish(err error) {
	if x.finished {
		return
	}
	x.finished = true
	q := quotaRejected(err)
	if n := QuotaOf(err); n > 0 && x.holding {
		if ql, ok := x.c.gate.(QuotaLearner); ok {
			ql.LearnQuota(n)
		}
	}
	x.release(q)
	if x.resp != nil {
		if err == nil {
			// Read what is left (usually jsonify's final newline) so the
			// connection can be reused.
			x.wd.arm()
			_, _ = io.CopyN(io.Discard, x.resp.Body, 4<<10)
			x.wd.disarm()
		}
		x.resp.Body.Close()
	}
	x.wd.disarm()
	x.cancel(context.Canceled)

	d := time.Since(x.start)
	if x.c.observe != nil {
		x.c.observe(Call{Endpoint: x.ep.label, Status: x.status(), Duration: d, QuotaRejected: q, Err: err})
	}
	if x.c.log.Enabled(x.parent, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("endpoint", x.ep.label), slog.String("path", x.path), slog.Int("attempt", x.n),
			slog.Int("status", x.status()), slog.Duration("duration", d),
		}
		if q {
			attrs = append(attrs, slog.Bool("quota_rejected", true))
		}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		x.c.log.LogAttrs(x.parent, slog.LevelDebug, "assemblyline: call", attrs...)
	}
}

// watchdog cancels an attempt when one wait (for headers, or inside one body
// Read) lasts longer than the stall timeout. It only runs while the client is
// waiting on the network, so a slow consumer does not count as a stall.
type watchdog struct {
	d time.Duration
	t *time.Timer
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc) *watchdog {
	t := time.AfterFunc(time.Hour, func() { cancel(errStalled) })
	t.Stop()
	return &watchdog{d: d, t: t}
}

func (w *watchdog) arm()    { w.t.Reset(w.d) }
func (w *watchdog) disarm() { w.t.Stop() }

// bodyReader reads a response body. Its errors are tagged: network failures
// as Unavailable or Timeout, the cap as TooLarge; the first one sticks, and
// err holds it so callers can tell it from their own errors.
type bodyReader struct {
	x     *exchange
	r     io.Reader
	limit int64
	what  string // "answer" or "file", for messages
	size  int64  // Content-Length or -1
	n     int64
	head  []byte
	err   error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if b.limit > 0 && int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1] // one byte past the cap is enough to know
	}
	b.x.wd.arm()
	n, err := b.r.Read(p)
	b.x.wd.disarm()
	if len(b.head) < headBytes {
		b.head = append(b.head, p[:min(n, headBytes-len(b.head))]...)
	}
	b.n += int64(n)
	if b.limit > 0 && b.n > b.limit {
		n -= int(b.n - b.limit)
		b.n = b.limit
		b.err = failure.Errorf(failure.TooLarge, "assemblyline %s: the %s exceeds the %d-byte limit", b.x.ep.op, b.what, b.limit)
		return n, b.err
	}
	if err != nil && err != io.EOF {
		b.err = b.tag(err)
		return n, b.err
	}
	return n, err
}

func (b *bodyReader) tag(err error) error {
	op := b.x.ep.op
	switch {
	case b.x.parent.Err() != nil:
		return fmt.Errorf("assemblyline %s: reading the %s: %w", op, b.what, b.x.parent.Err())
	case errors.Is(context.Cause(b.x.ctx), errStalled):
		return failure.Errorf(failure.Timeout, "assemblyline %s: the %s stalled: nothing received for %s after %d bytes", op, b.what, b.x.c.stall, b.n)
	case errors.Is(err, io.ErrUnexpectedEOF):
		of := "an unknown number of"
		if b.size >= 0 {
			of = fmt.Sprint(b.size)
		}
		return failure.Errorf(failure.Unavailable, "assemblyline %s: the %s was cut off after %d of %s bytes: %w", op, b.what, b.n, of, err)
	default:
		kind := failure.Unavailable
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			kind = failure.Timeout
		}
		return failure.Errorf(kind, "assemblyline %s: reading the %s after %d bytes: %w", op, b.what, b.n, err)
	}
}
