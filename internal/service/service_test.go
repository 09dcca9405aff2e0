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
	"github.com/alharvest/alharvest/pkg/messages"
)

func load(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, _, err := config.Load(config.Scorer, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestSetupWarnsLoudlyWithoutTLSVerification(t *testing.T) {
	srv := natstest.Start(t)
	var logs bytes.Buffer
	cfg := load(t, map[string]string{
		"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "k:verysecretpw",
		"AL_VERIFY": "false", "NATS_URL": srv.URL,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	env.Close()
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "TLS VERIFICATION OF ASSEMBLYLINE IS OFF") {
		t.Errorf("no loud warning:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "verysecretpw") {
		t.Error("the key reached the log")
	}
}

func TestSetupRefusesKeyOverPlainHTTP(t *testing.T) {
	srv := natstest.Start(t)
	for _, tc := range []struct {
		url, allow string
		ok         bool
	}{
		{"http://al.example.org", "", false},
		{"http://al.example.org", "true", true},
		{"http://127.0.0.1:8980", "", true},
	} {
		vars := map[string]string{"AL_URL": tc.url, "AL_USER": "u", "AL_APIKEY": "k:pw", "AL_ALLOW_HTTP": tc.allow, "NATS_URL": srv.URL}
		cfg, _, err := config.Load(config.Scorer, nil, func(k string) (string, bool) { v, ok := vars[k]; return v, ok }, nil)
		if err != nil {
			// Refused with the configuration, naming the variables.
			if tc.ok || !strings.Contains(err.Error(), "AL_ALLOW_HTTP") {
				t.Errorf("%s allow=%q: %v", tc.url, tc.allow, err)
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		cancel()
		if tc.ok != (err == nil) {
			t.Errorf("%s allow=%q: err %v", tc.url, tc.allow, err)
		}
		if env != nil {
			env.Close()
		}
	}
}

func TestSecretsListsWhatToScrub(t *testing.T) {
	cfg := load(t, map[string]string{"AL_URL": "https://x", "AL_USER": "u", "AL_APIKEY": "name:pw-long-enough", "NATS_PASSWORD": "natspw", "NATS_TOKEN": "tok"})
	got := strings.Join(cfg.Secrets(), " ")
	for _, want := range []string{"name:pw-long-enough", "pw-long-enough", "natspw", "tok"} {
		if !strings.Contains(got, want) {
			t.Errorf("Secrets lacks %q", want)
		}
	}
}

// A stage that starts while the state bucket is missing (deleted, or not
// yet visible on the cluster node it talks to) waits for it, re-creating
// it if it is really gone, and loads the seal key from it: it does not end
// the process, which an orchestrator would count as a crash.
func TestStageStartsWhileTheBucketIsMissing(t *testing.T) {
	srv := natstest.Start(t)
	cfg := load(t, map[string]string{
		"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "k:pw", "NATS_URL": srv.URL,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env, err := Setup(ctx, config.Scorer, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	if err := env.JS.DeleteKeyValue(ctx, messages.BucketState); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Scorer(ctx, StageOptions{}); err != nil {
		t.Fatalf("the scorer did not start without its bucket: %v", err)
	}
	kv, err := env.JS.KeyValue(ctx, messages.BucketState)
	if err != nil {
		t.Fatalf("the bucket was not re-created: %v", err)
	}
	if keys, err := kv.ListKeys(ctx); err != nil {
		t.Fatal(err)
	} else {
		var n int
		for range keys.Keys() {
			n++
		}
		if n == 0 {
			t.Error("the re-created bucket holds no seal key")
		}
	}
}
