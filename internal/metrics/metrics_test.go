package metrics

import (
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/alharvest/alharvest/internal/failure"
	"github.com/alharvest/alharvest/internal/pipeline/webhook"
	"github.com/alharvest/alharvest/internal/pipeline/worker"
	"github.com/alharvest/alharvest/internal/version"
)

// series names one time series of the registry and the value it should hold
// (for a histogram, its sample count).
type series struct {
	name   string
	labels map[string]string
	want   float64
}

// read gathers the registry and returns the value of the series with exactly
// these labels, and whether it exists.
func read(t *testing.T, m *Metrics, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !sameLabels(s.GetLabel(), labels) {
				continue
			}
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue(), true
			case s.Gauge != nil:
				return s.Gauge.GetValue(), true
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func sameLabels(got []*dto.LabelPair, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, l := range got {
		if v, ok := want[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}

func TestObserversUpdateTheirSeries(t *testing.T) {
	watermark := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		observe func(m *Metrics)
		want    []series
	}{
		{
			name:    "received, first delivery and repeat",
			observe: func(m *Metrics) { m.Received("scorer", false); m.Received("scorer", true); m.Received("scorer", true) },
			want: []series{
				{"alharvest_messages_received_total", map[string]string{"stage": "scorer", "redelivered": "false"}, 1},
				{"alharvest_messages_received_total", map[string]string{"stage": "scorer", "redelivered": "true"}, 2},
			},
		},
		{
			name: "settled: an acked message carries no failure kind",
			observe: func(m *Metrics) {
				m.Settled("downloader", worker.OutcomeAcked, failure.Unavailable)
				m.Settled("downloader", worker.OutcomeDeadLettered, failure.Corrupt)
				m.Settled("scorer", worker.OutcomeDeferred, failure.NotReady)
			},
			want: []series{
				{"alharvest_messages_settled_total", map[string]string{"stage": "downloader", "outcome": "acked", "kind": ""}, 1},
				{"alharvest_messages_settled_total", map[string]string{"stage": "downloader", "outcome": "dead_lettered", "kind": "corrupt"}, 1},
				{"alharvest_messages_settled_total", map[string]string{"stage": "scorer", "outcome": "deferred", "kind": "not_ready"}, 1},
			},
		},
		{
			name:    "in flight goes up and down",
			observe: func(m *Metrics) { m.InFlight("scorer", 3); m.InFlight("scorer", -2) },
			want:    []series{{"alharvest_messages_in_flight", map[string]string{"stage": "scorer"}, 1}},
		},
		{
			name: "halted and resumed",
			observe: func(m *Metrics) {
				m.Halted("scorer", true)
				m.Halted("downloader", true)
				m.Halted("downloader", false)
			},
			want: []series{
				{"alharvest_stage_halted", map[string]string{"stage": "scorer"}, 1},
				{"alharvest_stage_halted", map[string]string{"stage": "downloader"}, 0},
			},
		},
		{
			name: "assemblyline requests, latency and quota rejections",
			observe: func(m *Metrics) {
				m.ALRequest("search", 200, 30*time.Millisecond, false)
				m.ALRequest("download", 503, time.Millisecond, true)
				m.ALRequest("download", 0, time.Second, false)
			},
			want: []series{
				{"alharvest_al_requests_total", map[string]string{"endpoint": "search", "code": "200"}, 1},
				{"alharvest_al_requests_total", map[string]string{"endpoint": "download", "code": "503"}, 1},
				{"alharvest_al_requests_total", map[string]string{"endpoint": "download", "code": "0"}, 1},
				{"alharvest_al_request_duration_seconds", map[string]string{"endpoint": "download"}, 2},
				{"alharvest_al_request_duration_seconds", map[string]string{"endpoint": "search"}, 1},
				{"alharvest_al_quota_rejections_total", nil, 1},
			},
		},
		{
			name:    "concurrency limit",
			observe: func(m *Metrics) { m.ConcurrencyLimit(10); m.ConcurrencyLimit(7) },
			want:    []series{{"alharvest_al_concurrency_limit", nil, 7}},
		},
		{
			name:    "search pages",
			observe: func(m *Metrics) { m.Page(500); m.Page(12) },
			want: []series{
				{"alharvest_search_pages_total", nil, 2},
				{"alharvest_search_sids_found_total", nil, 512},
			},
		},
		{
			name:    "a sweep that succeeds moves the watermark",
			observe: func(m *Metrics) { m.SweepDone(40, 30, watermark, nil) },
			want: []series{
				{"alharvest_search_sids_published_total", nil, 30},
				{"alharvest_search_sweeps_total", map[string]string{"result": "ok"}, 1},
				{"alharvest_search_watermark_timestamp_seconds", nil, float64(watermark.Unix())},
			},
		},
		{
			name:    "a sweep that fails counts what it published and leaves the watermark",
			observe: func(m *Metrics) { m.SweepDone(40, 5, watermark, errors.New("cursor expired")) },
			want: []series{
				{"alharvest_search_sids_published_total", nil, 5},
				{"alharvest_search_sweeps_total", map[string]string{"result": "error"}, 1},
				{"alharvest_search_watermark_timestamp_seconds", nil, 0},
				{"alharvest_search_last_success_timestamp_seconds", nil, 0},
			},
		},
		{
			name:    "scoring",
			observe: func(m *Metrics) { m.Scored(10, 4); m.Scored(3, 0) },
			want: []series{
				{"alharvest_scorer_submissions_scored_total", nil, 2},
				{"alharvest_scorer_files_qualified_total", nil, 4},
			},
		},
		{
			name:    "collected: only new files add bytes",
			observe: func(m *Metrics) { m.Collected(100, true); m.Collected(5000, false); m.Collected(20, true) },
			want: []series{
				{"alharvest_files_collected_total", map[string]string{"result": "new"}, 2},
				{"alharvest_files_collected_total", map[string]string{"result": "present"}, 1},
				{"alharvest_download_bytes_total", nil, 120},
			},
		},
		{
			name:    "verify failures",
			observe: func(m *Metrics) { m.VerifyFailed(); m.VerifyFailed() },
			want:    []series{{"alharvest_cart_verify_failures_total", nil, 2}},
		},
		{
			name: "queue gauges are set, not added",
			observe: func(m *Metrics) {
				m.ConsumerState("scorer", 50, 9, 9)
				m.ConsumerState("scorer", 5, 2, 1)
				m.StreamState("ALHARVEST_DLQ", 4)
				m.StreamState("ALHARVEST_DLQ", 3)
				m.DeferredMessages("scorer", 12)
				m.DeferredMessages("scorer", 7)
			},
			want: []series{
				{"alharvest_consumer_pending_messages", map[string]string{"consumer": "scorer"}, 5},
				{"alharvest_consumer_ack_pending_messages", map[string]string{"consumer": "scorer"}, 2},
				{"alharvest_consumer_redelivered_messages", map[string]string{"consumer": "scorer"}, 1},
				{"alharvest_stream_messages", map[string]string{"stream": "ALHARVEST_DLQ"}, 3},
				{"alharvest_deferred_messages", map[string]string{"stage": "scorer"}, 7},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			tc.observe(m)
			for _, s := range tc.want {
				got, ok := read(t, m, s.name, s.labels)
				if !ok && s.want != 0 {
					t.Errorf("%s%v: no such series", s.name, s.labels)
					continue
				}
				if got != s.want {
					t.Errorf("%s%v = %v, want %v", s.name, s.labels, got, s.want)
				}
			}
		})
	}
}

func TestLastSweepIsStampedOnSuccess(t *testing.T) {
	m := New()
	before := float64(time.Now().Unix())
	m.SweepDone(0, 0, time.Time{}, nil)
	got := testutil.ToFloat64(m.lastSweep)
	if got < before || got > float64(time.Now().Unix()+1) {
		t.Errorf("last success %v, want about now (%v)", got, before)
	}
	if wm := testutil.ToFloat64(m.watermark); wm != 0 {
		t.Errorf("a sweep without a watermark set it to %v", wm)
	}
}

func TestSnapshotReadsTheCounters(t *testing.T) {
	m := New()
	m.Page(7)
	m.SweepDone(7, 6, time.Now(), nil)
	m.Scored(3, 2)
	m.Collected(10, true)
	m.Collected(10, true)
	m.Collected(10, false)
	m.Settled("scorer", worker.OutcomeRetried, failure.Unavailable)
	m.Settled("downloader", worker.OutcomeRetried, failure.Timeout)
	m.Settled("downloader", worker.OutcomeDeadLettered, failure.Corrupt)
	m.Settled("downloader", worker.OutcomeAcked, failure.Unknown)
	m.ALRequest("search", 200, time.Millisecond, false)
	m.ALRequest("download", 503, time.Millisecond, true)
	m.ALRequest("download", 200, time.Millisecond, false)

	want := Snapshot{
		SIDsFound: 7, Scored: 1, Qualified: 2, CollectedNew: 2, Present: 1, DownloadBytes: 20,
		DeadLettered: 1, Retried: 2, QuotaRejections: 1, ALCalls: 3,
	}
	if got := m.Snapshot(); got != want {
		t.Errorf("Snapshot() = %+v\nwant %+v", got, want)
	}
}

// TestMetricsTable keeps the metrics table of docs/monitoring.md and the
// registry in step: every documented metric is exported, every exported
// alharvest_ metric is documented.
func TestMetricsTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/monitoring.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "## Metrics")
	if start < 0 {
		t.Fatal("docs/monitoring.md has no Metrics section")
	}
	end := strings.Index(text[start+1:], "\n#")
	if end < 0 {
		end = len(text) - start - 1
	}
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllStringSubmatch(text[start:start+1+end], -1) {
		documented = append(documented, namespace+"_"+m[1])
	}
	if len(documented) < 20 {
		t.Fatalf("found only %d rows in the metrics table of docs/monitoring.md; has its format changed?", len(documented))
	}

	// A labelled metric is exported once it has a series: touch every one.
	m := New()
	m.Received("scorer", false)
	m.Settled("scorer", worker.OutcomeAcked, failure.Unknown)
	m.InFlight("scorer", 1)
	m.Halted("scorer", false)
	m.Stalled("scorer", false)
	m.ConsumerRestarted("scorer")
	m.ALRequest("search", 200, time.Millisecond, false)
	m.SweepDone(0, 0, time.Time{}, nil)
	m.Collected(1, true)
	m.ConsumerState("scorer", 0, 0, 0)
	m.StreamState("ALHARVEST_SIDS", 0)
	m.DeferredMessages("scorer", 0)
	m.WebhookRequest(webhook.OutcomeStored)
	m.Deduplicated("scorer", "alharvest.files")
	m.StreamAge("ALHARVEST_SIDS", 0, time.Time{}, time.Now())
	m.NewFeed("inbox") // a feed process registers its own metrics

	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var exported []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), namespace+"_") {
			exported = append(exported, f.GetName())
		}
	}
	slices.Sort(documented)
	slices.Sort(exported)
	if !slices.Equal(documented, exported) {
		t.Errorf("docs/monitoring.md documents\n  %v\nthe registry exports\n  %v", documented, exported)
	}
	if v, ok := read(t, m, "alharvest_build_info", nil); ok || v != 0 {
		t.Error("build_info has a series without its version labels")
	}
	bi := version.Get()
	if v, _ := read(t, m, "alharvest_build_info", map[string]string{"version": bi.Version, "revision": bi.ShortRevision(), "vcs_time": bi.Time, "goversion": bi.Go}); v != 1 {
		t.Errorf("build_info{version=%q,goversion=%q} = %v, want 1", bi.Version, bi.Go, v)
	}
}
