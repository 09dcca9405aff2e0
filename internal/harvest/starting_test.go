package harvest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/version"
)

// TestStartingLine: the one-command run's "starting" line names the build
// and the NATS it really uses (its embedded server), not NATS_URL.
func TestStartingLine(t *testing.T) {
	_, url := alsimtest.Serve(t, alsim.Config{Seed: 2, Submissions: 10})
	cfg := loadConfig(t, baseEnv(url, t.TempDir(), t.TempDir()))
	log, buf := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := harvest.Run(ctx, harvest.Options{Config: cfg, Logger: log}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec["msg"] != "starting" {
			continue
		}
		if rec["version"] != version.Get().String() {
			t.Errorf("version %v, want %q", rec["version"], version.Get().String())
		}
		c, _ := rec["config"].(string)
		if !strings.Contains(c, "nats=embedded, store "+cfg.DataDir) || strings.Contains(c, "127.0.0.1:4222") {
			t.Errorf("config %q does not name the embedded NATS", c)
		}
		return
	}
	t.Fatalf("no starting line in:\n%s", buf.String())
}
