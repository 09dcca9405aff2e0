// Package failure names what went wrong and decides, in one place, what the
// pipeline does about it.
//
// Code that meets an error describes it with a Kind (Wrap); nothing else in
// alharvest decides whether an error is worth retrying. ActionFor maps a Kind
// to an Action for the worker loop, and Retryable answers the narrower
// question an HTTP client asks before trying the same call again in-process.
package failure

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"unicode/utf8"
)

// Kind describes what went wrong, independently of what to do about it.
type Kind uint8

// The kinds of failure alharvest distinguishes.
const (
	// Unknown is any error nobody classified. It is retried, with a bound,
	// because losing work to an unforeseen hiccup is worse than retrying.
	Unknown Kind = iota
	// Invalid input can never succeed: a malformed message, a bad hash.
	Invalid
	// NotFound: the submission or file does not exist on the server.
	NotFound
	// Auth: the server refused the credentials (HTTP 401).
	Auth
	// Forbidden: the credentials lack a role or access (HTTP 403).
	Forbidden
	// QuotaDaily: the user's daily API quota is spent.
	QuotaDaily
	// QuotaConcurrent: too many concurrent calls for this user; slow down.
	QuotaConcurrent
	// Unavailable: 5xx, connection refused or reset, truncated response.
	Unavailable
	// Timeout: the call or the server took too long.
	Timeout
	// NotReady: the thing exists but is not finished (submission still
	// running, results still being written). Try again later.
	NotReady
	// Corrupt: the server sent bytes that fail verification.
	Corrupt
	// CursorExpired: a deep-paging cursor is gone; the sweep must restart.
	CursorExpired
	// BadRequest: the server rejected the request itself (HTTP 400 other
	// than an expired cursor). Retrying the same request will not help.
	BadRequest
	// TooLarge: an answer exceeded the size alharvest is willing to read.
	TooLarge
	// Canceled: alharvest itself is shutting down; the work is handed back.
	Canceled
	// Storage: the local disk refuses our writes (full, read-only, no
	// permission). Every message would fail the same way.
	Storage
	// Terminal: the thing reached an end state that is not success (a
	// submission Assemblyline marked "failed"); no retry or wait changes it.
	Terminal
	// Panic: the handler panicked on this message, a bug that a retry
	// would only repeat (and that would otherwise crash the process).
	Panic
	// Resources: this process or its host ran out of something every
	// message needs — file descriptors (EMFILE, ENFILE), kernel buffers or
	// memory (ENOBUFS, ENOMEM). No message is at fault; the stage waits
	// until some are freed.
	Resources
)

var kindNames = [...]string{
	Unknown:         "unknown",
	Invalid:         "invalid",
	NotFound:        "not_found",
	Auth:            "auth",
	Forbidden:       "forbidden",
	QuotaDaily:      "quota_daily",
	QuotaConcurrent: "quota_concurrent",
	Unavailable:     "unavailable",
	Timeout:         "timeout",
	NotReady:        "not_ready",
	Corrupt:         "corrupt",
	CursorExpired:   "cursor_expired",
	BadRequest:      "bad_request",
	TooLarge:        "too_large",
	Canceled:        "canceled",
	Storage:         "storage",
	Terminal:        "terminal",
	Panic:           "panic",
	Resources:       "resources",
}

// String returns a short snake_case name, suitable as a metric label value.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Action is what the worker loop does with a message whose handling failed.
type Action uint8

// The actions, from the mildest to the most drastic.
const (
	// Retry later with exponential backoff; dead-letter once attempts run out.
	Retry Action = iota
	// Defer: the input is fine but not ready; retry later on a slower
	// schedule bounded by age rather than by attempts.
	Defer
	// DeadLetter now: no retry can succeed.
	DeadLetter
	// Halt: the whole stage is misconfigured or out of quota. Keep the
	// message, stop taking new ones, and probe until the condition clears.
	Halt
	// HandBack: we are shutting down; return the message for immediate
	// redelivery without counting it as a failure.
	HandBack
	// Pause: the server as a whole is away (a probe of it failed too). Keep
	// the message without spending an attempt, stop taking new ones, and
	// probe until the server answers again. Only ActionAfterProbe returns
	// it.
	Pause
)

var actionNames = [...]string{Retry: "retry", Defer: "defer", DeadLetter: "dead_letter", Halt: "halt", HandBack: "hand_back", Pause: "pause"}

// String returns a short name, suitable as a metric label value.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// Error is an error with its Kind.
type Error struct {
	Kind Kind
	Err  error
}

// Error returns the wrapped error's text.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// Wrap tags err with a kind. It returns nil for a nil err.
func Wrap(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// Errorf formats an error and tags it with a kind, like fmt.Errorf (so %w works).
func Errorf(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Kinder is implemented by error types that know their own kind, such as the
// Assemblyline client's API errors.
type Kinder interface {
	FailureKind() Kind
}

// KindOf returns the kind of the outermost classified error in err's chain.
// Context cancellation counts as Canceled and a context deadline as Timeout
// unless something more specific was said first.
//
// A local errno that says the process or its disk ran out (see localErrno)
// wins over any classification around it: a connection to Assemblyline
// that failed with EMFILE is tagged Unavailable by the client, yet no
// server and no message is at fault.
func KindOf(err error) Kind {
	if err == nil {
		return Unknown
	}
	if k, ok := localErrno(err); ok {
		return k
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := e.(type) {
		case *Error:
			return t.Kind
		case Kinder:
			return t.FailureKind()
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				if k := KindOf(inner); k != Unknown {
					return k
				}
			}
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return Timeout
	}
	return Unknown
}

// ActionFor is the one place that decides what the pipeline does about an error.
//
//	Invalid, NotFound, BadRequest, TooLarge,
//	Terminal, Panic                              → DeadLetter (no retry can help)
//	Auth, Forbidden, QuotaDaily, Storage,
//	Resources                                    → Halt (the stage, not the message, is at fault)
//	NotReady                                     → Defer (wait for Assemblyline to finish)
//	Canceled                                     → HandBack (we are stopping)
//	QuotaConcurrent, Unavailable, Timeout,
//	Corrupt, CursorExpired, Unknown              → Retry (bounded by attempts)
//
// Unavailable and Timeout retry only when the server answers a probe; when
// it does not, ActionAfterProbe turns them into Pause.
func ActionFor(err error) Action {
	switch KindOf(err) {
	case Invalid, NotFound, BadRequest, TooLarge, Terminal, Panic:
		return DeadLetter
	case Auth, Forbidden, QuotaDaily, Storage, Resources:
		return Halt
	case NotReady:
		return Defer
	case Canceled:
		return HandBack
	default:
		return Retry
	}
}

// localErrnos are the errnos that only this process's own limits or its
// own disk produce, whatever call met them; each fails every message alike.
// EACCES, EPERM and EIO are not here: a firewall answers a connect with
// EPERM, so only code that knows it touched the disk may call those
// Storage.
var localErrnos = [...]struct {
	errno syscall.Errno
	kind  Kind
}{
	{syscall.EMFILE, Resources},
	{syscall.ENFILE, Resources},
	{syscall.ENOBUFS, Resources},
	{syscall.ENOMEM, Resources},
	{syscall.ENOSPC, Storage},
	{syscall.EDQUOT, Storage},
	{syscall.EROFS, Storage},
}

// localErrno finds a localErrnos errno anywhere in err's chain.
func localErrno(err error) (Kind, bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return Unknown, false
	}
	for _, l := range localErrnos {
		if errors.Is(err, l.errno) {
			return l.kind, true
		}
	}
	return Unknown, false
}

// ServerSuspect reports whether err may be the server's failure rather than
// the message's: the server unavailable (connection refused or reset, a 5xx,
// a page that is not Assemblyline's envelope) or too slow. Such a failure
// spends a message's attempt only if the server, probed on its own, answers:
// see ActionAfterProbe.
func ServerSuspect(err error) bool {
	switch KindOf(err) {
	case Unavailable, Timeout:
		return true
	default:
		return false
	}
}

// ActionAfterProbe decides about err, a message's failure, once the stage
// has probed the server with a cheap call of its own that returned probeErr.
// A suspect failure (ServerSuspect) whose probe failed the same way means the
// server is away: Pause, and no attempt is spent. A probe that got any
// answer from the server (success, or an error in the server's own terms:
// not found, refused credentials) means the failure was the message's own:
// ActionFor decides. This keeps an Assemblyline maintenance window from
// emptying the queues into the dead-letter stream.
func ActionAfterProbe(err, probeErr error) Action {
	if ServerSuspect(err) && probeErr != nil && ServerSuspect(probeErr) {
		return Pause
	}
	return ActionFor(err)
}

// Retryable reports whether repeating the same call in-process, after a short
// pause, may succeed. It is narrower than ActionFor's Retry: a corrupt body or
// an expired cursor needs more than a repeat of the same request.
func Retryable(err error) bool {
	switch KindOf(err) {
	case QuotaConcurrent, Unavailable, Timeout:
		return true
	default:
		return false
	}
}

// Clip shortens failure text — a dead-letter reason, a server's error body —
// to at most n bytes, cutting at a rune boundary so that the result stays
// valid UTF-8 when s is, and marks the cut with "…" (3 more bytes). Headers
// and logs that carry such text have size limits; a character cut in half
// would turn into garbage there.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
