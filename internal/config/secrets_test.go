package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
)

// TestSecretFiles: every secret can come from a file (NATS_PASSWORD_FILE,
// NATS_TOKEN_FILE, like AL_APIKEY_FILE), trimmed; a secret and its file
// together, an unreadable or empty file are errors that never quote the
// secret.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw, tok, empty := write("pw", "nats-pass-word\n"), write("tok", "  t0ken-from-file\n"), write("empty", "\n")
	tests := []struct {
		name          string
		env           map[string]string
		password, tok string
		wantErr       string
	}{
		{name: "password file", env: map[string]string{"NATS_USER": "u", "NATS_PASSWORD_FILE": pw}, password: "nats-pass-word"},
		{name: "token file", env: map[string]string{"NATS_TOKEN_FILE": tok}, tok: "t0ken-from-file"},
		{name: "password and its file", env: map[string]string{"NATS_PASSWORD": "inline-secret", "NATS_PASSWORD_FILE": pw}, wantErr: "set NATS_PASSWORD or NATS_PASSWORD_FILE, not both"},
		{name: "token and its file", env: map[string]string{"NATS_TOKEN": "inline-secret", "NATS_TOKEN_FILE": tok}, wantErr: "set NATS_TOKEN or NATS_TOKEN_FILE, not both"},
		{name: "missing file", env: map[string]string{"NATS_TOKEN_FILE": filepath.Join(dir, "nope")}, wantErr: "NATS_TOKEN_FILE: open"},
		{name: "empty file", env: map[string]string{"NATS_PASSWORD_FILE": empty}, wantErr: "NATS_PASSWORD_FILE: " + empty + " is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, bin := range []string{config.Scorer, config.Alharvest, config.Admin} {
				c, _, err := config.Load(bin, nil, env(with(tc.env)), nil)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("%s: err = %v, want %q", bin, err, tc.wantErr)
					}
					for _, secret := range []string{"inline-secret", "nats-pass-word", "t0ken-from-file"} {
						if strings.Contains(err.Error(), secret) {
							t.Errorf("%s: error quotes a secret: %v", bin, err)
						}
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", bin, err)
				}
				if c.NATS.Password.Reveal() != tc.password || c.NATS.Token.Reveal() != tc.tok {
					t.Errorf("%s: password %q token %q, want %q %q", bin, c.NATS.Password.Reveal(), c.NATS.Token.Reveal(), tc.password, tc.tok)
				}
			}
		})
	}
}

// TestEmptySecretFileSaysEmpty: every secret file, AL_APIKEY_FILE
// included, that holds nothing (or only white space) is refused as "is
// empty", naming the variable and the path — not as a missing setting,
// which would send the operator looking for the wrong mistake.
func TestEmptySecretFileSaysEmpty(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := map[string]map[string]string{
		"AL_APIKEY_FILE":        {"AL_APIKEY": ""},
		"NATS_PASSWORD_FILE":    {"NATS_USER": "u"},
		"NATS_TOKEN_FILE":       {},
		"WEBHOOK_PASSWORD_FILE": {"WEBHOOK_ADDR": "127.0.0.1:9", "WEBHOOK_USER": "u"},
		"WEBHOOK_TOKEN_FILE":    {"WEBHOOK_ADDR": "127.0.0.1:9"},
	}
	// Every secret file a binary reads is in the table.
	for _, v := range config.Vars(config.Alharvest) {
		if strings.HasSuffix(v.Env, "_FILE") && v.Env != "AL_CA_FILE" {
			if _, ok := files[v.Env]; !ok {
				t.Errorf("%s is not tested", v.Env)
			}
		}
	}
	for fileEnv, extra := range files {
		t.Run(fileEnv, func(t *testing.T) {
			e := with(extra)
			e[fileEnv] = empty
			_, _, err := config.Load(config.Alharvest, nil, env(e), nil)
			if want := fileEnv + ": " + empty + " is empty"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want %q", err, want)
			}
		})
	}
}

// TestSecretsOnTheCommandLineAreWarnedAbout: --al-apikey, --nats-password
// and --nats-token work but each earns a warning naming the flag (never the
// value) and the safer ways; the environment or a file earns none.
func TestSecretsOnTheCommandLineAreWarnedAbout(t *testing.T) {
	args := []string{"--al-apikey", "k:cmdline-secret-1", "--nats-password", "cmdline-secret-2", "--nats-token=cmdline-secret-3", "--score-threshold", "10"}
	c, _, err := config.Load(config.Alharvest, args, env(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, flag := range []string{"--al-apikey", "--nats-password", "--nats-token"} {
		if !strings.Contains(w, flag+" was given on the command line") {
			t.Errorf("no warning for %s:\n%s", flag, w)
		}
	}
	if !strings.Contains(w, "AL_APIKEY_FILE") || !strings.Contains(w, "NATS_TOKEN_FILE") || strings.Contains(w, "score-threshold") {
		t.Errorf("warnings:\n%s", w)
	}
	if strings.Contains(w, "cmdline-secret") {
		t.Errorf("a warning quotes the secret:\n%s", w)
	}
	if len(c.Warnings()) != 3 {
		t.Errorf("%d warnings, want 3", len(c.Warnings()))
	}
	c, _, err = config.Load(config.Alharvest, nil, env(with(map[string]string{"NATS_TOKEN": "from-env"})), nil)
	if err != nil || len(c.Warnings()) != 0 {
		t.Errorf("secrets from the environment: %v, warnings %q", err, c.Warnings())
	}
}

func TestDataSync(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 0, false}, {"always", 0, false}, {"Always", 0, false}, {"1s", time.Second, false},
		{"250ms", 250 * time.Millisecond, false}, {"never", 0, true}, {"0s", 0, true}, {"-1s", 0, true},
	} {
		c, _, err := config.Load(config.Alharvest, nil, env(with(map[string]string{"DATA_SYNC": tc.value})), nil)
		if (err != nil) != tc.wantErr || (err == nil && c.DataSync != tc.want) {
			t.Errorf("DATA_SYNC=%q: %v, err %v; want %s, error %v", tc.value, c, err, tc.want, tc.wantErr)
		}
	}
}
