package assemblyline

import (
	"net/url"

	"github.com/alharvest/alharvest/internal/netaddr"
)

// Cleartext reports whether the client sends its API key unencrypted over
// the network: a plain http:// base URL whose host is not this machine.
// Config.AllowPlainHTTP permits it; callers should still say so loudly on
// every start, since anyone on the path can read the key.
func (c *Client) Cleartext() bool {
	u, err := url.Parse(c.base)
	return err == nil && u.Scheme == "http" && !netaddr.IsLoopback(u.Hostname())
}
