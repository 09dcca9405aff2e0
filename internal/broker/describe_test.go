package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func TestConnConfigSaysAuthAndTLS(t *testing.T) {
	for _, tc := range []struct {
		c    ConnConfig
		want string
	}{
		{ConnConfig{URLs: "nats://n:4222"}, "nats://n:4222 (auth none, tls false)"},
		{ConnConfig{URLs: "nats://n:4222", User: "u", Password: "pw-secret"}, "nats://n:4222 (auth user/password, tls false)"},
		{ConnConfig{URLs: "nats://n:4222", Token: "tok-secret", CAFile: "/ca.pem"}, "nats://n:4222 (auth token, tls true)"},
		{ConnConfig{URLs: "tls://n:4222", Creds: "/x.creds"}, "tls://n:4222 (auth creds, tls true)"},
		{ConnConfig{URLs: "nats://u:pw-secret@n:4222"}, "nats://[REDACTED]@n:4222 (auth in URL, tls false)"},
		{ConnConfig{URLs: "nats://n:4222", NKeySeed: "/seed", CertFile: "/c.pem", KeyFile: "/k.pem"}, "nats://n:4222 (auth nkey, tls true)"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

// TestDescribeLiveConnection checks what a connected client reports: the
// server it reached and its credentials' kind, never their value.
func TestDescribeLiveConnection(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, Username: "alharvest", Password: "pw-123456"}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	c := ConnConfig{URLs: s.ClientURL(), User: "alharvest", Password: "pw-123456"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := Connect(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	got := Describe(nc, c)
	if want := s.ClientURL() + " (auth user/password, tls false)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if strings.Contains(got, "pw-123456") {
		t.Errorf("Describe leaks the password: %q", got)
	}
}
