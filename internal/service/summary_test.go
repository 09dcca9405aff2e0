package service

import (
	"strings"
	"testing"

	"github.com/alharvest/alharvest/internal/config"
)

func TestSummaryShowsNATSAuthAndTLS(t *testing.T) {
	env := map[string]string{"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "k:secret-pw",
		"NATS_URL": "nats://nats:4222", "NATS_USER": "alharvest", "NATS_PASSWORD": "nats-secret", "NATS_CA": "/ca.pem"}
	cfg, _, err := config.Load(config.Scorer, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := Summary(cfg)
	if !strings.Contains(got, "nats=nats://nats:4222 (auth user/password, tls true)") {
		t.Errorf("Summary = %q", got)
	}
	for _, secret := range []string{"secret-pw", "nats-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("Summary leaks %q: %q", secret, got)
		}
	}
}
