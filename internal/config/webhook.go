package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Webhook configures the Assemblyline webhook receiver (searcher and
// alharvest --follow).
type Webhook struct {
	// Addr is where the receiver listens; empty turns it off.
	Addr     string
	User     string
	Password string // secret: read from WEBHOOK_PASSWORD_FILE
	Token    string // secret: read from WEBHOOK_TOKEN_FILE
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
			dst       *string
		}{{"WEBHOOK_PASSWORD_FILE", passFile, &w.Password}, {"WEBHOOK_TOKEN_FILE", tokenFile, &w.Token}} {
			if f.path == "" {
				continue
			}
			b, err := os.ReadFile(f.path)
			if err != nil {
				return fmt.Errorf("%s: %w", f.env, err)
			}
			if *f.dst = strings.TrimSpace(string(b)); *f.dst == "" {
				return fmt.Errorf("%s: file is empty", f.env)
			}
		}
		switch {
		case (w.User == "") != (w.Password == ""):
			return errors.New("WEBHOOK_USER and WEBHOOK_PASSWORD_FILE go together")
		case (w.TLSCert == "") != (w.TLSKey == ""):
			return errors.New("WEBHOOK_TLS_CERT and WEBHOOK_TLS_KEY go together")
		case w.Password != "" || w.Token != "":
			return nil
		case !w.AllowNoAuth:
			return errors.New("WEBHOOK_ADDR needs WEBHOOK_USER + WEBHOOK_PASSWORD_FILE or WEBHOOK_TOKEN_FILE (or, on loopback only, WEBHOOK_ALLOW_NO_AUTH=true)")
		case !loopbackAddr(w.Addr):
			return fmt.Errorf("WEBHOOK_ALLOW_NO_AUTH needs WEBHOOK_ADDR on loopback only (e.g. 127.0.0.1:9180), not %q", w.Addr)
		}
		return nil
	})
}

// loopbackAddr reports whether host:port listens on loopback only; an
// empty host means every interface.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type webhookView Webhook

func (w Webhook) view() webhookView {
	v := webhookView(w)
	v.Password, v.Token = redactSecret(v.Password), redactSecret(v.Token)
	return v
}

// Format prints Webhook as fmt would with any verb, password and token redacted.
func (w Webhook) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), w.view()) }

// MarshalJSON encodes Webhook with password and token redacted.
func (w Webhook) MarshalJSON() ([]byte, error) { return json.Marshal(w.view()) }
