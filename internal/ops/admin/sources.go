package admin

import (
	"fmt"
	"io"
	"time"
)

// writeSources prints who queued the SIDs first: the webhook push, or the
// sweeps (with a receiver on, what the push missed).
func (s *Status) writeSources(w io.Writer) {
	if s.Webhook == nil {
		return
	}
	var swept int64
	for _, c := range s.Searches {
		swept += c.PublishedTotal
	}
	t := s.Webhook
	last := "never"
	if !t.LastPush.IsZero() {
		last = t.LastPush.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "SIDs queued first by: webhook %d, sweep %d (found by a sweep, not pushed)\n", t.Stored, swept)
	fmt.Fprintf(w, "webhook: %d repeated, %d ignored (cannot qualify), %d refused; last push %s\n", t.Repeated, t.Ignored, t.Refused, last)
}
