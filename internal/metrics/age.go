package metrics

import "time"

// StreamAge records how long the oldest message of a stream has been
// stored: on a work queue, how long the oldest unfinished work has waited.
func (m *Metrics) StreamAge(stream string, msgs uint64, oldest, now time.Time) {
	age := 0.0
	if msgs > 0 && !oldest.IsZero() && now.After(oldest) {
		age = now.Sub(oldest).Seconds()
	}
	m.streamOldestAge.WithLabelValues(stream).Set(age)
}

// Deduplicated implements worker.DedupObserver.
func (m *Metrics) Deduplicated(stage, subject string) {
	m.deduplicated.WithLabelValues(stage, subject).Inc()
}
