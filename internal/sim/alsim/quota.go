package alsim

import (
	"sync"
	"time"
)

// Quotas (§6 of the API notes): the concurrent-call quota, optionally
// leaky, and the daily quota with its x-remaining-quota-api header.

// quotaTracker mirrors UserQuotaTracker for the one user there is.
type quotaTracker struct {
	mu    sync.Mutex
	limit int
	count int
	leaky bool
}

func (q *quotaTracker) begin() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.limit == 0 {
		return true
	}
	if q.count >= q.limit {
		// make_api_response on the 503 path calls end() too, popping
		// somebody else's slot.
		if q.leaky && q.count > 0 {
			q.count--
		}
		return false
	}
	q.count++
	return true
}

func (q *quotaTracker) end() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.count > 0 {
		q.count--
	}
}

type dailyQuota struct {
	mu    sync.Mutex
	limit int
	day   string
	used  int
}

// take counts one call; it reports whether the call is allowed and how
// many remain today.
func (d *dailyQuota) take(now time.Time) (bool, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	day := now.UTC().Format("2006-01-02")
	if day != d.day {
		d.day, d.used = day, 0
	}
	if d.used >= d.limit {
		return false, 0
	}
	d.used++
	return true, d.limit - d.used
}

// slot is an admitted call's hold on the concurrent quota.
type slot struct {
	s        *Server
	endpoint string
	start    time.Time
	released bool
}

// release frees the quota slot; the real server does it before sending a
// body, including before streaming a download.
func (sl *slot) release() {
	if sl == nil || sl.released {
		return
	}
	sl.released = true
	// Leave the in-flight count before the tracker frees the slot, so the
	// measured peak can never exceed a strict quota.
	sl.s.stats.leave(sl.endpoint, time.Since(sl.start))
	sl.s.quota.end()
}
