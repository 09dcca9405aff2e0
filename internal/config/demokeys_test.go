package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/sim/alsim"
)

// The demo NATS seed published in alharvest's repository: a stage must
// refuse it.
const publishedDemoSeed = "SUABPWKMKLQUJP2OWREWKIC7EMDLVSS55QWKAPQ4KGLGNFEO6PRLKOZVTA"

// TestPublishedDemoKeys: the published NATS key and webhook token stop
// every binary with a message saying what to set and never quoting a
// seed; a fresh key starts; alsim's API key sent anywhere but alsim is an
// alarm (logged at ERROR on every start), and quiet in the demo.
func TestPublishedDemoKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := kp.Seed()
	demoSeed, freshSeed := write("demo.nk", publishedDemoSeed+"\n"), write("fresh.nk", string(fresh))
	demoToken, freshToken := write("demo-token", "demo-webhook-token\n"), write("token", "4f1c0d9e8b7a6f5e4d3c2b1a09f8e7d6\n")

	for _, bin := range []string{config.Searcher, config.Scorer, config.Downloader, config.Alharvest, config.Admin} {
		_, _, err := config.Load(bin, nil, env(with(map[string]string{"NATS_NKEY": demoSeed})), nil)
		if err == nil || !strings.Contains(err.Error(), "demo NATS key") || !strings.Contains(err.Error(), "-gen user") {
			t.Errorf("%s on the demo NATS key: %v, want a refusal saying what to do", bin, err)
		} else if strings.Contains(err.Error(), publishedDemoSeed) {
			t.Errorf("%s: the refusal quotes the seed", bin)
		}
		if _, _, err := config.Load(bin, nil, env(with(map[string]string{"NATS_NKEY": freshSeed})), nil); err != nil {
			t.Errorf("%s on a fresh NATS key: %v", bin, err)
		}
	}
	for _, bin := range []string{config.Searcher, config.Alharvest} {
		_, _, err := config.Load(bin, nil, env(with(map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_TOKEN_FILE": demoToken})), nil)
		if err == nil || !strings.Contains(err.Error(), "demo webhook token") {
			t.Errorf("%s on the demo webhook token: %v, want a refusal", bin, err)
		}
		if _, _, err := config.Load(bin, nil, env(with(map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_TOKEN_FILE": freshToken})), nil); err != nil {
			t.Errorf("%s on a fresh webhook token: %v", bin, err)
		}
	}

	for _, tc := range []struct {
		url, key string
		alarm    bool
	}{
		{"http://alsim:8980", config.DemoAPIKey, false},
		{"http://127.0.0.1:8980", config.DemoAPIKey, false},
		{"https://al.example.org", config.DemoAPIKey, true},
		{"https://al.example.org", "mykey:s3cret", false},
	} {
		c, _, err := config.Load(config.Scorer, nil, env(with(map[string]string{"AL_URL": tc.url, "AL_APIKEY": tc.key, "AL_ALLOW_HTTP": "true"})), nil)
		if err != nil {
			t.Fatal(err)
		}
		a := strings.Join(c.Alarms(), "\n")
		if (a != "") != tc.alarm {
			t.Errorf("%s with key %s: alarms %q, want alarm %v", tc.url, tc.key, a, tc.alarm)
		}
		if tc.alarm && (!strings.Contains(a, "AL_APIKEY_FILE") || strings.Contains(a, "pw@")) {
			t.Errorf("alarm %q does not say what to set, or shows the URL's password", a)
		}
	}
}

// TestDemoAPIKeyIsAlsims pins the key the alarm looks for to alsim's.
func TestDemoAPIKeyIsAlsims(t *testing.T) {
	if config.DemoAPIKey != alsim.DefaultAPIKey {
		t.Errorf("config.DemoAPIKey %q, alsim's default %q", config.DemoAPIKey, alsim.DefaultAPIKey)
	}
}
