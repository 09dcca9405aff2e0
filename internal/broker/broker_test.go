package broker

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/netaddr"
	"github.com/alharvest/alharvest/pkg/messages"
)

func TestConnConfigNeverShowsSecrets(t *testing.T) {
	c := ConnConfig{URLs: "nats://alice:pa55word@n1:4222,tls://n2:4222", User: "alice", Password: "pa55word", Token: "t0ken-secret"}
	for _, s := range []string{c.String(), c.LogValue().String()} {
		if strings.Contains(s, "pa55word") || strings.Contains(s, "t0ken-secret") {
			t.Errorf("secret in %q", s)
		}
		if !strings.Contains(s, "n1:4222") || !strings.Contains(s, "user/password") {
			t.Errorf("description lost its substance: %q", s)
		}
	}
}

func TestEmbeddedServerOwnsItsDataDirectory(t *testing.T) {
	dir := t.TempDir()
	first, err := StartEmbedded(EmbeddedConfig{DataDir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.ClientURL() != "" {
		t.Error("an embedded server without Listen must not listen")
	}
	if _, err := StartEmbedded(EmbeddedConfig{DataDir: dir}, nil); err == nil || !strings.Contains(err.Error(), "in use by another alharvest") {
		t.Fatalf("second server on the same data dir: %v", err)
	}
	first.Shutdown()
	again, err := StartEmbedded(EmbeddedConfig{DataDir: dir, Listen: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatalf("data dir not released on shutdown: %v", err)
	}
	defer again.Shutdown()
	if !strings.HasPrefix(again.ClientURL(), "nats://127.0.0.1:") {
		t.Errorf("listen URL %q", again.ClientURL())
	}
}

func TestProvisionLaysOutTheContractAndIsIdempotent(t *testing.T) {
	ctx, js := embeddedJS(t, EmbeddedConfig{})
	for range 2 { // every replica of every stage provisions at start
		if err := Provision(ctx, js, Topology{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]struct {
		subjects  []string
		retention jetstream.RetentionPolicy
	}{
		messages.StreamSIDs:      {[]string{messages.SubjectSIDs}, jetstream.WorkQueuePolicy},
		messages.StreamFiles:     {[]string{messages.SubjectFiles}, jetstream.WorkQueuePolicy},
		messages.StreamCollected: {[]string{messages.SubjectCollected, messages.SubjectFeedPrefix + ">"}, jetstream.LimitsPolicy},
		messages.StreamDLQ:       {[]string{messages.SubjectDLQPrefix + ">"}, jetstream.LimitsPolicy},
	}
	for name, w := range want {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(info.Config.Subjects, w.subjects) || info.Config.Retention != w.retention ||
			info.Config.Storage != jetstream.FileStorage {
			t.Errorf("stream %s: %+v", name, info.Config)
		}
	}
	if _, err := js.KeyValue(ctx, messages.BucketState); err != nil {
		t.Errorf("bucket: %v", err)
	}
	for _, c := range []struct{ stream, durable string }{
		{messages.StreamSIDs, messages.ConsumerScorer}, {messages.StreamFiles, messages.ConsumerDownloader},
	} {
		for range 2 {
			cons, err := Consumer(ctx, js, c.stream, c.durable, ConsumerConfig{AckWait: 7 * time.Second}, nil)
			if err != nil {
				t.Fatal(err)
			}
			info := cons.CachedInfo()
			if info.Config.Durable != c.durable || info.Config.AckPolicy != jetstream.AckExplicitPolicy ||
				info.Config.MaxDeliver != -1 || info.Config.AckWait != 7*time.Second {
				t.Errorf("consumer %s: %+v", c.durable, info.Config)
			}
		}
	}
}

func TestConnectWithServerAuth(t *testing.T) {
	tests := []struct {
		name   string
		server func(o *server.Options)
		client ConnConfig
		ok     bool
	}{
		{"token", func(o *server.Options) { o.Authorization = "s3cret-token" }, ConnConfig{Token: "s3cret-token"}, true},
		{"wrong token", func(o *server.Options) { o.Authorization = "s3cret-token" }, ConnConfig{Token: "nope"}, false},
		{"user and password", func(o *server.Options) { o.Username, o.Password = "alharvest", "pw-123456" }, ConnConfig{User: "alharvest", Password: "pw-123456"}, true},
		{"wrong password", func(o *server.Options) { o.Username, o.Password = "alharvest", "pw-123456" }, ConnConfig{User: "alharvest", Password: "x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
			tc.server(opts)
			s, err := server.NewServer(opts)
			if err != nil {
				t.Fatal(err)
			}
			go s.Start()
			defer s.Shutdown()
			if !s.ReadyForConnections(5 * time.Second) {
				t.Fatal("server not ready")
			}
			tc.client.URLs = s.ClientURL()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			nc, err := Connect(ctx, tc.client, nil)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				nc.Close()
				return
			}
			if err == nil {
				nc.Close()
				t.Fatal("connected with wrong credentials")
			}
			if ctx.Err() != nil {
				t.Errorf("waited for the deadline instead of failing on the authorization error: %v", err)
			}
			for _, secret := range []string{"s3cret-token", "pw-123456"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

// TestListenAddressDefaultsToLoopback guards the embedded server, which asks
// for no credentials, against serving the network by accident.
func TestListenAddressDefaultsToLoopback(t *testing.T) {
	tests := []struct {
		addr     string
		host     string
		port     int
		loopback bool
		wantErr  bool
	}{
		{addr: ":4222", host: "127.0.0.1", port: 4222, loopback: true},
		{addr: "127.0.0.1:4222", host: "127.0.0.1", port: 4222, loopback: true},
		{addr: "localhost:4222", host: "localhost", port: 4222, loopback: true},
		{addr: "[::1]:4222", host: "::1", port: 4222, loopback: true},
		{addr: "0.0.0.0:4222", host: "0.0.0.0", port: 4222, loopback: false},
		{addr: "10.1.2.3:4222", host: "10.1.2.3", port: 4222, loopback: false},
		{addr: "4222", wantErr: true},
		{addr: ":nats", wantErr: true},
	}
	for _, tc := range tests {
		host, port, err := splitHostPort(tc.addr)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v, want error %v", tc.addr, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if host != tc.host || port != tc.port || netaddr.IsLoopback(host) != tc.loopback {
			t.Errorf("%q: %s %d loopback=%v, want %s %d loopback=%v", tc.addr, host, port, netaddr.IsLoopback(host), tc.host, tc.port, tc.loopback)
		}
	}
}

func TestConnConfigFromCarriesEverySetting(t *testing.T) {
	n := config.NATS{
		URL: "tls://n1:4222,tls://n2:4222", Creds: "/run/secrets/creds", NKey: "/run/secrets/nkey",
		User: "alice", Password: "pw", Token: "tok",
		CAFile: "/ca.pem", CertFile: "/cert.pem", KeyFile: "/key.pem", Replicas: 3,
	}
	got := ConnConfigFrom(n, "alharvest-scorer")
	want := ConnConfig{
		URLs: n.URL, Name: "alharvest-scorer", Creds: n.Creds, NKeySeed: n.NKey,
		User: n.User, Password: n.Password.Reveal(), Token: n.Token.Reveal(),
		CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile,
	}
	if got != want {
		t.Errorf("ConnConfigFrom = %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct {
		n    config.NATS
		auth string
	}{
		{config.NATS{URL: "nats://h:4222"}, "auth none"},
		{config.NATS{URL: "nats://h:4222", Creds: "c"}, "auth creds"},
		{config.NATS{URL: "nats://h:4222", NKey: "k"}, "auth nkey"},
		{config.NATS{URL: "nats://h:4222", User: "u", Password: "secret-pw"}, "auth user/password"},
		{config.NATS{URL: "nats://h:4222", Token: "secret-tok"}, "auth token"},
	} {
		s := ConnConfigFrom(tc.n, "x").String()
		if !strings.Contains(s, tc.auth) || strings.Contains(s, "secret") {
			t.Errorf("%+v: String() = %q, want %q and no secret", tc.n, s, tc.auth)
		}
	}
}

// embeddedJS starts an embedded server for the test (in the test's
// temporary directory unless cfg names one) and connects to it; the
// context bounds the test's calls.
func embeddedJS(t testing.TB, cfg EmbeddedConfig) (context.Context, jetstream.JetStream) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	emb, err := StartEmbedded(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	nc, err := Connect(ctx, ConnConfig{InProcess: emb.Server}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, js
}
