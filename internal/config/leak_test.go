package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/secret"
)

// TestNoSecretLeavesTheConfiguration loads every secret the configuration
// holds and prints the whole Config, and each group holding a secret, by
// every route a program takes: fmt verbs, JSON, slog's JSON and text
// handlers, an error. Each route must work and show the mask, never a value.
func TestNoSecretLeavesTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	passFile, tokenFile := filepath.Join(dir, "pass"), filepath.Join(dir, "token")
	if err := os.WriteFile(passFile, []byte("leak-hook-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("leak-hook-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(config.Alharvest, nil, env(map[string]string{
		"AL_URL": "https://al.example.org", "AL_USER": "me", "AL_APIKEY": "k:leak-al-password",
		"NATS_URL": "nats://127.0.0.1:4222", "NATS_USER": "n", "NATS_PASSWORD": "leak-nats-password",
		"WEBHOOK_ADDR": "127.0.0.1:9180", "WEBHOOK_USER": "al",
		"WEBHOOK_PASSWORD_FILE": passFile, "WEBHOOK_TOKEN_FILE": tokenFile,
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AL.APIKey.Reveal() != "k:leak-al-password" || c.NATS.Password.Reveal() != "leak-nats-password" ||
		c.Webhook.Password.Reveal() != "leak-hook-password" || c.Webhook.Token.Reveal() != "leak-hook-token" {
		t.Fatal("the loader did not keep the secrets it read")
	}
	groups := map[string]any{"Config": *c, "*Config": c, "AL": c.AL, "NATS": c.NATS, "Webhook": c.Webhook}
	for name, v := range groups {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			check(t, name+" "+verb, fmt.Sprintf(verb, v), verb != "%x")
		}
		j, err := json.Marshal(v)
		if err != nil {
			t.Errorf("%s: JSON: %v", name, err)
		}
		check(t, name+" JSON", string(j), name != "AL") // AL leaves its key out of JSON
		var js, text bytes.Buffer
		slog.New(slog.NewJSONHandler(&js, nil)).Info("config", "v", v)
		check(t, name+" slog JSON", js.String(), name != "AL")
		slog.New(slog.NewTextHandler(&text, nil)).Info("config", "v", v)
		check(t, name+" slog text", text.String(), true)
		check(t, name+" error", fmt.Errorf("starting with %+v: %w", v, os.ErrClosed).Error(), true)
	}
}

func check(t *testing.T, route, out string, wantMask bool) {
	t.Helper()
	if strings.Contains(out, "leak-") || strings.Contains(out, fmt.Sprintf("%x", "leak-")) {
		t.Errorf("%s prints a secret: %s", route, out)
	}
	if wantMask && !strings.Contains(out, secret.Mask) {
		t.Errorf("%s shows no mask: %s", route, out)
	}
}
