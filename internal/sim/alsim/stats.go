package alsim

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is what the simulator has served since start or the last reset.
type Stats struct {
	Since time.Time `json:"since"`
	// Calls counts API calls by endpoint ("search", "full",
	// "is_completed", "download", "not_found", "redirect", ...) and HTTP
	// status; "reset" stands for a connection dropped without a response
	// and "aborted" for one the client gave up on.
	Calls map[string]map[string]int64 `json:"calls"`
	// QuotaRejected counts 503s for the concurrent quota,
	// DailyQuotaRejected those for the daily quota.
	QuotaRejected      int64 `json:"quota_rejected"`
	DailyQuotaRejected int64 `json:"daily_quota_rejected"`
	// InFlight and PeakInFlight count calls holding a quota slot (admitted
	// and not yet answered). With a strict quota the peak never exceeds
	// Quota.
	InFlight     int64 `json:"in_flight"`
	PeakInFlight int64 `json:"peak_in_flight"`
	// Quota is the configured concurrent quota (0 = off).
	Quota int `json:"quota"`
	// ServerTime sums, per endpoint, how long admitted calls held their
	// quota slot. ServerTimeTotal / Quota is the least wall time any client
	// needs to get the same work done: the physical bound to compare a
	// benchmark with.
	ServerTime      map[string]time.Duration `json:"server_time_ns"`
	ServerTimeTotal time.Duration            `json:"server_time_total_ns"`
	// BytesServed counts response body bytes written, DownloadBytes the
	// part that were file downloads.
	BytesServed   int64 `json:"bytes_served"`
	DownloadBytes int64 `json:"download_bytes"`
	// Cursors counts deep-paging points in time: opened, closed by their
	// last page, and expired (keep-alive lapsed or fault).
	CursorsOpened  int64 `json:"cursors_opened"`
	CursorsClosed  int64 `json:"cursors_closed"`
	CursorsExpired int64 `json:"cursors_expired"`
	OpenCursors    int   `json:"open_cursors"`
	// Faults counts injected faults by type.
	Faults map[string]int64 `json:"faults"`
	// FirstAdmit and LastLeave bound the calls admitted since the reset
	// (zero before any); Occupancy is how long, between them, exactly i
	// calls held a slot. Together they tell a client's idle slots from
	// its start-up and its tail.
	FirstAdmit time.Time       `json:"first_admit"`
	LastLeave  time.Time       `json:"last_leave"`
	Occupancy  []time.Duration `json:"occupancy_ns"`
}

type statsRec struct {
	mu         sync.Mutex
	since      time.Time
	calls      map[string]map[string]int64
	serverTime map[string]time.Duration
	faults     map[string]int64

	quotaRejected, dailyRejected atomic.Int64
	inFlight, peak               atomic.Int64
	bytes, downloadBytes         atomic.Int64
	cursorsOpened                atomic.Int64
	cursorsClosed                atomic.Int64
	cursorsExpired               atomic.Int64

	// The occupancy timeline, under its own lock: admit and leave are on
	// every call's path.
	occMu                 sync.Mutex
	level                 int
	changed               time.Time
	firstAdmit, lastLeave time.Time
	occupancy             []time.Duration
}

func newStats() *statsRec {
	s := &statsRec{}
	s.reset()
	return s
}

func (s *statsRec) reset() {
	s.mu.Lock()
	s.since = time.Now()
	s.calls = map[string]map[string]int64{}
	s.serverTime = map[string]time.Duration{}
	s.faults = map[string]int64{}
	s.mu.Unlock()
	s.quotaRejected.Store(0)
	s.dailyRejected.Store(0)
	s.peak.Store(s.inFlight.Load())
	s.bytes.Store(0)
	s.downloadBytes.Store(0)
	s.cursorsOpened.Store(0)
	s.cursorsClosed.Store(0)
	s.cursorsExpired.Store(0)
	s.occMu.Lock()
	s.firstAdmit, s.lastLeave, s.occupancy = time.Time{}, time.Time{}, nil
	s.changed = time.Now()
	s.occMu.Unlock()
}

// occupy moves the in-flight level by d, adding the time spent at the old
// level once the first call was admitted.
func (s *statsRec) occupy(d int) {
	now := time.Now()
	s.occMu.Lock()
	defer s.occMu.Unlock()
	if !s.firstAdmit.IsZero() {
		for len(s.occupancy) <= s.level {
			s.occupancy = append(s.occupancy, 0)
		}
		s.occupancy[s.level] += now.Sub(s.changed)
	} else if d > 0 {
		s.firstAdmit = now
	}
	s.level = max(0, s.level+d)
	s.changed = now
	if d < 0 {
		s.lastLeave = now
	}
}

func (s *statsRec) call(endpoint string, status int) {
	label := strconv.Itoa(status)
	switch status {
	case statusReset:
		label = "reset"
	case statusAborted:
		label = "aborted"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.calls[endpoint]
	if m == nil {
		m = map[string]int64{}
		s.calls[endpoint] = m
	}
	m[label]++
}

func (s *statsRec) fault(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[name]++
}

func (s *statsRec) admit() {
	s.occupy(1)
	n := s.inFlight.Add(1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (s *statsRec) leave(endpoint string, held time.Duration) {
	s.inFlight.Add(-1)
	s.occupy(-1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serverTime[endpoint] += held
}

func (s *statsRec) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{
		Since:              s.since,
		Calls:              map[string]map[string]int64{},
		QuotaRejected:      s.quotaRejected.Load(),
		DailyQuotaRejected: s.dailyRejected.Load(),
		InFlight:           s.inFlight.Load(),
		PeakInFlight:       s.peak.Load(),
		ServerTime:         map[string]time.Duration{},
		BytesServed:        s.bytes.Load(),
		DownloadBytes:      s.downloadBytes.Load(),
		CursorsOpened:      s.cursorsOpened.Load(),
		CursorsClosed:      s.cursorsClosed.Load(),
		CursorsExpired:     s.cursorsExpired.Load(),
		Faults:             map[string]int64{},
	}
	for ep, m := range s.calls {
		cp := map[string]int64{}
		for k, v := range m {
			cp[k] = v
		}
		out.Calls[ep] = cp
	}
	for ep, d := range s.serverTime {
		out.ServerTime[ep] = d
		out.ServerTimeTotal += d
	}
	for k, v := range s.faults {
		out.Faults[k] = v
	}
	s.occMu.Lock()
	out.FirstAdmit, out.LastLeave = s.firstAdmit, s.lastLeave
	out.Occupancy = append([]time.Duration(nil), s.occupancy...)
	s.occMu.Unlock()
	return out
}
