// Package exitcode names the exit statuses of every alharvest binary
// (alharvest and its subcommands, searcher, scorer, downloader, alsim,
// albench, sbom, output-init), so one number means one thing everywhere and
// scripts can rely on it. docs/commands.md documents them; keep both in step.
//
// A command returns an error; Of turns it into the status. Wrap an error
// with Use (bad flags, arguments or configuration) or With (any other
// status) where the plain "failed" would be wrong.
package exitcode

import (
	"errors"
	"flag"
)

const (
	// OK: the command did what it was asked; for an alharvest run,
	// everything qualifying was collected. Also asking for -h.
	OK = 0
	// Failed: the command could not complete: a service unreachable,
	// credentials refused, a store unusable, an I/O error, a stage that
	// stopped on an error.
	Failed = 1
	// Usage: bad flags, arguments, environment or configuration; nothing
	// was attempted.
	Usage = 2
	// DeadLettered: an alharvest run completed but gave up on some items
	// (listed in its report and by `alharvest dlq list`).
	DeadLettered = 3
)

// Error is an error that carries the exit status it calls for. Err may be
// nil: the command has already said what happened (a report printed) and
// only the status remains.
type Error struct {
	Code int
	Err  error
}

// Error is the wrapped error's message ("" when there is none).
func (e *Error) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// Unwrap gives errors.Is and errors.As the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// With marks err (possibly nil) as ending the process with code.
func With(code int, err error) error { return &Error{Code: code, Err: err} }

// Use marks err as a usage error: bad flags, arguments, environment or
// configuration (exit 2).
func Use(err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: Usage, Err: err}
}

// Of is the exit status for a command's result: OK for nil or -h
// (flag.ErrHelp), the code an *Error carries, Failed for any other error.
func Of(err error) int {
	var e *Error
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return OK
	case errors.As(err, &e):
		return e.Code
	}
	return Failed
}
