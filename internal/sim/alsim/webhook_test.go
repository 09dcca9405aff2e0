package alsim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// hookRecorder is a webhook receiver that fails the first failFirst tries
// of each SID and records every try.
type hookRecorder struct {
	mu        sync.Mutex
	tries     map[string][]time.Time
	bodies    map[string]map[string]any
	failFirst int
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u, p, ok := r.BasicAuth()
	if !ok || u != "al" || p != "pw" || r.Header.Get("X-Extra") != "yes" || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	sid, _ := doc["submission"].(map[string]any)["sid"].(string)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tries[sid] = append(h.tries[sid], time.Now())
	h.bodies[sid] = doc
	if len(h.tries[sid]) <= h.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func TestPusherPushesCompletionsWithAssemblylineRetries(t *testing.T) {
	tests := []struct {
		name      string
		failFirst int
		drop      float64
		// wantTries per delivered push; failed: every push given up.
		wantTries int
		failed    bool
	}{
		{"every push delivered at once", 0, 0, 1, false},
		{"third try succeeds", 2, 0, 3, false},
		{"receiver down: dropped after 3 tries", 5, 0, 3, true},
		{"half the pushes dropped by the fault knob", 0, 0.5, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, err := alsim.New(alsim.Config{Seed: 3, Submissions: 200, LateArrivals: 20, ArrivalWindow: 400 * time.Millisecond,
				Incomplete: 10, IncompleteFor: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sim.Close() })
			rec := &hookRecorder{tries: map[string][]time.Time{}, bodies: map[string]map[string]any{}, failFirst: tt.failFirst}
			ts := httptest.NewServer(rec)
			t.Cleanup(ts.Close)
			p, err := sim.NewPusher(alsim.WebhookConfig{URL: ts.URL + "/webhooks/assemblyline", User: "al", Password: "pw",
				Headers: []string{"X-Extra: yes"}, MinScore: 7000, Drop: tt.drop}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p.Run(ctx)

			// Which submissions must be pushed: those completing after the
			// start with max_score >= 7000.
			due := map[string]alsim.SubmissionInfo{}
			for i := range sim.Corpus().Len() {
				s := sim.Corpus().Submission(i)
				if s.Kind != alsim.Normal && !s.Completed.IsZero() && s.MaxScore >= 7000 {
					due[s.SID] = s
				}
			}
			st := p.Stats()
			if st.Due != int64(len(due)) || len(due) < 15 {
				t.Fatalf("stats %+v, %d due", st, len(due))
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for sid, tries := range rec.tries {
				s, ok := due[sid]
				if !ok {
					t.Errorf("pushed %s, which does not complete during the run or is below the filter", sid)
					continue
				}
				if len(tries) != tt.wantTries {
					t.Errorf("%s: %d tries, want %d", sid, len(tries), tt.wantTries)
				}
				// Assemblyline's schedule: ≈0 s, 0.1 s, 0.3 s later (0.1 then 0.1*2+0.1).
				if len(tries) == 3 {
					if d := tries[1].Sub(tries[0]); d < 90*time.Millisecond || d > 400*time.Millisecond {
						t.Errorf("%s: second try %v after the first", sid, d)
					}
					if d := tries[2].Sub(tries[1]); d < 280*time.Millisecond || d > 700*time.Millisecond {
						t.Errorf("%s: third try %v after the second", sid, d)
					}
				}
				body := rec.bodies[sid]
				sub := body["submission"].(map[string]any)
				if body["is_cache"] != false || body["score"].(float64) != float64(s.MaxScore) || sub["state"] != "completed" || sub["max_score"].(float64) != float64(s.MaxScore) {
					t.Errorf("%s: body %v", sid, body)
				}
			}
			switch {
			case tt.failed && (st.Failed != st.Due || st.Delivered != 0):
				t.Errorf("stats %+v: want every push failed", st)
			case !tt.failed && st.Delivered+st.Dropped != st.Due:
				t.Errorf("stats %+v: delivered + dropped != due", st)
			case tt.drop > 0 && (st.Dropped == 0 || st.Dropped == st.Due):
				t.Errorf("stats %+v: drop %v dropped none or all", st, tt.drop)
			case tt.drop == 0 && st.Dropped != 0:
				t.Errorf("stats %+v: dropped without the knob", st)
			}
			if int64(len(rec.tries)) != st.Due-st.Dropped {
				t.Errorf("%d SIDs reached the receiver, stats %+v", len(rec.tries), st)
			}
		})
	}
}

func TestArrivalsCoverExpected(t *testing.T) {
	sim, err := alsim.New(alsim.Config{Seed: 5, Submissions: 100, LateArrivals: 10, ArrivalWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	arr := sim.Arrivals(7000)
	exp := sim.Expected(7000)
	if len(arr) != len(exp) {
		t.Fatalf("%d arrivals for %d expected files", len(arr), len(exp))
	}
	late := 0
	for _, h := range exp {
		if time.Until(arr[h]) > 0 {
			late++
		}
	}
	if late == 0 {
		t.Error("no file arrives in the future although 10 submissions arrive late")
	}
}
