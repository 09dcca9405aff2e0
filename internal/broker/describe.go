package broker

import (
	"fmt"

	"github.com/alharvest/alharvest/internal/secret"
	"github.com/nats-io/nats.go"
)

// Describe says, without any secret, what a live connection actually uses:
// the server it reached, the credentials configured in c, and whether the
// session is encrypted (which a server can impose even when c asks for no TLS).
func Describe(nc *nats.Conn, c ConnConfig) string {
	if c.InProcess != nil {
		return c.String()
	}
	url := nc.ConnectedUrlRedacted()
	if url == "" {
		url = secret.MaskURL(c.URLs) + " [not connected]"
	}
	_, err := nc.TLSConnectionState()
	return fmt.Sprintf("%s (auth %s, tls %t)", url, c.auth(), err == nil)
}
