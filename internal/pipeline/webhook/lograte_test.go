package webhook

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLogRateSaysWhatItSuppressed: within an interval only the first line
// per key is written; the first line after it counts the ones left out.
// Keys do not hold each other back.
func TestLogRateSaysWhatItSuppressed(t *testing.T) {
	var buf bytes.Buffer
	l := newLogRate(slog.New(slog.NewJSONHandler(&buf, nil)), 10*time.Second)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l.now = func() time.Time { return now }

	for range 100 {
		l.write(slog.LevelWarn, "bad_request", "refused", "remote", "192.0.2.1:5")
		l.write(slog.LevelWarn, "unauthorized", "refused")
		now = now.Add(50 * time.Millisecond) // 100 requests: 5 s, one interval
	}
	now = now.Add(5 * time.Second)
	l.write(slog.LevelError, "bad_request", "refused again")

	type line struct {
		Level, Msg     string
		Suppressed     *int   `json:"suppressed"`
		SuppressedOver string `json:"suppressed_over"`
	}
	var got []line
	for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(s), &ln); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		got = append(got, ln)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(got), buf.String())
	}
	if got[0].Suppressed != nil || got[1].Suppressed != nil {
		t.Errorf("first lines claim suppressed ones: %+v %+v", got[0], got[1])
	}
	if last := got[2]; last.Level != "ERROR" || last.Msg != "refused again" || last.Suppressed == nil || *last.Suppressed != 99 || last.SuppressedOver != "10s" {
		t.Errorf("line after the interval %+v, want 99 suppressed over 10s", last)
	}
}
