package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/natstest"
)

// TestWritableOutputDirIsWarnedAbout: the downloader warns at start when
// OUTPUT_DIR is group- or world-writable, and says nothing otherwise.
func TestWritableOutputDirIsWarnedAbout(t *testing.T) {
	srv := natstest.Start(t)
	tests := []struct {
		mode os.FileMode
		want string // "" = no warning
	}{
		{0o750, ""},
		{0o700, ""},
		{0o770, "writable by its group (mode 0770)"},
		{0o777, "writable by everyone (mode 0777)"},
		{0o1777 | os.ModeSticky, "writable by everyone"},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.mode); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			cfg, _, err := config.Load(config.Downloader, nil, func(k string) (string, bool) {
				v, ok := map[string]string{"AL_URL": "https://al.example.org", "AL_USER": "u", "AL_APIKEY": "k:pw", "NATS_URL": srv.URL, "OUTPUT_DIR": dir}[k]
				return v, ok
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			env, err := Setup(ctx, config.Downloader, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer env.Close()
			if _, err := env.Downloader(ctx, StageOptions{}); err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(logs.String(), "OUTPUT_DIR")
			switch {
			case tc.want == "" && warned:
				t.Errorf("warned about a private directory:\n%s", logs.String())
			case tc.want != "" && (!strings.Contains(logs.String(), tc.want) || !strings.Contains(logs.String(), "level=WARN")):
				t.Errorf("no warning %q:\n%s", tc.want, logs.String())
			}
		})
	}
}
