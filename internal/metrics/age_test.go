package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestStreamAge(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		msgs   uint64
		oldest time.Time
		want   float64
	}{
		{"oldest waited 90 s", 3, now.Add(-90 * time.Second), 90},
		{"empty stream", 0, now.Add(-time.Hour), 0},
		{"no first time", 2, time.Time{}, 0},
		{"clock skew", 1, now.Add(time.Second), 0},
	} {
		m := New()
		m.StreamAge("ALHARVEST_FILES", tc.msgs, tc.oldest, now)
		if got := testutil.ToFloat64(m.streamOldestAge.WithLabelValues("ALHARVEST_FILES")); got != tc.want {
			t.Errorf("%s: age %v, want %v", tc.name, got, tc.want)
		}
	}
}
