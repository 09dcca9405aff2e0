package broker

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestListenBeyondLoopbackNeedsCredentials: the one-command mode's
// embedded server refuses to serve the network without credentials, and
// with them every TCP client must give them.
func TestListenBeyondLoopbackNeedsCredentials(t *testing.T) {
	tests := []struct {
		name    string
		cfg     EmbeddedConfig
		wantErr string
		secure  bool // clients need the credentials
	}{
		{name: "all interfaces, no credentials", cfg: EmbeddedConfig{Listen: "0.0.0.0:0"}, wantErr: "refusing --listen 0.0.0.0:0"},
		{name: "a LAN address, no credentials", cfg: EmbeddedConfig{Listen: "10.9.8.7:4222"}, wantErr: "set NATS_USER and NATS_PASSWORD (or NATS_TOKEN"},
		{name: "user without password", cfg: EmbeddedConfig{Listen: "0.0.0.0:0", User: "alharvest"}, wantErr: "NATS_USER needs NATS_PASSWORD"},
		{name: "loopback, no credentials", cfg: EmbeddedConfig{Listen: "127.0.0.1:0"}},
		{name: "empty host means loopback", cfg: EmbeddedConfig{Listen: ":0"}},
		{name: "all interfaces with a token", cfg: EmbeddedConfig{Listen: "0.0.0.0:0", Token: "listen-t0ken"}, secure: true},
		{name: "all interfaces with user and password", cfg: EmbeddedConfig{Listen: "0.0.0.0:0", User: "alharvest", Password: "listen-pw"}, secure: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			emb, err := StartEmbedded(tc.cfg, nil)
			if tc.wantErr != "" {
				if err == nil {
					emb.Shutdown()
					t.Fatal("started")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emb.Shutdown)
			// Port 0 is a free port, never nats-server's default 4222
			// (which a developer's own NATS may hold).
			u, err := url.Parse(emb.ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			if p := u.Port(); p == "" || p == "0" || p == "4222" {
				t.Fatalf("listening on %s, want a free port the system chose", emb.ClientURL())
			}
			clientURL := strings.Replace(emb.ClientURL(), "0.0.0.0", "127.0.0.1", 1)
			dial := func(c ConnConfig) error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				c.URLs = clientURL
				nc, err := Connect(ctx, c, nil)
				if err == nil {
					nc.Close()
				}
				return err
			}
			anon := dial(ConnConfig{})
			if tc.secure != (anon != nil) {
				t.Errorf("a client without credentials: err = %v, want refused = %v", anon, tc.secure)
			}
			if tc.secure {
				good := ConnConfig{User: tc.cfg.User, Password: tc.cfg.Password, Token: tc.cfg.Token}
				if err := dial(good); err != nil {
					t.Errorf("a client with the credentials: %v", err)
				}
				// In-process clients (the stages) give them too.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				good.URLs, good.InProcess = "", emb.Server
				nc, err := Connect(ctx, good, nil)
				if err != nil {
					t.Fatalf("in-process client with the credentials: %v", err)
				}
				nc.Close()
			}
		})
	}
}

// TestEmbeddedStoreSyncsEveryWriteByDefault: what the embedded server
// acknowledges is on disk (sync always) unless an interval is chosen.
func TestEmbeddedStoreSyncsEveryWriteByDefault(t *testing.T) {
	for _, tc := range []struct {
		interval     time.Duration
		always       bool
		wantInterval time.Duration
	}{
		{0, true, 0},
		{time.Second, false, time.Second},
	} {
		emb, err := StartEmbedded(EmbeddedConfig{DataDir: t.TempDir(), SyncInterval: tc.interval}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := emb.Server.JetStreamConfig()
		emb.Shutdown()
		if c == nil || c.SyncAlways != tc.always || (tc.wantInterval != 0 && c.SyncInterval != tc.wantInterval) {
			t.Errorf("SyncInterval %s: JetStream config %+v, want sync always %v", tc.interval, c, tc.always)
		}
	}
}
