package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/config"
)

func TestWebhookSettings(t *testing.T) {
	dir := t.TempDir()
	passFile, tokenFile, empty := filepath.Join(dir, "pass"), filepath.Join(dir, "token"), filepath.Join(dir, "empty")
	for p, v := range map[string]string{passFile: "hookpassword\n", tokenFile: " hooktoken ", empty: "\n"} {
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(w config.Webhook) bool
	}{
		{"off by default", nil, "", func(w config.Webhook) bool { return w.Addr == "" }},
		{"basic", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_USER": "al", "WEBHOOK_PASSWORD_FILE": passFile}, "",
			func(w config.Webhook) bool { return w.User == "al" && w.Password == "hookpassword" && w.Token == "" }},
		{"token", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_TOKEN_FILE": tokenFile}, "",
			func(w config.Webhook) bool { return w.Token == "hooktoken" }},
		{"no auth refused", map[string]string{"WEBHOOK_ADDR": ":9180"}, "WEBHOOK_ADDR needs", nil},
		{"no auth on every interface refused", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_ALLOW_NO_AUTH": "true"}, "loopback", nil},
		{"no auth on a LAN address refused", map[string]string{"WEBHOOK_ADDR": "10.0.0.5:9180", "WEBHOOK_ALLOW_NO_AUTH": "true"}, "loopback", nil},
		{"no auth on loopback allowed", map[string]string{"WEBHOOK_ADDR": "127.0.0.1:9180", "WEBHOOK_ALLOW_NO_AUTH": "true"}, "",
			func(w config.Webhook) bool { return w.AllowNoAuth }},
		{"no auth on localhost allowed", map[string]string{"WEBHOOK_ADDR": "localhost:9180", "WEBHOOK_ALLOW_NO_AUTH": "true"}, "", nil},
		{"user without password", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_USER": "al", "WEBHOOK_TOKEN_FILE": tokenFile}, "go together", nil},
		{"empty password file", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_USER": "al", "WEBHOOK_PASSWORD_FILE": empty}, "empty", nil},
		{"missing token file", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_TOKEN_FILE": filepath.Join(dir, "nope")}, "WEBHOOK_TOKEN_FILE", nil},
		{"cert without key", map[string]string{"WEBHOOK_ADDR": ":9180", "WEBHOOK_TOKEN_FILE": tokenFile, "WEBHOOK_TLS_CERT": "c.pem"}, "go together", nil},
	}
	for _, bin := range []string{config.Searcher, config.Alharvest} {
		for _, tt := range tests {
			t.Run(bin+"/"+tt.name, func(t *testing.T) {
				c, _, err := config.Load(bin, nil, env(with(tt.env)), nil)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if tt.check != nil && !tt.check(c.Webhook) {
					t.Errorf("got %+v", c.Webhook)
				}
			})
		}
	}
}

func TestWebhookSecretsNeverPrinted(t *testing.T) {
	dir := t.TempDir()
	passFile, tokenFile := filepath.Join(dir, "pass"), filepath.Join(dir, "token")
	_ = os.WriteFile(passFile, []byte("hookpassword"), 0o600)
	_ = os.WriteFile(tokenFile, []byte("hooktoken"), 0o600)
	c, _, err := config.Load(config.Searcher, nil, env(with(map[string]string{"WEBHOOK_ADDR": ":9180",
		"WEBHOOK_USER": "al", "WEBHOOK_PASSWORD_FILE": passFile, "WEBHOOK_TOKEN_FILE": tokenFile})), nil)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := json.Marshal(c)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v", c, c, c), string(j)} {
		if strings.Contains(out, "hookpassword") || strings.Contains(out, "hooktoken") {
			t.Errorf("secret printed: %s", out)
		}
	}
}
