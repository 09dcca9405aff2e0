package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/natstest"
)

// TestSetupWarnsAboutExposedSecrets: every start logs a loud warning when
// the API key travels in clear to another host (even though AL_ALLOW_HTTP
// allows it) and for each secret given on the command line; never the
// secret itself.
func TestSetupWarnsAboutExposedSecrets(t *testing.T) {
	srv := natstest.Start(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // "" = no warning
	}{
		{name: "http to another host, allowed", env: map[string]string{"AL_URL": "http://al.example.org", "AL_ALLOW_HTTP": "true"},
			want: []string{"SENT IN CLEAR", "al.example.org"}},
		{name: "http to loopback", env: map[string]string{"AL_URL": "http://127.0.0.1:8980"}},
		{name: "https", env: map[string]string{"AL_URL": "https://al.example.org"}},
		{name: "key on the command line", env: map[string]string{"AL_URL": "https://al.example.org", "AL_APIKEY": ""},
			args: []string{"--al-apikey", "k:exposed-secret-pw"}, want: []string{"--al-apikey was given on the command line"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"AL_USER": "u", "AL_APIKEY": "k:exposed-secret-pw", "NATS_URL": srv.URL}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, _, err := config.Load(config.Scorer, tc.args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			e, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			e.Close()
			out := logs.String()
			if len(tc.want) == 0 && strings.Contains(out, "level=WARN") {
				t.Errorf("unexpected warning:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) || !strings.Contains(out, "level=WARN") {
					t.Errorf("no warning %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "exposed-secret-pw") {
				t.Errorf("the key reached the log:\n%s", out)
			}
		})
	}
}
