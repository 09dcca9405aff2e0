package assemblyline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/failure"
)

// APIError is an answer the server (or a proxy in front of it) gave instead
// of what was asked: an HTTP error status, or an envelope with a non-empty
// api_error_message even under HTTP 200.
type APIError struct {
	// Op is the call: "search", "submission/full" or "download".
	Op string
	// Status is the HTTP status; 200 for an error carried by a 200 answer.
	Status int
	// Message is api_error_message, or a short printable excerpt of a body
	// that was not an Assemblyline envelope. The API key is scrubbed from it.
	Message string
	// Kind classifies the error for the pipeline.
	Kind failure.Kind
	// Foreign is set when the answer was not Assemblyline's JSON envelope
	// (a proxy's or an ingress's page); Message then says so and names the
	// host that answered.
	Foreign bool
}

// Error reads like "assemblyline search: HTTP 503 Service Unavailable: You've
// exceeded your maximum concurrent API calls quota of 10".
func (e *APIError) Error() string {
	if e.Foreign {
		return fmt.Sprintf("assemblyline %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("assemblyline %s: HTTP %d %s: %s", e.Op, e.Status, http.StatusText(e.Status), e.Message)
}

// FailureKind implements failure.Kinder, so failure.KindOf sees through any
// wrapping of an APIError.
func (e *APIError) FailureKind() failure.Kind { return e.Kind }

// classify maps an Assemblyline error answer to a kind. status is the status
// that describes the error: the HTTP status, or api_status_code when only the
// envelope carries it; op is the call.
func classify(op string, status int, msg string) failure.Kind {
	lower := strings.ToLower(msg)
	switch {
	case status == http.StatusUnauthorized:
		return failure.Auth
	case status == http.StatusForbidden && op == epFull.op && strings.Contains(lower, "not allowed to view"):
		// "You are not allowed to view the data of this submission": this
		// one submission's classification is above the user's, which no
		// retry will change; other submissions are fine. Not a reason to
		// halt the stage.
		return failure.NotFound
	case status == http.StatusForbidden:
		return failure.Forbidden
	case status == http.StatusNotFound && strings.HasPrefix(lower, "api does not exist"):
		// Assemblyline itself says the route is unknown: the base URL's
		// path is wrong (or the server too old), for every message alike.
		// Like a redirect, a fixed configuration cures it, so the stage
		// halts and reports why instead of dead-lettering good work.
		return failure.Forbidden
	case status == http.StatusNotFound, status == http.StatusGone:
		return failure.NotFound
	case status == http.StatusBadRequest && strings.Contains(lower, "no search context found"):
		// An expired or closed deep-paging cursor (Elasticsearch PIT); the
		// sweep has to start again from "*".
		return failure.CursorExpired
	case status == http.StatusServiceUnavailable && strings.Contains(lower, "quota") && strings.Contains(lower, "daily"):
		return failure.QuotaDaily
	case status == http.StatusServiceUnavailable && strings.Contains(lower, "quota") && strings.Contains(lower, "concurrent"):
		return failure.QuotaConcurrent
	case status == http.StatusTooManyRequests:
		// Assemblyline never says 429, but a rate-limiting proxy does: slow down.
		return failure.QuotaConcurrent
	case status == http.StatusRequestTimeout:
		return failure.Timeout
	case status >= 500:
		return failure.Unavailable
	case status >= 300 && status < 400:
		// Redirects are never followed, since X-APIKEY would go along; one
		// means the base URL is wrong, which no message retry can fix but a
		// fixed configuration can, so the stage halts.
		return failure.Forbidden
	default:
		// Other 4xx, and an error carried by a 2xx (the 415 quirk): the
		// request itself is wrong.
		return failure.BadRequest
	}
}

// apiError builds the error for an error answer. apiCode is the envelope's
// api_status_code (0 when unknown); it decides only when the HTTP status does
// not look like an error.
func (c *Client) apiError(op string, status, apiCode int, msg string) *APIError {
	effective := status
	if status < 400 && apiCode >= 400 {
		effective = apiCode
	}
	msg = c.redact(msg)
	if msg == "" {
		msg = "(no message)"
	}
	kind := classify(op, effective, msg)
	// A hostile api_error_message may be as long as MaxJSONBytes.
	msg = strings.ToValidUTF8(failure.Clip(msg, 1000), "")
	if effective == http.StatusNotFound && kind == failure.Forbidden {
		msg += "; the API path is wrong: check AL_URL (the base URL, without /api/v4)"
	}
	if effective != status {
		msg = fmt.Sprintf("%s (api_status_code %d)", msg, apiCode)
	}
	return &APIError{Op: op, Status: status, Message: msg, Kind: kind}
}

// quotaRejected reports whether err is the server's concurrent-call refusal,
// which an adaptive Gate wants to hear about.
func quotaRejected(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Kind == failure.QuotaConcurrent
}

// QuotaOf returns the N of a concurrent-quota refusal ("You've exceeded
// your maximum concurrent API calls quota of N"), or 0 when err is not one
// or does not name it (a proxy's 429).
func QuotaOf(err error) int {
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind != failure.QuotaConcurrent {
		return 0
	}
	_, rest, ok := strings.Cut(strings.ToLower(ae.Message), "quota of ")
	if !ok {
		return 0
	}
	n := 0
	for _, r := range rest {
		if r < '0' || r > '9' || n > 1<<20 {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// transportError classifies a failure to get any response. parent is the
// caller's context, attempt the per-attempt one the stall watchdog cancels.
func (c *Client) transportError(parent, attempt context.Context, op string, err error) error {
	if parent.Err() != nil {
		// Untagged on purpose: failure.KindOf reports Canceled or Timeout.
		return fmt.Errorf("assemblyline %s: %w", op, parent.Err())
	}
	if errors.Is(context.Cause(attempt), errStalled) {
		return failure.Errorf(failure.Timeout, "assemblyline %s: no response within %s", op, c.stall)
	}
	if isTLSVerifyError(err) {
		// A certificate that does not verify will not verify on a retry and
		// no message is at fault: the stage is misconfigured and must halt.
		return failure.Errorf(failure.Auth, "assemblyline %s: the server's TLS certificate was not accepted (set AL_CA_FILE to its CA bundle): %w", op, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failure.Errorf(failure.Timeout, "assemblyline %s: %w", op, err)
	}
	return failure.Errorf(failure.Unavailable, "assemblyline %s: %w", op, err)
}

func isTLSVerifyError(err error) bool {
	var (
		cv   *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		host x509.HostnameError
		inv  x509.CertificateInvalidError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inv)
}

// excerpt makes a short, single-line, printable text of the start of a body
// that was not an Assemblyline envelope, such as a proxy's HTML error page.
func excerpt(b []byte) string {
	const max = 200
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		s = stripTags(s)
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// stripTags reduces an HTML page to its text, which is where a proxy puts
// "502 Bad Gateway".
func stripTags(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		switch {
		case r == '<':
			in = true
			b.WriteByte(' ')
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printable quotes and shortens a server-provided identifier for a message.
func printable(s string) string {
	return fmt.Sprintf("%q", strings.ToValidUTF8(failure.Clip(s, 100), "\uFFFD"))
}
