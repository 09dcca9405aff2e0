package assemblyline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

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

// envelope is the wrapper of every JSON answer. api_response is decoded
// straight into the caller's type in the same pass as the rest: one scan to
// validate, one to decode, however large the document.
type envelope[T any] struct {
	Response *T     `json:"api_response"`
	Message  string `json:"api_error_message"`
	Version  string `json:"api_server_version"`
	Code     int    `json:"api_status_code"`
}

// errorEnvelope reads what matters of an error answer, whatever api_response
// holds there ("", {}, or a dict of login hints).
type errorEnvelope struct {
	Message string `json:"api_error_message"`
	Code    int    `json:"api_status_code"`
}

// typeErrorTolerant is implemented by answer types that accept one specific
// wrong JSON type and deal with it themselves (submission/full's results is
// an empty list, not a dict, while a submission runs).
type typeErrorTolerant interface {
	tolerates(e *json.UnmarshalTypeError) bool
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readAnswer reads the whole answer (within limit) and decodes it. An error
// status outranks anything wrong with the body: a 401 is a 401 even if its
// body was cut off.
func readAnswer[T any](x *exchange, limit int64) (*T, error) {
	c, op := x.c, x.ep.op
	br := x.body(limit, "answer")
	buf := bodyPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 4<<20 { // do not keep an outsized buffer alive
			buf.Reset()
			bodyPool.Put(buf)
		}
	}()
	buf.Reset()
	_, rerr := buf.ReadFrom(br)
	status := x.resp.StatusCode

	if status < 200 || status > 299 {
		if !isEnvelope(buf.Bytes()) && foreignAnswer(status) {
			return nil, c.foreignError(op, status, x.resp.Header.Get("Content-Type"), br.head)
		}
		var env errorEnvelope
		derr := json.Unmarshal(buf.Bytes(), &env)
		var msg string
		switch {
		case derr != nil && !isTypeError(derr):
			msg = "non-JSON answer: " + c.excerpt(br.head)
		case env.Message == "":
			msg = "answer without api_error_message: " + c.excerpt(br.head)
		default:
			msg = env.Message
		}
		if loc := x.resp.Header.Get("Location"); status >= 300 && status < 400 && loc != "" {
			msg = fmt.Sprintf("redirected to %s, which is not followed so the API key goes nowhere else; fix the base URL (%s)", c.quote(loc), msg)
		}
		code := 0
		if derr == nil {
			code = env.Code
		}
		return nil, c.apiError(op, status, code, msg)
	}
	if rerr != nil && !json.Valid(buf.Bytes()) {
		// A body cut short is an error, unless what arrived is complete
		// JSON: then only the server's Content-Length was off.
		return nil, br.err
	}

	fast := new(T)
	if fd, ok := any(fast).(fastDecoder); ok && fd.decodeFast(buf.Bytes()) {
		return fast, nil
	}
	var env envelope[T]
	derr := json.Unmarshal(buf.Bytes(), &env)
	var te *json.UnmarshalTypeError
	if derr != nil && !errors.As(derr, &te) {
		return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON, a proxy page or a truncated body is the likely cause (%s); it starts: %s", op, c.redact(derr.Error()), c.excerpt(br.head))
	}
	if te != nil {
		// Rare: find out whether the envelope itself is wrong, which
		// Unmarshal may not have said (it reports the first mismatch only).
		var meta struct {
			Message json.RawMessage `json:"api_error_message"`
			Code    json.RawMessage `json:"api_status_code"`
		}
		_ = json.Unmarshal(buf.Bytes(), &meta)
		if !jsonKind(meta.Message, '"') || !jsonKind(meta.Code, '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9') {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON (api_error_message or api_status_code of the wrong type); it starts: %s", op, c.excerpt(br.head))
		}
	}
	switch {
	case env.Message != "":
		// The 415 quirk: an error under HTTP 200.
		return nil, c.apiError(op, status, env.Code, env.Message)
	case te != nil && strings.HasPrefix(te.Field, "api_response"):
		if t, ok := any(env.Response).(typeErrorTolerant); !ok || env.Response == nil || !t.tolerates(te) {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: api_response does not have the expected structure (%s); a proxy or an incompatible server version is the likely cause", op, c.redact(te.Error()))
		}
	case te != nil:
		return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer is not the expected JSON (%s); it starts: %s", op, c.redact(te.Error()), c.excerpt(br.head))
	}
	if env.Response == nil {
		if !hasKey(buf.Bytes(), "api_response") {
			return nil, failure.Errorf(failure.Unavailable, "assemblyline %s: the answer has no api_response", op)
		}
		env.Response = new(T) // "api_response": null; the type's own checks reject it
	}
	return env.Response, nil
}

// jsonKind reports whether raw is absent or starts like one of the given
// JSON value kinds.
func jsonKind(raw json.RawMessage, first ...byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return true
	}
	return bytes.IndexByte(first, raw[0]) >= 0
}

func isTypeError(err error) bool {
	var te *json.UnmarshalTypeError
	return errors.As(err, &te)
}

// hasKey reports whether a JSON object text mentions "key" as a key; only
// used to tell a null api_response from a missing one.
func hasKey(doc []byte, key string) bool {
	return bytes.Contains(doc, []byte(`"`+key+`"`))
}

// callJSON performs a call whose answer is a JSON envelope, decodes
// api_response into a fresh T on each attempt and converts it; conversion
// errors count as the attempt's outcome.
func callJSON[T, R any](ctx context.Context, c *Client, ep endpoint, path string, body []byte, convert func(*T) (R, error)) (R, error) {
	var out R
	err := c.retry(ctx, ep, func(n int) error {
		x, err := c.send(ctx, ep, path, "", body, n)
		if err != nil {
			return err
		}
		if st := x.status(); st != http.StatusServiceUnavailable && st != http.StatusTooManyRequests {
			// Assemblyline frees the caller's quota slot before it sends
			// the answer; so do we, rather than hold it while the body
			// travels and decodes. A 503 (or a proxy's 429) must be read
			// first: only its message tells a quota rejection apart.
			x.release(false)
		}
		v, err := readAnswer[T](x, c.maxJSON)
		if err == nil {
			out, err = convert(v)
		}
		x.finish(err)
		return err
	})
	return out, err
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
