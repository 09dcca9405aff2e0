// Package testenv gives tests what they need from the machine they run on
// beyond a NATS server (see natstest): a free port to hand to a process,
// a way to wait for something that happens in another goroutine or
// process, and a buffer to read its output from meanwhile. Import it from
// tests only.
package testenv

import (
	"net"
	"testing"
	"time"
)

// FreePort returns a loopback TCP port that was free a moment ago. Prefer
// letting a server pick its own port (":0") and asking it; use this only
// for a process that must be told its port up front.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond until it holds or timeout passes. On timeout it
// reports "timed out after <timeout> waiting for <what>" as a test error
// and returns false, so a caller can still gather diagnostics; a caller
// that cannot go on writes `if !testenv.Eventually(...) { t.FailNow() }`.
// The polling interval grows from 10 ms to 100 ms: quick for cheap
// conditions that hold soon, gentle for expensive ones that take a while.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := 10 * time.Millisecond
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			t.Errorf("timed out after %s waiting for %s", timeout, what)
			return false
		}
		time.Sleep(min(interval, time.Until(deadline)+time.Millisecond))
		interval = min(2*interval, 100*time.Millisecond)
	}
}
