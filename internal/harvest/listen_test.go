package harvest_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/testenv"
)

// TestListenBeyondLoopbackRefusedWithoutCredentials: `alharvest --listen
// 0.0.0.0:4222` without NATS credentials does not start (and touches no
// data directory), with a message saying what to set.
func TestListenBeyondLoopbackRefusedWithoutCredentials(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := loadConfig(t, baseEnv("http://127.0.0.1:1", t.TempDir(), data))
	log, _ := testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := harvest.Run(ctx, harvest.Options{Config: cfg, Listen: "0.0.0.0:" + strconv.Itoa(testenv.FreePort(t)), Logger: log})
	if err == nil || !strings.Contains(err.Error(), "refusing --listen 0.0.0.0:") || !strings.Contains(err.Error(), "NATS_USER and NATS_PASSWORD") {
		t.Fatalf("err = %v, want a refusal naming the credentials", err)
	}
	if _, serr := os.Stat(data); !os.IsNotExist(serr) {
		t.Errorf("the refused run created its data directory (%v)", serr)
	}
}
