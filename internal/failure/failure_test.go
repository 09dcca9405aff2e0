package failure_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/failure"
)

func TestActionForEveryKind(t *testing.T) {
	tests := []struct {
		kind      failure.Kind
		name      string
		action    failure.Action
		retryable bool
	}{
		{failure.Unknown, "unknown", failure.Retry, false},
		{failure.Invalid, "invalid", failure.DeadLetter, false},
		{failure.NotFound, "not_found", failure.DeadLetter, false},
		{failure.Auth, "auth", failure.Halt, false},
		{failure.Forbidden, "forbidden", failure.Halt, false},
		{failure.QuotaDaily, "quota_daily", failure.Halt, false},
		{failure.QuotaConcurrent, "quota_concurrent", failure.Retry, true},
		{failure.Unavailable, "unavailable", failure.Retry, true},
		{failure.Timeout, "timeout", failure.Retry, true},
		{failure.NotReady, "not_ready", failure.Defer, false},
		{failure.Corrupt, "corrupt", failure.Retry, false},
		{failure.CursorExpired, "cursor_expired", failure.Retry, false},
		{failure.BadRequest, "bad_request", failure.DeadLetter, false},
		{failure.TooLarge, "too_large", failure.DeadLetter, false},
		{failure.Canceled, "canceled", failure.HandBack, false},
		{failure.Storage, "storage", failure.Halt, false},
		{failure.Terminal, "terminal", failure.DeadLetter, false},
		{failure.Panic, "panic", failure.DeadLetter, false},
		{failure.Resources, "resources", failure.Halt, false},
	}
	seen := map[failure.Kind]bool{}
	for _, tc := range tests {
		seen[tc.kind] = true
		t.Run(tc.name, func(t *testing.T) {
			err := failure.Errorf(tc.kind, "something went %s", "wrong")
			if got := failure.KindOf(err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := failure.ActionFor(err); got != tc.action {
				t.Errorf("ActionFor = %v, want %v", got, tc.action)
			}
			if got := failure.Retryable(err); got != tc.retryable {
				t.Errorf("Retryable = %t, want %t", got, tc.retryable)
			}
			if got := tc.kind.String(); got != tc.name {
				t.Errorf("String = %q, want %q", got, tc.name)
			}
			// In-process retries are a subset of the pipeline's Retry.
			if tc.retryable && tc.action != failure.Retry {
				t.Errorf("retryable in-process but action %v", tc.action)
			}
		})
	}
	// Every named kind must be in the table: a new kind needs a decision.
	for k := failure.Unknown; !strings.HasPrefix(k.String(), "kind("); k++ {
		if !seen[k] {
			t.Errorf("kind %d (%v) missing from the table", k, k)
		}
	}
	if got := failure.Kind(200).String(); got != "kind(200)" {
		t.Errorf("unknown kind String = %q", got)
	}
}

// TestLocalErrnosAreTheProcesssProblem: running out of descriptors, buffers
// or disk is classified by its errno wherever it is met and whatever the
// code around it said, so that it halts the stage and never spends a
// message's attempt; an errno a remote peer or a firewall can cause keeps
// the classification it was given.
func TestLocalErrnosAreTheProcesssProblem(t *testing.T) {
	// What the Assemblyline client returns for a dial that failed for want
	// of a descriptor: its own Unavailable around the net package's error.
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}
	tests := []struct {
		name string
		err  error
		want failure.Kind
	}{
		{"temporary file, too many open files", fmt.Errorf("file x: create temporary file: %w", &fs.PathError{Op: "open", Path: "/out/x", Err: syscall.EMFILE}), failure.Resources},
		{"system file table full", &fs.PathError{Op: "open", Path: "/out", Err: syscall.ENFILE}, failure.Resources},
		{"no buffer space", os.NewSyscallError("write", syscall.ENOBUFS), failure.Resources},
		{"out of memory", os.NewSyscallError("mmap", syscall.ENOMEM), failure.Resources},
		{"dial tagged unavailable", failure.Errorf(failure.Unavailable, "assemblyline search: %w", dial), failure.Resources},
		{"disk full, unclassified", fmt.Errorf("write: %w", syscall.ENOSPC), failure.Storage},
		{"quota exceeded", &fs.PathError{Op: "write", Path: "/out/x", Err: syscall.EDQUOT}, failure.Storage},
		{"read-only file system", &fs.PathError{Op: "open", Path: "/out/x", Err: syscall.EROFS}, failure.Storage},
		{"joined", errors.Join(errors.New("first"), syscall.EMFILE), failure.Resources},
		// A firewall's EPERM or a refused connection is not ours to halt on.
		{"connect EPERM", failure.Wrap(failure.Unavailable, &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EPERM)}), failure.Unavailable},
		{"connection refused", failure.Wrap(failure.Unavailable, syscall.ECONNREFUSED), failure.Unavailable},
		{"unclassified EACCES", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, failure.Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if tc.want == failure.Resources || tc.want == failure.Storage {
				if got := failure.ActionFor(tc.err); got != failure.Halt {
					t.Errorf("ActionFor = %v, want halt", got)
				}
				if failure.Retryable(tc.err) || failure.ServerSuspect(tc.err) {
					t.Error("a local shortage must not be retried in-process nor blamed on the server")
				}
			}
		})
	}
}

func TestActionNames(t *testing.T) {
	tests := []struct {
		a    failure.Action
		want string
	}{
		{failure.Retry, "retry"},
		{failure.Defer, "defer"},
		{failure.DeadLetter, "dead_letter"},
		{failure.Halt, "halt"},
		{failure.HandBack, "hand_back"},
		{failure.Action(42), "action(42)"},
	}
	for _, tc := range tests {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("Action(%d).String() = %q, want %q", tc.a, got, tc.want)
		}
	}
}

// apiErr builds the Assemblyline client's own error type, which classifies
// itself through failure.Kinder.
func apiErr(status int, kind failure.Kind, msg string) error {
	return &assemblyline.APIError{Op: "submission/full", Status: status, Message: msg, Kind: kind}
}

func TestKindOfThroughChains(t *testing.T) {
	plain := errors.New("plain")
	notFound := apiErr(http.StatusNotFound, failure.NotFound, "Submission ID x does not exists.")
	quota := apiErr(http.StatusServiceUnavailable, failure.QuotaDaily, "You've exceeded your daily maximum API calls quota of 5")
	tests := []struct {
		name   string
		err    error
		kind   failure.Kind
		action failure.Action
	}{
		{"nil", nil, failure.Unknown, failure.Retry},
		{"unclassified", plain, failure.Unknown, failure.Retry},
		{"unclassified wrapped", fmt.Errorf("a: %w", fmt.Errorf("b: %w", plain)), failure.Unknown, failure.Retry},
		{"wrapped once with %w", fmt.Errorf("file x: %w", failure.Wrap(failure.Invalid, plain)), failure.Invalid, failure.DeadLetter},
		{"wrapped three times with %w", fmt.Errorf("a: %w", fmt.Errorf("b: %w", fmt.Errorf("c: %w", failure.Errorf(failure.NotReady, "running")))), failure.NotReady, failure.Defer},
		{"Errorf keeps %w of a plain error unclassified inside", failure.Errorf(failure.Corrupt, "verify: %w", io.ErrUnexpectedEOF), failure.Corrupt, failure.Retry},
		{"APIError bare", notFound, failure.NotFound, failure.DeadLetter},
		{"APIError in a wrapped chain", fmt.Errorf("submission abc: %w", fmt.Errorf("search page 3: %w", notFound)), failure.NotFound, failure.DeadLetter},
		{"APIError halting the stage", fmt.Errorf("submission abc: %w", quota), failure.QuotaDaily, failure.Halt},
		{"APIError inside errors.Join", errors.Join(plain, fmt.Errorf("x: %w", notFound)), failure.NotFound, failure.DeadLetter},
		{"errors.Join of classified errors: the first classified wins", errors.Join(plain, failure.Wrap(failure.Unavailable, plain), failure.Wrap(failure.NotFound, plain)), failure.Unavailable, failure.Retry},
		{"errors.Join wrapped in %w", fmt.Errorf("sweep: %w", errors.Join(plain, failure.Wrap(failure.CursorExpired, plain))), failure.CursorExpired, failure.Retry},
		{"fmt.Errorf with two %w", fmt.Errorf("%w; then %w", plain, failure.Wrap(failure.TooLarge, plain)), failure.TooLarge, failure.DeadLetter},
		{"errors.Join of unclassified errors", errors.Join(plain, io.EOF), failure.Unknown, failure.Retry},
		{"context.Canceled", context.Canceled, failure.Canceled, failure.HandBack},
		{"context.Canceled wrapped", fmt.Errorf("assemblyline download: %w", context.Canceled), failure.Canceled, failure.HandBack},
		{"context.DeadlineExceeded", context.DeadlineExceeded, failure.Timeout, failure.Retry},
		{"context.DeadlineExceeded wrapped", fmt.Errorf("assemblyline search: %w", context.DeadlineExceeded), failure.Timeout, failure.Retry},
		{"context.Canceled inside errors.Join", errors.Join(plain, context.Canceled), failure.Canceled, failure.HandBack},
		// The outermost classification wins over anything said deeper.
		{"outer Wrap over inner Wrap", failure.Wrap(failure.NotFound, failure.Wrap(failure.Unavailable, plain)), failure.NotFound, failure.DeadLetter},
		{"outer Wrap over inner Wrap, reversed", fmt.Errorf("x: %w", failure.Wrap(failure.Unavailable, fmt.Errorf("y: %w", failure.Wrap(failure.NotFound, plain)))), failure.Unavailable, failure.Retry},
		{"outer Wrap over an APIError", failure.Wrap(failure.Timeout, notFound), failure.Timeout, failure.Retry},
		{"outer Wrap over context.Canceled", failure.Wrap(failure.Unavailable, fmt.Errorf("x: %w", context.Canceled)), failure.Unavailable, failure.Retry},
		{"outer Canceled over a halt", failure.Wrap(failure.Canceled, quota), failure.Canceled, failure.HandBack},
		{"Wrap over context.DeadlineExceeded", failure.Wrap(failure.NotReady, context.DeadlineExceeded), failure.NotReady, failure.Defer},
		{"explicit Unknown is outermost too", failure.Wrap(failure.Unknown, failure.Wrap(failure.NotFound, plain)), failure.Unknown, failure.Retry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure.KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := failure.ActionFor(tc.err); got != tc.action {
				t.Errorf("ActionFor = %v, want %v", got, tc.action)
			}
		})
	}
}

func TestRetryableThroughChains(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unclassified", errors.New("surprise"), false},
		{"5xx APIError wrapped", fmt.Errorf("page 2: %w", apiErr(http.StatusBadGateway, failure.Unavailable, "Bad Gateway")), true},
		{"quota APIError", apiErr(http.StatusServiceUnavailable, failure.QuotaConcurrent, "concurrent quota"), true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), false},
		{"corrupt needs a new request, not a repeat", failure.Errorf(failure.Corrupt, "sha256 mismatch"), false},
		{"cursor expired needs a restart", fmt.Errorf("page 4: %w", apiErr(http.StatusBadRequest, failure.CursorExpired, "No search context found")), false},
		{"not found", apiErr(http.StatusNotFound, failure.NotFound, "nope"), false},
		{"retryable inside errors.Join", errors.Join(errors.New("a"), failure.Wrap(failure.Timeout, errors.New("b"))), true},
		{"outer non-retryable over inner retryable", failure.Wrap(failure.Invalid, failure.Wrap(failure.Unavailable, errors.New("b"))), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure.Retryable(tc.err); got != tc.want {
				t.Errorf("Retryable = %t, want %t (kind %v)", got, tc.want, failure.KindOf(tc.err))
			}
		})
	}
}

func TestWrapAndErrorf(t *testing.T) {
	if failure.Wrap(failure.Invalid, nil) != nil {
		t.Error("Wrap(kind, nil) is not nil")
	}
	base := errors.New("disk on fire")
	w := failure.Wrap(failure.Unavailable, base)
	if w.Error() != "disk on fire" {
		t.Errorf("Wrap changed the text: %q", w.Error())
	}
	if !errors.Is(w, base) {
		t.Error("Wrap hides the wrapped error from errors.Is")
	}
	var fe *failure.Error
	if !errors.As(fmt.Errorf("ctx: %w", w), &fe) || fe.Kind != failure.Unavailable || fe.Err != base {
		t.Errorf("errors.As: %+v", fe)
	}
	e := failure.Errorf(failure.NotFound, "file %s: %w", "abc", io.EOF)
	if e.Error() != "file abc: EOF" || !errors.Is(e, io.EOF) || failure.KindOf(e) != failure.NotFound {
		t.Errorf("Errorf: %q, is EOF %t, kind %v", e, errors.Is(e, io.EOF), failure.KindOf(e))
	}
	// The APIError keeps its own text and is reachable through the chain.
	ae := apiErr(http.StatusNotFound, failure.NotFound, "The file was not found in the system.")
	var got *assemblyline.APIError
	if !errors.As(fmt.Errorf("file x: %w", ae), &got) || got.Status != http.StatusNotFound {
		t.Errorf("errors.As APIError: %v", got)
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		name string
		s    string
		n    int
		want string
	}{
		{name: "short enough", s: "disk full", n: 20, want: "disk full"},
		{name: "exactly n", s: "abcde", n: 5, want: "abcde"},
		{name: "ascii cut", s: "abcdef", n: 3, want: "abc…"},
		{name: "empty", s: "", n: 0, want: ""},
		{name: "zero keeps only the mark", s: "abc", n: 0, want: "…"},
		{name: "negative is zero", s: "abc", n: -1, want: "…"},
		// "é" is 2 bytes: a cut after byte 2 would split it.
		{name: "two-byte rune not split", s: "aébc", n: 2, want: "a…"},
		{name: "two-byte rune kept whole", s: "aébc", n: 3, want: "aé…"},
		// "€" is 3 bytes, "𝄞" is 4.
		{name: "three-byte rune not split", s: "x€y", n: 3, want: "x…"},
		{name: "four-byte rune not split", s: "𝄞𝄞", n: 7, want: "𝄞…"},
		{name: "four-byte rune from the start", s: "𝄞", n: 2, want: "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := failure.Clip(tc.s, tc.n)
			if got != tc.want {
				t.Errorf("Clip(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
			}
			if utf8.ValidString(tc.s) && !utf8.ValidString(got) {
				t.Errorf("Clip(%q, %d) = %q is not valid UTF-8", tc.s, tc.n, got)
			}
			if kept := strings.TrimSuffix(got, "…"); got != tc.s && len(kept) > max(tc.n, 0) {
				t.Errorf("Clip(%q, %d) kept %d bytes", tc.s, tc.n, len(kept))
			}
		})
	}
}

func TestActionAfterProbe(t *testing.T) {
	away := failure.Errorf(failure.Unavailable, "connection refused")
	slow := failure.Errorf(failure.Timeout, "deadline exceeded")
	tests := []struct {
		name     string
		err      error
		probeErr error
		want     failure.Action
	}{
		{"unavailable, probe unavailable", away, away, failure.Pause},
		{"unavailable, probe timed out", away, slow, failure.Pause},
		{"timeout, probe unavailable", slow, away, failure.Pause},
		{"unavailable, probe answered", away, nil, failure.Retry},
		{"unavailable, probe not found", away, failure.Errorf(failure.NotFound, "no such submission"), failure.Retry},
		{"unavailable, probe refused credentials", away, failure.Errorf(failure.Auth, "401"), failure.Retry},
		{"corrupt, probe unavailable", failure.Errorf(failure.Corrupt, "bad cart"), away, failure.Retry},
		{"not found, probe unavailable", failure.Errorf(failure.NotFound, "gone"), away, failure.DeadLetter},
		{"auth, probe unavailable", failure.Errorf(failure.Auth, "401"), away, failure.Halt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := failure.ActionAfterProbe(tc.err, tc.probeErr); got != tc.want {
				t.Errorf("ActionAfterProbe = %v, want %v", got, tc.want)
			}
		})
	}
	if got := failure.Pause.String(); got != "pause" {
		t.Errorf("Pause.String() = %q", got)
	}
}
