package netaddr

import "testing"

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.8.9.10", true}, // the whole 127/8 block
		{"::1", true},
		{"0:0:0:0:0:0:0:1", true},
		{"::ffff:127.0.0.1", true}, // IPv4-mapped loopback
		{"localhost", true},
		{"LocalHost", true},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.1.2.3", false},
		{"192.168.0.1", false},
		{"2001:db8::1", false},
		{"[::1]", false}, // brackets belong to host:port, not to a host
		{"127.0.0.1:80", false},
		{"localhost.example.org", false},
		{"al.example.org", false},
		{"127.0.0.1.nip.io", false},
	}
	for _, tc := range tests {
		if got := IsLoopback(tc.host); got != tc.want {
			t.Errorf("IsLoopback(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}
