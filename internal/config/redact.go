// Printing configuration without its secrets: the groups that hold one print
// (with fmt and as JSON) through a view with the secret replaced.

package config

import (
	"encoding/json"
	"fmt"
)

// redactSecret replaces a set secret in printed configuration.
func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// natsView and webhookView are the groups without their methods, for
// printing. AL is assemblyline.Config, which prints itself safely.
type (
	natsView    NATS
	webhookView Webhook
)

func (n NATS) view() natsView {
	v := natsView(n)
	v.Password, v.Token = redactSecret(v.Password), redactSecret(v.Token)
	return v
}

// Format prints NATS as fmt would with any verb, password and token
// redacted. It also covers a Config printed whole, since fmt formats its
// fields with their methods.
func (n NATS) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), n.view()) }

// MarshalJSON encodes NATS with password and token redacted.
func (n NATS) MarshalJSON() ([]byte, error) { return json.Marshal(n.view()) }

func (w Webhook) view() webhookView {
	v := webhookView(w)
	v.Password, v.Token = redactSecret(v.Password), redactSecret(v.Token)
	return v
}

// Format prints Webhook as fmt would with any verb, password and token redacted.
func (w Webhook) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), w.view()) }

// MarshalJSON encodes Webhook with password and token redacted.
func (w Webhook) MarshalJSON() ([]byte, error) { return json.Marshal(w.view()) }
