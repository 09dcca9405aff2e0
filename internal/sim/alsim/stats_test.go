package alsim

import (
	"testing"
	"time"
)

// The occupancy timeline covers exactly the span from the first admitted
// call to the last answered one, split by how many calls held a slot.
func TestStatsOccupancy(t *testing.T) {
	tests := []struct {
		name   string
		steps  []int // +1 admit, -1 leave
		levels int   // len(Occupancy): the highest level left behind, plus one
	}{
		{"one call", []int{1, -1}, 2},
		{"overlapping calls", []int{1, 1, -1, 1, -1, -1}, 3},
		{"back to back", []int{1, -1, 1, -1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStats()
			if st := s.snapshot(); !st.FirstAdmit.IsZero() || len(st.Occupancy) != 0 {
				t.Fatalf("before any call: first %v, occupancy %v", st.FirstAdmit, st.Occupancy)
			}
			for _, d := range tt.steps {
				if d > 0 {
					s.admit()
				} else {
					s.leave("full", time.Millisecond)
				}
			}
			st := s.snapshot()
			if st.FirstAdmit.IsZero() || st.LastLeave.Before(st.FirstAdmit) {
				t.Fatalf("first %v, last %v", st.FirstAdmit, st.LastLeave)
			}
			if len(st.Occupancy) != tt.levels {
				t.Fatalf("occupancy levels %d, want %d: %v", len(st.Occupancy), tt.levels, st.Occupancy)
			}
			var sum time.Duration
			for _, d := range st.Occupancy {
				sum += d
			}
			if want := st.LastLeave.Sub(st.FirstAdmit); sum != want {
				t.Fatalf("occupancy sums to %v, want the span %v", sum, want)
			}
			s.reset()
			if st := s.snapshot(); !st.FirstAdmit.IsZero() || len(st.Occupancy) != 0 {
				t.Fatalf("after reset: first %v, occupancy %v", st.FirstAdmit, st.Occupancy)
			}
		})
	}
}
