package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alharvest/alharvest/internal/connlimit"
)

// DefaultLimits bound the receiver's clients. Assemblyline pushes one
// small body per completed submission from a few workers; 64 connections
// leave plenty of room for it while a flood of idle or slow connections
// holds at most 64 of the process's file descriptors. A push beyond the
// cap waits to be accepted rather than being refused; one that
// Assemblyline gives up on meanwhile is found by the next sweep.
var DefaultLimits = connlimit.Limits{
	MaxConns:          64,
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
}

// Server is a listening receiver.
type Server struct {
	// Limits bound its clients (DefaultLimits unless changed before Serve).
	Limits connlimit.Limits

	ln  net.Listener
	srv *http.Server
	tls bool
	log *slog.Logger
}

// Listen opens addr for h; with certFile and keyFile it serves TLS. It
// returns once the port is open, so a taken port fails the start-up.
func Listen(addr, certFile, keyFile string, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	srv := &http.Server{
		Handler:  h,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s := &Server{Limits: DefaultLimits, srv: srv, log: log}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_TLS_CERT/WEBHOOK_TLS_KEY: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.tls = true
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_ADDR %s: %w", addr, err)
	}
	s.ln = ln
	return s, nil
}

// URL is the receiver's full URL on its listening address.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.ln.Addr().String() + Path
}

// Serve answers pushes until ctx ends, then lets requests in flight finish
// (each is at most one JetStream publish).
func (s *Server) Serve(ctx context.Context) error {
	ln := s.Limits.Apply(s.srv, s.ln)
	s.log.Info("serving the Assemblyline webhook receiver", "url", s.URL(), "max_conns", s.Limits.MaxConns)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(sctx)
	}()
	var err error
	if s.tls {
		err = s.srv.ServeTLS(ln, "", "")
	} else {
		err = s.srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
