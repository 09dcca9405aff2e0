// Package connlimit bounds what clients may hold of an HTTP server: how
// many connections at once, and for how long each may stay silent or slow.
// A flood of idle or slow clients then costs the process a bounded number
// of file descriptors: connections beyond the cap wait in the kernel's
// accept queue, where they hold none of ours, until one closes; a client
// that sends its request a byte a second, or keeps a connection open
// without a word, is cut off by a timeout.
package connlimit

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound the clients of one HTTP server.
type Limits struct {
	// MaxConns caps the connections open at once (0: no cap).
	MaxConns int
	// ReadHeaderTimeout bounds the wait for a request's headers, counted
	// from the connection's first byte or the end of the previous request.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds handling a request and writing its answer.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection left silent this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (0: net/http's 1 MiB).
	MaxHeaderBytes int
}

// Apply sets srv's timeouts from l and returns ln capped at l.MaxConns;
// serve srv on the listener it returns.
func (l Limits) Apply(srv *http.Server, ln net.Listener) net.Listener {
	srv.ReadHeaderTimeout = l.ReadHeaderTimeout
	srv.ReadTimeout = l.ReadTimeout
	srv.WriteTimeout = l.WriteTimeout
	srv.IdleTimeout = l.IdleTimeout
	srv.MaxHeaderBytes = l.MaxHeaderBytes
	if l.MaxConns > 0 {
		ln = Listener(ln, l.MaxConns)
	}
	return ln
}

// Listener returns ln accepting at most n connections at a time: Accept
// waits while n accepted connections are still open. n < 1 means 1. It is
// golang.org/x/net/netutil's LimitListener, without the dependency.
func Listener(ln net.Listener, n int) net.Listener {
	return &listener{Listener: ln, slots: make(chan struct{}, max(n, 1)), done: make(chan struct{})}
}

type listener struct {
	net.Listener
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close, to end a waiting Accept
	closeOnce sync.Once
}

// Accept waits for a free slot, then for a connection.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &conn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close closes the listener and ends any Accept waiting for a slot.
func (l *listener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// conn gives its slot back on its first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
