// Package netaddr answers questions about network addresses that more than
// one part of alharvest must answer the same way.
package netaddr

import (
	"net"
	"strings"
)

// IsLoopback reports whether host (a name or an IP literal, without port or
// brackets) only reaches this machine. Both safety checks that use it — the
// API key over plain HTTP, and the embedded NATS server without
// authentication — must err on the side of "not loopback": an empty host or
// an unspecified address (0.0.0.0, ::) is not loopback, and of the names only
// "localhost" is trusted, since anything else depends on a resolver.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
