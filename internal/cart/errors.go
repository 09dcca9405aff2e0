// The errors a decode reports: one type for every bad file, with sentinels
// that narrow down the class.

package cart

import (
	"errors"
	"fmt"

	"github.com/alharvest/alharvest/internal/failure"
)

// Sentinel errors for errors.Is. Every *FormatError matches ErrCorrupt; the
// others narrow down the class of problem when a caller wants to react
// differently (for instance count private-key files separately).
var (
	// ErrCorrupt matches every format error: the bytes are not a valid cART
	// stream, or do not decode to the expected content.
	ErrCorrupt = errors.New("cart: corrupt cART stream")
	// ErrTruncated: the stream ended before the format said it would.
	ErrTruncated = errors.New("cart: truncated cART stream")
	// ErrNotCART: the stream does not even start with the cART magic.
	ErrNotCART = errors.New("cart: not a cART stream")
	// ErrPrivateKey: the file was encrypted with a private RC4 key, which
	// the reference signals only by an all-zero key field; we have no key.
	ErrPrivateKey = errors.New("cart: private RC4 key not supported")
	// ErrDigestMismatch: the content decoded cleanly but its digests or
	// length disagree with the optional footer or with the expected sha256.
	ErrDigestMismatch = errors.New("cart: content digest mismatch")
)

// FormatError reports bytes that fail verification. It is always
// failure.Corrupt: the data, not the connection, is at fault, so the
// pipeline must not trust the file (but may fetch it again).
type FormatError struct {
	// Reason says what is wrong, in words meant for a log line.
	Reason string
	// Class is one of the sentinels above (other than ErrCorrupt), or nil
	// when no narrower class applies.
	Class error
	// Cause is the decoder error behind the problem (e.g. a
	// flate.CorruptInputError or zlib.ErrChecksum), or nil.
	Cause error
}

// Error prefixes the package name so the message stands alone in logs.
func (e *FormatError) Error() string {
	if e.Cause != nil {
		return "cart: " + e.Reason + ": " + e.Cause.Error()
	}
	return "cart: " + e.Reason
}

// Is makes every FormatError match ErrCorrupt without each site having to
// say so.
func (e *FormatError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap exposes the class sentinel and the decoder cause to errors.Is/As.
func (e *FormatError) Unwrap() []error {
	var errs []error
	if e.Class != nil {
		errs = append(errs, e.Class)
	}
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	return errs
}

// FailureKind classifies format errors for failure.KindOf: a bad file is
// Corrupt, whatever the detail.
func (e *FormatError) FailureKind() failure.Kind { return failure.Corrupt }

func corrupt(class error, format string, args ...any) *FormatError {
	return &FormatError{Reason: fmt.Sprintf(format, args...), Class: class}
}
