// Package metrics holds alharvest's Prometheus metrics, the names
// docs/monitoring.md documents; internal/service serves them, with the
// liveness and readiness probes, on HTTP_ADDR.
//
// Labels are bounded: stage, outcome, failure kind, endpoint, status code.
// Never a SID or a hash, which would give every file its own time series.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/version"
)

const namespace = "alharvest"

// Metrics is one process's set of metrics. Its methods implement the
// observer interfaces of the worker loop and of each stage.
type Metrics struct {
	Registry *prometheus.Registry

	received   *prometheus.CounterVec
	settled    *prometheus.CounterVec
	inflight   *prometheus.GaugeVec
	halted     *prometheus.GaugeVec
	stalled    *prometheus.GaugeVec
	restarts   *prometheus.CounterVec
	alRequests *prometheus.CounterVec
	alDuration *prometheus.HistogramVec
	quota503   prometheus.Counter
	gateLimit  prometheus.Gauge
	budgetSize prometheus.Gauge
	slotsHeld  prometheus.Gauge
	slotWait   prometheus.Histogram

	searchPages     prometheus.Counter
	searchFound     prometheus.Counter
	searchPublished prometheus.Counter
	sweeps          *prometheus.CounterVec
	watermark       prometheus.Gauge
	lastSweep       prometheus.Gauge
	sidsFound       *prometheus.CounterVec
	webhookRequests *prometheus.CounterVec

	scored    prometheus.Counter
	qualified prometheus.Counter

	collected      *prometheus.CounterVec
	downloadBytes  prometheus.Counter
	verifyFailures prometheus.Counter

	consumerPending    *prometheus.GaugeVec
	consumerAckPending *prometheus.GaugeVec
	consumerRedeliv    *prometheus.GaugeVec
	streamMessages     *prometheus.GaugeVec
	streamOldestAge    *prometheus.GaugeVec
	deferred           *prometheus.GaugeVec
	deduplicated       *prometheus.CounterVec
}

// New registers every metric on a fresh registry, with Go runtime and
// process collectors and build information.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{Registry: r}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
		r.MustRegister(c)
		return c
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
		r.MustRegister(c)
		return c
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
		r.MustRegister(g)
		return g
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help})
		r.MustRegister(g)
		return g
	}

	m.received = counterVec("messages_received_total", "Messages delivered to a stage (redelivered=true for repeats).", "stage", "redelivered")
	m.settled = counterVec("messages_settled_total", "Messages a stage finished with, by outcome (acked, retried, deferred, dead_lettered, handed_back) and failure kind.", "stage", "outcome", "kind")
	m.inflight = gaugeVec("messages_in_flight", "Messages being handled now.", "stage")
	m.deduplicated = counterVec("messages_deduplicated_total", "Outputs JetStream did not store because the stream had the same message ID within its duplicate window (a file shared by submissions scored within 2 min of each other, or re-published on purpose inside the window).", "stage", "subject")
	m.halted = gaugeVec("stage_halted", "1 while a stage is halted (Assemblyline refuses its calls: credentials, daily quota; OUTPUT_DIR full) or paused because Assemblyline is away.", "stage")
	m.stalled = gaugeVec("stage_stalled", "1 while a stage has work waiting (undelivered on its consumer, or in hand) and has settled no message for STALL_AFTER, for a cause nothing else reports: a consumer paused by an operator, a call budget of 0, anything unforeseen. /readyz says why.", "stage")

	m.restarts = counterVec("consumer_restarts_total", "Pulls of a stage that delivered nothing while its consumer had work waiting and room: a lost request or lost answers (the next pull is a new request).", "stage")
	m.alRequests = counterVec("al_requests_total", "Assemblyline HTTP requests by endpoint and status code (0 = no response).", "endpoint", "code")
	m.alDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "al_request_duration_seconds",
		Help:    "Assemblyline request latency until response headers, by endpoint.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
	}, []string{"endpoint"})
	r.MustRegister(m.alDuration)
	m.quota503 = counter("al_quota_rejections_total", "Calls refused by Assemblyline's concurrent-call quota (HTTP 503).")
	m.gateLimit = gauge("al_concurrency_limit", "Current limit on concurrent Assemblyline calls from this process (adapts to quota rejections).")
	m.budgetSize = gauge("al_quota_budget", "Size of the call budget every process shares for this Assemblyline user: the quota, less what other tools on the user were seen to use (0 when the process adapts alone).")
	m.slotsHeld = gauge("al_quota_slots_held", "Slots of the shared budget this process holds.")
	m.slotWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "al_quota_slot_wait_seconds",
		Help:    "Waits of a call for a slot of the shared budget (count = calls that had to wait).",
		Buckets: prometheus.ExponentialBuckets(0.001, 3, 10),
	})
	r.MustRegister(m.slotWait)

	m.searchPages = counter("search_pages_total", "Deep-paging pages read.")
	m.searchFound = counter("search_sids_found_total", "SIDs returned by submission searches.")
	m.searchPublished = counter("search_sids_published_total", "SIDs stored as new in the SIDs queue.")
	m.sweeps = counterVec("search_sweeps_total", "Completed sweeps by result (ok, error).", "result")
	m.watermark = gauge("search_watermark_timestamp_seconds", "The searcher's watermark: latest times.completed swept.")
	m.lastSweep = gauge("search_last_success_timestamp_seconds", "When the last sweep succeeded.")

	m.sidsFound = counterVec("sids_found_total", "SIDs stored as new in the SIDs queue, by who queued them first: webhook (pushed by Assemblyline) or sweep (found by a sweep and not queued before, by the push or an earlier sweep, within the de-duplication window).", "source")
	// Both sources from the start, so a rate over them never sees a gap.
	m.sidsFound.WithLabelValues("webhook")
	m.sidsFound.WithLabelValues("sweep")
	m.webhookRequests = counterVec("webhook_requests_total", "Requests to the Assemblyline webhook receiver by result (stored, repeated, ignored, bad_request, unauthorized, too_large, unavailable, bad_method, not_found): every refused request is counted here, while the log gets at most one line per result per 10 s.", "result")

	m.scored = counter("scorer_submissions_scored_total", "Submissions scored.")
	m.qualified = counter("scorer_files_qualified_total", "Files at or above the threshold, counted per submission.")

	m.collected = counterVec("files_collected_total", "Files in OUTPUT_DIR, by result (new = downloaded now, present = already there and verified).", "result")
	m.downloadBytes = counter("download_bytes_total", "Bytes of verified cART written.")
	m.verifyFailures = counter("cart_verify_failures_total", "Downloaded bodies that failed cART verification.")

	m.consumerPending = gaugeVec("consumer_pending_messages", "Messages waiting for a consumer.", "consumer")
	m.consumerAckPending = gaugeVec("consumer_ack_pending_messages", "Messages delivered to a consumer and not yet acknowledged.", "consumer")
	m.consumerRedeliv = gaugeVec("consumer_redelivered_messages", "Messages of a consumer being redelivered.", "consumer")
	m.streamMessages = gaugeVec("stream_messages", "Messages stored in a stream.", "stream")
	m.deferred = gaugeVec("deferred_messages", "Messages of a stage waiting in ALHARVEST_DEFERRED for Assemblyline to finish their submission (counted by the server, so every replica agrees; bounded by the store's per-stage limit).", "stage")
	m.streamOldestAge = gaugeVec("stream_oldest_message_age_seconds", "Age of the oldest message stored in a stream (0 when empty): how long the oldest work has waited.", "stream")

	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info", Help: "Build information; always 1."}, []string{"version", "revision", "vcs_time", "goversion"})
	r.MustRegister(build)
	bi := version.Get()
	build.WithLabelValues(bi.Version, bi.ShortRevision(), bi.Time, bi.Go).Set(1)

	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

var _ worker.Observer = (*Metrics)(nil)

// Received implements worker.Observer.
func (m *Metrics) Received(stage string, redelivered bool) {
	m.received.WithLabelValues(stage, strconv.FormatBool(redelivered)).Inc()
}

// Settled implements worker.Observer.
func (m *Metrics) Settled(stage string, outcome worker.Outcome, kind failure.Kind) {
	k := ""
	if outcome != worker.OutcomeAcked {
		k = kind.String()
	}
	m.settled.WithLabelValues(stage, string(outcome), k).Inc()
}

// InFlight implements worker.Observer.
func (m *Metrics) InFlight(stage string, delta int) {
	m.inflight.WithLabelValues(stage).Add(float64(delta))
}

// Halted implements worker.Observer.
func (m *Metrics) Halted(stage string, halted bool) {
	v := 0.0
	if halted {
		v = 1
	}
	m.halted.WithLabelValues(stage).Set(v)
}

// Stage makes a stage's health series exist from its start, at 0, so a
// dashboard or an alert sees 0 rather than no data until the first event.
func (m *Metrics) Stage(stage string) {
	m.halted.WithLabelValues(stage).Add(0)
	m.stalled.WithLabelValues(stage).Add(0)
	m.inflight.WithLabelValues(stage).Add(0)
	m.restarts.WithLabelValues(stage).Add(0)
}

// Stalled sets a stage's stall gauge (see STALL_AFTER).
func (m *Metrics) Stalled(stage string, stalled bool) {
	v := 0.0
	if stalled {
		v = 1
	}
	m.stalled.WithLabelValues(stage).Set(v)
}

// ConsumerRestarted counts a pull that went silent while work waited.
func (m *Metrics) ConsumerRestarted(stage string) { m.restarts.WithLabelValues(stage).Inc() }

// ALRequest records one Assemblyline HTTP attempt.
func (m *Metrics) ALRequest(endpoint string, code int, d time.Duration, quotaRejected bool) {
	m.alRequests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.alDuration.WithLabelValues(endpoint).Observe(d.Seconds())
	if quotaRejected {
		m.quota503.Inc()
	}
}

// ConcurrencyLimit records the adaptive limit on Assemblyline calls.
func (m *Metrics) ConcurrencyLimit(n int) { m.gateLimit.Set(float64(n)) }

// QuotaBudget records the shared budget's size.
func (m *Metrics) QuotaBudget(n int) { m.budgetSize.Set(float64(n)) }

// QuotaHeld records the slots of the shared budget this process holds.
func (m *Metrics) QuotaHeld(n int) { m.slotsHeld.Set(float64(n)) }

// QuotaWait records one call's wait for a slot of the shared budget.
func (m *Metrics) QuotaWait(d time.Duration) { m.slotWait.Observe(d.Seconds()) }

// Page implements searcher.Observer.
func (m *Metrics) Page(items int) {
	m.searchPages.Inc()
	m.searchFound.Add(float64(items))
}

// SweepDone implements searcher.Observer.
func (m *Metrics) SweepDone(found, published int, watermark time.Time, err error) {
	m.searchPublished.Add(float64(published))
	m.sidsFound.WithLabelValues("sweep").Add(float64(published))
	if err != nil {
		m.sweeps.WithLabelValues("error").Inc()
		return
	}
	m.sweeps.WithLabelValues("ok").Inc()
	m.lastSweep.SetToCurrentTime()
	if !watermark.IsZero() {
		m.watermark.Set(float64(watermark.UnixNano()) / 1e9)
	}
}

// Scored implements scorer.Observer.
func (m *Metrics) Scored(files, qualified int) {
	m.scored.Inc()
	m.qualified.Add(float64(qualified))
}

// Collected implements downloader.Observer.
func (m *Metrics) Collected(size int64, fresh bool) {
	if fresh {
		m.collected.WithLabelValues("new").Inc()
		m.downloadBytes.Add(float64(size))
	} else {
		m.collected.WithLabelValues("present").Inc()
	}
}

// VerifyFailed implements downloader.Observer.
func (m *Metrics) VerifyFailed() { m.verifyFailures.Inc() }

// ConsumerState records a consumer's lag, polled from JetStream.
func (m *Metrics) ConsumerState(consumer string, pending, ackPending, redelivered uint64) {
	m.consumerPending.WithLabelValues(consumer).Set(float64(pending))
	m.consumerAckPending.WithLabelValues(consumer).Set(float64(ackPending))
	m.consumerRedeliv.WithLabelValues(consumer).Set(float64(redelivered))
}

// StreamState records how many messages a stream holds.
func (m *Metrics) StreamState(stream string, msgs uint64) {
	m.streamMessages.WithLabelValues(stream).Set(float64(msgs))
}

// DeferredMessages records how many deferred copies a stage has waiting,
// polled from JetStream.
func (m *Metrics) DeferredMessages(stage string, n uint64) {
	m.deferred.WithLabelValues(stage).Set(float64(n))
}

// Snapshot is a point-in-time reading of the counters a run report needs.
type Snapshot struct {
	SIDsFound                int64
	Scored, Qualified        int64
	CollectedNew, Present    int64
	DownloadBytes            int64
	DeadLettered, Retried    int64
	QuotaRejections, ALCalls int64
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() Snapshot {
	return Snapshot{
		SIDsFound:       value(m.searchFound),
		Scored:          value(m.scored),
		Qualified:       value(m.qualified),
		CollectedNew:    value(m.collected.WithLabelValues("new")),
		Present:         value(m.collected.WithLabelValues("present")),
		DownloadBytes:   value(m.downloadBytes),
		DeadLettered:    sumVec(m.settled, func(l map[string]string) bool { return l["outcome"] == string(worker.OutcomeDeadLettered) }),
		Retried:         sumVec(m.settled, func(l map[string]string) bool { return l["outcome"] == string(worker.OutcomeRetried) }),
		QuotaRejections: value(m.quota503),
		ALCalls:         sumVec(m.alRequests, func(map[string]string) bool { return true }),
	}
}

func value(c prometheus.Metric) int64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	switch {
	case d.Counter != nil:
		return int64(d.Counter.GetValue())
	case d.Gauge != nil:
		return int64(d.Gauge.GetValue())
	}
	return 0
}

func sumVec(v *prometheus.CounterVec, match func(map[string]string) bool) int64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { v.Collect(ch); close(ch) }()
	var total int64
	for metric := range ch {
		var d dto.Metric
		if metric.Write(&d) != nil {
			continue
		}
		labels := make(map[string]string, len(d.Label))
		for _, l := range d.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if match(labels) {
			total += int64(d.Counter.GetValue())
		}
	}
	return total
}
