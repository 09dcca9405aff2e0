package bench

import "testing"

func TestParseReplicas(t *testing.T) {
	tests := []struct {
		mode     string
		n        int
		aimd, ok bool
	}{
		{"multi-5", 5, false, true},
		{"multi-10-aimd", 10, true, true},
		{"multi", 0, false, false},
		{"multi-0", 0, false, false},
		{"multi-x", 0, false, false},
		{"one", 0, false, false},
	}
	for _, tt := range tests {
		n, aimd, ok := parseReplicas(tt.mode)
		if n != tt.n || aimd != tt.aimd || ok != tt.ok {
			t.Errorf("parseReplicas(%q) = %d, %t, %t; want %d, %t, %t", tt.mode, n, aimd, ok, tt.n, tt.aimd, tt.ok)
		}
	}
}
