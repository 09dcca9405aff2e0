package config_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var base = map[string]string{"AL_URL": "https://al.example.org", "AL_USER": "me", "AL_APIKEY": "k:supersecretpassword"}

func with(extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, _, err := config.Load(config.Alharvest, nil, env(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	// alharvest keeps to its own store unless NATS_URL is given: no
	// default address. A stage dials the local one.
	if c.Threshold != 7000 || c.OutputDir != "./collected" || c.NATS.URL != "" ||
		c.AL.InsecureSkipVerify || c.Search.Interval != 5*time.Minute || c.DataDir == "" || c.Calls.Max != 10 {
		t.Errorf("defaults: %+v", c)
	}
	for _, bin := range []string{config.Scorer, config.Feed} {
		s, _, err := config.Load(bin, nil, env(base), nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.NATS.URL != config.DefaultNATSURL {
			t.Errorf("%s: NATS_URL defaults to %q, want %s", bin, s.NATS.URL, config.DefaultNATSURL)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, _, err := config.Load(config.Scorer, []string{"--score-threshold", "500", "-nats-url=nats://n:4222"},
		env(with(map[string]string{"SCORE_THRESHOLD": "9000", "NATS_URL": "nats://env:4222"})), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Threshold != 500 || c.NATS.URL != "nats://n:4222" {
		t.Errorf("threshold %d url %s", c.Threshold, c.NATS.URL)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no url", map[string]string{"AL_URL": ""}, "AL_URL (or AL_HOST) is required"},
		{"no user", map[string]string{"AL_USER": ""}, "AL_USER is required"},
		{"no key", map[string]string{"AL_APIKEY": ""}, "AL_APIKEY (or AL_APIKEY_FILE) is required"},
		{"key without colon", map[string]string{"AL_APIKEY": "justapassword"}, "<key_name>:<password>"},
		{"bad threshold", map[string]string{"SCORE_THRESHOLD": "lots"}, `SCORE_THRESHOLD="lots": want an integer`},
		{"bad duration", map[string]string{"SEARCH_INTERVAL": "often"}, "SEARCH_INTERVAL"},
		{"bad verify", map[string]string{"AL_VERIFY": "maybe"}, "AL_VERIFY"},
		{"bad replicas", map[string]string{"NATS_REPLICAS": "7"}, "NATS_REPLICAS"},
		{"bad level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := config.Load(config.Alharvest, nil, env(with(tc.env)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "supersecretpassword") {
				t.Error("error leaks the API key")
			}
		})
	}
}

func TestALHostAndKeyFile(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("name:fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _, err := config.Load(config.Searcher, nil, env(map[string]string{"AL_HOST": "al.local:8443", "AL_USER": "u", "AL_APIKEY_FILE": keyFile}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AL.BaseURL != "https://al.local:8443" || c.AL.APIKey != "name:fromfile" {
		t.Errorf("url %s key %s", c.AL.BaseURL, c.AL.APIKey)
	}
	_, _, err = config.Load(config.Searcher, nil, env(map[string]string{"AL_URL": "https://x", "AL_USER": "u", "AL_APIKEY": "a:b", "AL_APIKEY_FILE": keyFile}), nil)
	if err == nil {
		t.Error("both AL_APIKEY and AL_APIKEY_FILE accepted")
	}
}

func TestHelpNeverShowsSecrets(t *testing.T) {
	_, fs, _ := config.Load(config.Downloader, []string{"-h"}, env(with(map[string]string{"NATS_PASSWORD": "natssecretpw"})), nil)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.Usage()
	out := buf.String()
	if strings.Contains(out, "supersecretpassword") || strings.Contains(out, "natssecretpw") {
		t.Errorf("usage shows a secret:\n%s", out)
	}
	if !strings.Contains(out, "[$AL_APIKEY]") || !strings.Contains(out, "[$OUTPUT_DIR]") {
		t.Errorf("usage lacks variables:\n%s", out)
	}
}

func TestVarsPerBinary(t *testing.T) {
	has := func(bin, name string) bool {
		for _, v := range config.Vars(bin) {
			if v.Env == name {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		bin, env string
		want     bool
	}{
		{config.Searcher, "SEARCH_FILTER", true},
		{config.Searcher, "OUTPUT_DIR", false},
		{config.Downloader, "OUTPUT_DIR", true},
		{config.Downloader, "SCORE_THRESHOLD", false},
		{config.Scorer, "SCORE_THRESHOLD", true},
		{config.Alharvest, "DATA_DIR", true},
		{config.Scorer, "DATA_DIR", false},
		{config.Admin, "AL_URL", false},
	} {
		if got := has(tc.bin, tc.env); got != tc.want {
			t.Errorf("%s reads %s: %t, want %t", tc.bin, tc.env, got, tc.want)
		}
	}
	for _, v := range config.Vars(config.Alharvest) {
		if v.Env == "AL_APIKEY" && !v.Secret {
			t.Error("AL_APIKEY not marked secret")
		}
	}
}

func TestEmptyValues(t *testing.T) {
	// Empty means unset (compose passes ${VAR:-} through), except for
	// HTTP_ADDR where empty switches the endpoint off.
	c, _, err := config.Load(config.Scorer, nil, env(with(map[string]string{"HTTP_ADDR": "", "LOG_LEVEL": "", "SCORE_THRESHOLD": ""})), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "" || c.Log.Level != "info" || c.Threshold != 7000 {
		t.Errorf("http %q level %q threshold %d", c.HTTPAddr, c.Log.Level, c.Threshold)
	}
	c, _, _ = config.Load(config.Scorer, nil, env(base), nil)
	if c.HTTPAddr != "127.0.0.1:9102" { // loopback unless told otherwise: compose sets ":9102"
		t.Errorf("default HTTP_ADDR %q", c.HTTPAddr)
	}
}

func TestExplicitSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{"default", base, nil, false},
		{"empty variable counts as unset", with(map[string]string{"LOG_LEVEL": ""}), nil, false},
		{"environment", with(map[string]string{"LOG_LEVEL": "debug"}), nil, true},
		{"flag", base, []string{"--log-level", "info"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := config.Load(config.Alharvest, tc.args, env(tc.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Explicit("LOG_LEVEL"); got != tc.want {
				t.Errorf("Explicit(LOG_LEVEL) = %v, want %v", got, tc.want)
			}
			if c.Explicit("SEARCH_FILTER") {
				t.Error("SEARCH_FILTER reported explicit though never given")
			}
		})
	}
}

// TestUsageHasNoBackQuotes: the flag package shows the first back-quoted
// word of a usage text as the flag's value name (`-stall-after stalled`
// instead of `-stall-after duration`), so no usage text may hold one.
func TestUsageHasNoBackQuotes(t *testing.T) {
	for _, bin := range []string{config.Searcher, config.Scorer, config.Downloader, config.Alharvest, config.Admin, config.Feed} {
		for _, v := range config.Vars(bin) {
			if strings.Contains(v.Usage, "`") {
				t.Errorf("%s: the usage of %s holds a back quote: %s", bin, v.Env, v.Usage)
			}
		}
	}
}
