package connlimit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/connlimit"
	"github.com/alharvest/alharvest/internal/testenv"
)

// serve runs an HTTP server under limits on a loopback port and returns
// its address and the number of connections it holds open.
func serve(t *testing.T, limits connlimit.Limits, h http.Handler) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open atomic.Int64
	srv := &http.Server{Handler: h, ConnState: func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}}
	capped := limits.Apply(srv, ln)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(capped) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), &open
}

func ok(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, "ok")
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCapHoldsConnectionsBeyondIt: with the cap's worth of idle
// connections open, the server accepts no more; a request on another
// connection waits (it is not refused) and is answered once one closes.
func TestCapHoldsConnectionsBeyondIt(t *testing.T) {
	const capN = 3
	addr, open := serve(t, connlimit.Limits{MaxConns: capN, ReadHeaderTimeout: time.Minute}, http.HandlerFunc(ok))
	idle := make([]net.Conn, 0, 2*capN)
	for range 2 * capN {
		idle = append(idle, dial(t, addr))
	}
	testenv.Eventually(t, 5*time.Second, "the cap's worth of connections accepted", func() bool { return open.Load() == capN })

	answered := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if n := open.Load(); n != capN {
		t.Errorf("%d connections open, cap %d", n, capN)
	}
	select {
	case err := <-answered:
		t.Fatalf("a request beyond the cap was handled at once (err %v)", err)
	default:
	}
	// Closing every idle connection makes room: the waiting ones are
	// accepted in turn (and, idle, hold their slot) until the request's.
	for _, c := range idle {
		c.Close()
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("the waiting request failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request was never answered")
	}
	testenv.Eventually(t, 5*time.Second, "every connection closed", func() bool { return open.Load() == 0 })
}

// closedWithin reports whether the server closes c within d, reading
// (and discarding) anything it answers meanwhile.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestTimeoutsCutSlowAndSilentClients: a connection that never speaks,
// headers sent a byte at a time, a body sent a byte at a time and a
// keep-alive connection left silent are all closed by the server once
// their timeout passes, instead of holding a descriptor for as long as the
// client likes.
func TestTimeoutsCutSlowAndSilentClients(t *testing.T) {
	limits := connlimit.Limits{
		MaxConns:          8,
		ReadHeaderTimeout: 300 * time.Millisecond,
		ReadTimeout:       600 * time.Millisecond,
		WriteTimeout:      600 * time.Millisecond,
		IdleTimeout:       300 * time.Millisecond,
	}
	addr, open := serve(t, limits, http.HandlerFunc(ok))
	// A bound well past every timeout, well short of a client's patience.
	const bound = 5 * time.Second
	dribble := func(c net.Conn, s string, stop <-chan struct{}) {
		for i := range len(s) {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name  string
		start func(c net.Conn, stop <-chan struct{})
	}{
		{"silent from the start", func(net.Conn, <-chan struct{}) {}},
		{"headers a byte at a time", func(c net.Conn, stop <-chan struct{}) {
			go dribble(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 200)+"\r\n\r\n", stop)
		}},
		{"body a byte at a time", func(c net.Conn, stop <-chan struct{}) {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
			go dribble(c, strings.Repeat("b", 200), stop)
		}},
		{"keep-alive left silent", func(c net.Conn, _ <-chan struct{}) {
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("first request: %v", err)
				return
			}
			resp.Body.Close()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			stop := make(chan struct{})
			defer close(stop)
			tc.start(c, stop)
			if !closedWithin(c, bound) {
				t.Errorf("still open after %s", bound)
			}
		})
	}
	testenv.Eventually(t, 5*time.Second, "every connection closed", func() bool { return open.Load() == 0 })
}

// TestApplySetsEveryLimit: what Apply is given is what the server uses.
func TestApplySetsEveryLimit(t *testing.T) {
	l := connlimit.Limits{MaxConns: 2, ReadHeaderTimeout: 1, ReadTimeout: 2, WriteTimeout: 3, IdleTimeout: 4, MaxHeaderBytes: 5}
	var srv http.Server
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if capped := l.Apply(&srv, ln); capped == ln {
		t.Error("MaxConns set, yet the listener is not capped")
	}
	got := connlimit.Limits{MaxConns: 2, ReadHeaderTimeout: srv.ReadHeaderTimeout, ReadTimeout: srv.ReadTimeout,
		WriteTimeout: srv.WriteTimeout, IdleTimeout: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes}
	if got != l {
		t.Errorf("server has %+v, want %+v", got, l)
	}
	if capped := (connlimit.Limits{}).Apply(&srv, ln); capped != ln {
		t.Error("no MaxConns, yet the listener was wrapped")
	}
}

// TestCloseEndsAWaitingAccept: closing a full listener ends the Accept
// that waits for a slot, so a server shuts down while at its cap.
func TestCloseEndsAWaitingAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := connlimit.Listener(ln, 1)
	dial(t, ln.Addr().String())
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	waited := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		waited <- err
	}()
	time.Sleep(100 * time.Millisecond)
	l.Close()
	select {
	case err := <-waited:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting after Close")
	}
	// A slot given back twice must not free two.
	first.Close()
	first.Close()
}
