package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/alharvest/alharvest/internal/assemblyline"
	"github.com/alharvest/alharvest/internal/secret"

	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/netaddr"
)

// Keys that were published in the repository. The demo never needs the NATS
// key or the webhook token (compose's secrets-init generates fresh ones), so
// whoever holds them holds a copy everyone can read: a stage refuses to start
// on them. The Assemblyline key is alsim's, which the demo does use; it opens
// nothing on a real Assemblyline, so a stage sending it anywhere but alsim
// runs, and says so at ERROR level on every start.
const (
	// demoNATSPublicKey is the public key of the demo NATS seed published
	// in alharvest's repository.
	demoNATSPublicKey = "UB4RBC6RJV3XB2SDIETRPVWE7EXVRYI5QA3GZABGUQUJU3ZTAQLZPVE3"
	// demoWebhookToken is the demo webhook token published in alharvest's
	// repository.
	demoWebhookToken = "demo-webhook-token"
	// DemoAPIKey is alsim's default API key (deploy/demo-apikey).
	DemoAPIKey = "devkey:devpassword"
)

// demoHosts are where alsim runs: its compose service, or this machine.
func demoHost(alURL string) bool {
	u, err := url.Parse(alURL)
	if err != nil {
		return false
	}
	h := u.Hostname()
	return h == "alsim" || netaddr.IsLoopback(h)
}

// checkDemoNKey refuses the published NATS key in the seed file at path. A
// file it cannot read or parse is left to the connection, which says why.
func checkDemoNKey(path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil
	}
	if pub, err := kp.PublicKey(); err == nil && pub == demoNATSPublicKey {
		return fmt.Errorf("NATS_NKEY: %s holds the demo NATS key published in alharvest's repository, which anyone may use to connect; "+
			"generate your own (`docker compose up` does, in its secrets-init service; or `go run github.com/nats-io/nkeys/nk@v0.4.16 -gen user -pubout`) "+
			"and admit its public key in the NATS server's configuration", path)
	}
	return nil
}

// errDemoWebhookToken refuses the published webhook token.
var errDemoWebhookToken = errors.New("WEBHOOK_TOKEN_FILE holds the demo webhook token published in alharvest's repository, with which anyone may push SIDs; " +
	"use a random token of your own (`docker compose up` generates one in its secrets-init service; or `openssl rand -hex 32`) and set the same in Assemblyline's webhook")

// demoAPIKeyAlarm is the ERROR a stage logs on every start when it sends
// alsim's key to an Assemblyline that is not alsim.
func demoAPIKeyAlarm(a assemblyline.Config) []string {
	if a.APIKey.Reveal() != DemoAPIKey || demoHost(a.BaseURL) {
		return nil
	}
	return []string{"AL_APIKEY is the demo's key (alsim's devkey:devpassword, deploy/demo-apikey), sent to " + secret.MaskURL(a.BaseURL) +
		", which is not the demo's alsim: set AL_APIKEY_FILE (compose: AL_APIKEY_SECRET_FILE) to your own Assemblyline API key"}
}

// Alarms are problems with the configuration that a stage runs with but
// logs at ERROR level on every start, such as a published demo key sent to
// a real server.
func (c *Config) Alarms() []string { return c.alarms }
