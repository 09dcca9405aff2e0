package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Feed holds the metrics of `alharvest feed`, registered only in a feed
// process (beside the worker loop's alharvest_messages_* with
// stage="feed"). Label feed is the durable name: one value per process.
type Feed struct {
	handed   *prometheus.CounterVec
	failed   *prometheus.CounterVec
	running  *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	feed     string
}

// NewFeed registers the feed's metrics on m's registry for the feed named
// durable.
func (m *Metrics) NewFeed(durable string) *Feed {
	f := &Feed{feed: durable}
	f.handed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "feed_handed_total",
		Help: "Collected files the feed's program accepted (exited 0)."}, []string{"feed"})
	f.failed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "feed_failed_total",
		Help: "Failures of the feed by reason: failed (the program exited non-zero or was killed by a signal), timeout, start (the program could not be started), missing (the file no longer exists), unverified (not the cART the event announces). Runs that failed are retried; missing and unverified files are dead-lettered at once."}, []string{"feed", "reason"})
	f.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "feed_in_flight",
		Help: "Runs of the feed's program in progress now."}, []string{"feed"})
	f.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "feed_program_duration_seconds",
		Help:    "Duration of the feed's program runs, whatever their outcome.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 12)}, []string{"feed"})
	m.Registry.MustRegister(f.handed, f.failed, f.running, f.duration)
	// Every series from the start, so a rate over them never sees a gap.
	f.handed.WithLabelValues(durable)
	for _, r := range []string{"failed", "timeout", "start", "missing", "unverified"} {
		f.failed.WithLabelValues(durable, r)
	}
	f.running.WithLabelValues(durable)
	f.duration.WithLabelValues(durable)
	return f
}

// Ran records one run of the program (result ok, failed, timeout or start).
func (f *Feed) Ran(result string, took time.Duration) {
	f.duration.WithLabelValues(f.feed).Observe(took.Seconds())
	if result == "ok" {
		f.handed.WithLabelValues(f.feed).Inc()
		return
	}
	f.failed.WithLabelValues(f.feed, result).Inc()
}

// Refused records an event dead-lettered before any run (missing or unverified).
func (f *Feed) Refused(reason string) { f.failed.WithLabelValues(f.feed, reason).Inc() }

// Running changes the number of runs in progress.
func (f *Feed) Running(delta int) { f.running.WithLabelValues(f.feed).Add(float64(delta)) }
