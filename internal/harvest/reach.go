package harvest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Reachable dials Assemblyline's host once and reports the failures no
// retry will cure — the name does not resolve, or nothing listens on the
// port — as one line that names AL_URL and the fix. Anything else (a
// timeout, a TLS or HTTP problem) is left to the run, which retries and
// classifies it; so is a server behind an HTTP proxy, which resolves and
// connects on our behalf.
func Reachable(ctx context.Context, alURL string) error {
	u, err := url.Parse(alURL)
	if err != nil || u.Hostname() == "" {
		return nil // the configuration check has said what is wrong
	}
	req := &http.Request{URL: u}
	if p, err := http.ProxyFromEnvironment(req); err != nil || p != nil {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err == nil {
		conn.Close()
		return nil
	}
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && !dns.IsTimeout:
		return fmt.Errorf("cannot reach Assemblyline: AL_URL=%s: host %s not found: check AL_URL and this machine's DNS", alURL, u.Hostname())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach Assemblyline: AL_URL=%s: connection refused on %s: check AL_URL's port and that the server is up", alURL, net.JoinHostPort(u.Hostname(), port))
	}
	return nil
}
