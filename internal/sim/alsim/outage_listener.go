// The refusing outage at the socket: a listener that closes and reopens on
// the same address, and resets the connections that were open.

package alsim

import (
	"net"
	"sync"
	"time"
)

// WrapListener returns ln wrapped so that a refusing outage can close it
// (new connections are refused by the kernel) and reopen it on the same
// address when the outage ends. Serve wraps its listener itself; use this
// when serving Handler through your own http.Server or httptest.
func (s *Server) WrapListener(ln net.Listener) net.Listener {
	l := &outageListener{ln: ln, addr: ln.Addr(), conns: map[net.Conn]struct{}{}}
	l.cond = sync.NewCond(&l.mu)
	s.outage.mu.Lock()
	s.outage.listeners = append(s.outage.listeners, l)
	refusing := s.outage.mode == OutageRefuse
	s.outage.mu.Unlock()
	if refusing {
		l.down()
	}
	return l
}

// outageListener is a TCP listener that can be closed and reopened on the
// same address, with Accept blocking (rather than failing) in between, so
// the http.Server serving it never notices.
type outageListener struct {
	mu     sync.Mutex
	cond   *sync.Cond
	ln     net.Listener // nil while refusing
	gen    int          // bumped on every down
	addr   net.Addr
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *outageListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		for l.ln == nil && !l.closed {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return nil, net.ErrClosed
		}
		ln, gen := l.ln, l.gen
		l.mu.Unlock()

		c, err := ln.Accept()
		l.mu.Lock()
		switch {
		case err != nil && (l.closed || l.gen == gen):
			l.mu.Unlock()
			return nil, err
		case err != nil:
			l.mu.Unlock() // closed by down: wait for up
			continue
		case l.gen != gen || l.closed:
			l.mu.Unlock()
			resetTCP(c)
			continue
		}
		tc := &trackedConn{Conn: c, l: l}
		l.conns[tc] = struct{}{}
		l.mu.Unlock()
		return tc, nil
	}
}

// down closes the socket and resets every open connection; it returns how
// many were reset.
func (l *outageListener) down() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil || l.closed {
		return 0
	}
	l.gen++
	l.ln.Close()
	l.ln = nil
	n := 0
	for c := range l.conns {
		resetTCP(c.(*trackedConn).Conn)
		delete(l.conns, c)
		n++
	}
	return n
}

// up listens on the same address again. The port may briefly be held by
// the old socket's connections; it retries for a while.
func (l *outageListener) up() {
	go func() {
		for i := 0; i < 100; i++ {
			l.mu.Lock()
			if l.closed || l.ln != nil {
				l.mu.Unlock()
				return
			}
			ln, err := net.Listen(l.addr.Network(), l.addr.String())
			if err == nil {
				l.ln = ln
				l.cond.Broadcast()
				l.mu.Unlock()
				return
			}
			l.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
}

func (l *outageListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	l.closed = true
	l.cond.Broadcast()
	if l.ln != nil {
		return l.ln.Close()
	}
	return nil
}

func (l *outageListener) Addr() net.Addr { return l.addr }

// trackedConn leaves its listener's set when closed.
type trackedConn struct {
	net.Conn
	l    *outageListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// resetTCP closes c with an RST where the platform allows.
func resetTCP(c net.Conn) {
	if tc, ok := c.(*trackedConn); ok {
		defer tc.Close()
		c = tc.Conn
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
