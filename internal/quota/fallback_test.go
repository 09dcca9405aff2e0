package quota

import (
	"fmt"
	"testing"
)

// TestFallbackSharesAddUpToTheSize: whatever the number of processes, the
// shares every process computes from the same record sum to the size, and
// no two differ by more than one call.
func TestFallbackSharesAddUpToTheSize(t *testing.T) {
	tests := []struct{ size, holders int }{
		{10, 1}, {10, 2}, {10, 3}, {10, 10}, {10, 21}, {1, 5}, {7, 4}, {0, 3},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d slots %d holders", tc.size, tc.holders), func(t *testing.T) {
			ids := make([]string, tc.holders)
			for i := range ids {
				ids[i] = fmt.Sprintf("p%02d", tc.holders-1-i) // not in sorted order
			}
			total, lo, hi := 0, tc.size, 0
			for _, id := range ids {
				s := fallbackShare(tc.size, append([]string(nil), ids...), id)
				total += s
				lo, hi = min(lo, s), max(hi, s)
			}
			if total != tc.size {
				t.Errorf("shares add up to %d, want %d", total, tc.size)
			}
			if hi-lo > 1 {
				t.Errorf("shares range from %d to %d", lo, hi)
			}
		})
	}
}

// TestFallbackShareOfAnUnknownProcess: a process the record does not list
// counts itself in, so it never assumes a share meant for others alone.
func TestFallbackShareOfAnUnknownProcess(t *testing.T) {
	if got := fallbackShare(10, []string{"a", "b"}, "c"); got != 3 {
		t.Errorf("share of a third process = %d, want 3 (10 split among 3, remainder to a)", got)
	}
	if got := fallbackShare(1, []string{"a", "b"}, "c"); got != 0 {
		t.Errorf("share of a third process on 1 slot = %d, want 0", got)
	}
}
