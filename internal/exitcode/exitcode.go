// Package exitcode names the exit statuses of every alharvest binary
// (alharvest and its admin subcommands, searcher, scorer, downloader, alsim,
// albench), so one number means one thing everywhere and scripts can rely
// on it. docs/commands.md documents them; keep both in step.
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

// FromFlags is the exit code of a command whose flags or configuration did
// not parse (err != nil): OK when it was -h (the usage is printed, which is
// what was asked for), Usage otherwise.
func FromFlags(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return OK
	}
	return Usage
}
