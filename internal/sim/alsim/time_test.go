package alsim

import (
	"slices"
	"testing"
	"time"
)

func TestLateArrivals(t *testing.T) {
	const window = 800 * time.Millisecond
	s, c := testServer(t, Config{Submissions: 100, LateArrivals: 4, ArrivalWindow: window})
	var late []SubmissionInfo
	for i := range s.Corpus().Len() {
		if info := s.Corpus().Submission(i); info.Kind == Late {
			late = append(late, info)
		}
	}
	if len(late) != 4 {
		t.Fatalf("%d late submissions", len(late))
	}
	visible := func() map[string]bool {
		sids, _ := c.deepPage("max_score:>=7000", nil, 50)
		m := map[string]bool{}
		for _, sid := range sids {
			m[sid] = true
		}
		return m
	}
	now := visible()
	checked := 0
	for _, l := range late {
		if l.MaxScore < 7000 {
			t.Fatalf("late submission %s does not match", l.SID)
		}
		d := c.full(l.SID)
		// Only submissions still due after both answers must be hidden: a
		// slow machine may have let the first ones arrive already.
		if s.corpus.elapsed(time.Now()) >= l.CompletesAfter {
			continue
		}
		checked++
		if now[l.SID] {
			t.Fatalf("late submission %s visible before its time", l.SID)
		}
		if d.State != "submitted" || len(d.Results) != 0 || d.MaxScore != 0 {
			t.Fatalf("late submission %s before arrival: state %s, %d results", l.SID, d.State, len(d.Results))
		}
		if !l.Completed.After(time.Now().Add(-time.Second)) {
			t.Errorf("late submission completes at %v, in the past", l.Completed)
		}
	}
	if checked == 0 {
		t.Fatal("every late submission arrived before it could be checked")
	}
	if exp, expNow := s.Expected(7000), s.ExpectedNow(7000); s.corpus.elapsed(time.Now()) < window && len(expNow) >= len(exp) {
		t.Fatalf("ExpectedNow %d, Expected %d: late files should be missing now", len(expNow), len(exp))
	}
	time.Sleep(window - s.corpus.elapsed(time.Now()) + 50*time.Millisecond)
	now = visible()
	for _, l := range late {
		if !now[l.SID] {
			t.Fatalf("late submission %s still invisible", l.SID)
		}
		if d := c.full(l.SID); d.State != "completed" || d.MaxScore != l.MaxScore {
			t.Fatalf("late submission %s after arrival: %s %d", l.SID, d.State, d.MaxScore)
		}
	}
	if !slices.Equal(s.Expected(7000), s.ExpectedNow(7000)) {
		t.Fatal("everything has arrived but ExpectedNow != Expected")
	}
}

func TestIncompleteSubmissions(t *testing.T) {
	const after = 600 * time.Millisecond
	tests := []struct {
		name     string
		for_     time.Duration
		complete bool
	}{
		{"complete later", after, true},
		{"never complete", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, c := testServer(t, Config{Submissions: 80, Incomplete: 5, IncompleteFor: tc.for_})
			var inc []SubmissionInfo
			for i := range s.Corpus().Len() {
				if info := s.Corpus().Submission(i); info.Kind == Incomplete {
					inc = append(inc, info)
				}
			}
			sids, _ := c.deepPage("state:submitted", []string{"max_score:0"}, 3)
			if len(sids) != 5 || len(inc) != 5 {
				t.Fatalf("searching running submissions finds %d, corpus has %d", len(sids), len(inc))
			}
			for _, sub := range inc {
				d := c.full(sub.SID)
				if d.State != "submitted" || d.MaxScore != 0 || len(d.Results) != 0 || len(d.Errors) != 0 || d.Times.Completed != nil {
					t.Fatalf("running %s: %+v", sub.SID, d.State)
				}
				for _, n := range d.FileTree {
					if len(n.Children) != 0 || n.Score != 0 {
						t.Fatalf("running %s: tree has children or scores", sub.SID)
					}
				}
				if r := c.get("/api/v4/submission/is_completed/" + sub.SID + "/"); string(r.env.Response) != "false" {
					t.Fatalf("is_completed = %s", r.env.Response)
				}
			}
			if s.corpus.elapsed(time.Now()) >= after {
				t.Skip("machine too slow to observe the running state")
			}
			time.Sleep(after - s.corpus.elapsed(time.Now()) + 50*time.Millisecond)
			for _, sub := range inc {
				d := c.full(sub.SID)
				if tc.complete != (d.State == "completed") {
					t.Fatalf("%s: state %s", sub.SID, d.State)
				}
				if tc.complete {
					if len(d.Results) == 0 || d.MaxScore != sub.MaxScore {
						t.Fatalf("%s completed without results", sub.SID)
					}
					if r := c.get("/api/v4/submission/is_completed/" + sub.SID + "/"); string(r.env.Response) != "true" {
						t.Fatalf("is_completed = %s", r.env.Response)
					}
				}
			}
			sids, _ = c.deepPage("state:submitted", nil, 3)
			if tc.complete && len(sids) != 0 || !tc.complete && len(sids) != 5 {
				t.Fatalf("%d still running", len(sids))
			}
		})
	}
}
