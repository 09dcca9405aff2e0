package testenv_test

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/testenv"
)

func TestFreePortCanBeListenedOn(t *testing.T) {
	port := testenv.FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d: %v", port, err)
	}
	l.Close()
}

// recorder is a testing.TB that keeps what would have failed the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, format)
}

func TestEventually(t *testing.T) {
	t.Run("holds after a few polls", func(t *testing.T) {
		var calls atomic.Int32
		r := &recorder{TB: t}
		if !testenv.Eventually(r, 5*time.Second, "third call", func() bool { return calls.Add(1) >= 3 }) {
			t.Fatal("returned false")
		}
		if len(r.errors) != 0 || calls.Load() != 3 {
			t.Fatalf("errors %v, calls %d", r.errors, calls.Load())
		}
	})
	t.Run("times out", func(t *testing.T) {
		var calls atomic.Int32
		r := &recorder{TB: t}
		start := time.Now()
		if testenv.Eventually(r, 150*time.Millisecond, "never", func() bool { calls.Add(1); return false }) {
			t.Fatal("returned true")
		}
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Errorf("gave up after %s, before the timeout", took)
		}
		if len(r.errors) != 1 || calls.Load() < 2 {
			t.Fatalf("errors %v, calls %d", r.errors, calls.Load())
		}
	})
}
