package config

import (
	"errors"
	"fmt"
	"net"

	"github.com/alharvest/alharvest/internal/netaddr"
	"github.com/alharvest/alharvest/internal/secret"
)

// Webhook configures the Assemblyline webhook receiver (searcher and
// alharvest --follow).
type Webhook struct {
	// Addr is where the receiver listens; empty turns it off.
	Addr     string
	User     string
	Password secret.String // read from WEBHOOK_PASSWORD_FILE
	Token    secret.String // read from WEBHOOK_TOKEN_FILE
	// AllowNoAuth permits a receiver without credentials on loopback.
	AllowNoAuth bool
	TLSCert     string
	TLSKey      string
}

func webhookGroup(l *loader, c *Config) {
	l.strOpt(&c.Webhook.Addr, "WEBHOOK_ADDR", "", "listen address of the Assemblyline webhook receiver, POST/PUT /webhooks/assemblyline (empty = off)", false, true)
	l.str(&c.Webhook.User, "WEBHOOK_USER", "", "HTTP Basic user the webhook receiver requires (Assemblyline's webhook username)", false)
	var passFile, tokenFile string
	l.str(&passFile, "WEBHOOK_PASSWORD_FILE", "", "file holding the HTTP Basic password the webhook receiver requires", false)
	l.str(&tokenFile, "WEBHOOK_TOKEN_FILE", "", "file holding the bearer token the webhook receiver requires (Authorization: Bearer <token>)", false)
	l.boolean(&c.Webhook.AllowNoAuth, "WEBHOOK_ALLOW_NO_AUTH", false, "allow a webhook receiver without credentials when WEBHOOK_ADDR is loopback-only")
	l.str(&c.Webhook.TLSCert, "WEBHOOK_TLS_CERT", "", "certificate (PEM) to serve the webhook receiver over TLS", false)
	l.str(&c.Webhook.TLSKey, "WEBHOOK_TLS_KEY", "", "private key (PEM) of WEBHOOK_TLS_CERT", false)
	l.finally(func() error {
		w := &c.Webhook
		if w.Addr == "" {
			return nil
		}
		for _, f := range []struct {
			env, path string
			dst       *secret.String
		}{{"WEBHOOK_PASSWORD_FILE", passFile, &w.Password}, {"WEBHOOK_TOKEN_FILE", tokenFile, &w.Token}} {
			if f.path == "" {
				continue
			}
			var err error
			var v string
			if v, err = readSecretFile(f.env, f.path); err != nil {
				return err
			}
			*f.dst = secret.String(v)
		}
		switch {
		case w.Token == demoWebhookToken:
			return errDemoWebhookToken
		case (w.User == "") != (w.Password == ""):
			return errors.New("WEBHOOK_USER and WEBHOOK_PASSWORD_FILE go together")
		case (w.TLSCert == "") != (w.TLSKey == ""):
			return errors.New("WEBHOOK_TLS_CERT and WEBHOOK_TLS_KEY go together")
		case w.Password != "" || w.Token != "":
			return nil
		case !w.AllowNoAuth:
			return errors.New("WEBHOOK_ADDR needs WEBHOOK_USER + WEBHOOK_PASSWORD_FILE or WEBHOOK_TOKEN_FILE (or, on loopback only, WEBHOOK_ALLOW_NO_AUTH=true)")
		case !loopbackOnly(w.Addr):
			return fmt.Errorf("WEBHOOK_ALLOW_NO_AUTH needs WEBHOOK_ADDR on loopback only (e.g. 127.0.0.1:9180), not %q", w.Addr)
		}
		return nil
	})
}

// loopbackOnly reports whether the listen address host:port takes only local
// connections; an empty host means every interface.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && netaddr.IsLoopback(host)
}
