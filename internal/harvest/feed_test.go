package harvest_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/pipeline/feed"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
	"github.com/alharvest/alharvest/internal/testenv"
)

// The one-command mode feeds too: `alharvest --follow --listen` and, beside
// it, `alharvest feed` connected to the listening address hands every
// collected file to its program.
func TestFeedBesideTheOneCommandMode(t *testing.T) {
	sim, url := alsimtest.Serve(t, alsim.Config{Seed: 11, Submissions: 60})
	want := sim.Expected(7000)
	out, data := t.TempDir(), t.TempDir()
	cfg := loadConfig(t, baseEnv(url, out, data))
	log, _ := testLogger(t)
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	runDone := make(chan error, 1)
	go func() {
		_, err := harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Listen: addr, Logger: log})
		runDone <- err
	}()

	logPath := filepath.Join(t.TempDir(), "handed")
	fcfg, _, err := config.Load(config.Feed, nil, func(k string) (string, bool) {
		v, ok := map[string]string{"NATS_URL": "nats://" + addr, "SHUTDOWN_GRACE": "1s"}[k]
		return v, ok
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feedDone := make(chan error, 1)
	go func() {
		// The listener opens once the streams are laid out; the feed waits for it.
		feedDone <- feed.Run(ctx, fcfg, feed.Options{Durable: "feed", Jobs: 2, MaxAttempts: 3, From: "all", AckWait: 5 * time.Second,
			RetryMin: 100 * time.Millisecond, RetryMax: time.Second,
			Argv: []string{"/bin/sh", "-c", `echo "$ALHARVEST_SHA256" >> "` + logPath + `"`, "prog"}}, io.Discard, io.Discard, log)
	}()
	testenv.Eventually(t, 2*time.Minute, "every collected file handed", func() bool {
		b, _ := os.ReadFile(logPath)
		got := map[string]bool{}
		for _, l := range strings.Fields(string(b)) {
			got[l] = true
		}
		for _, sha := range want {
			if !got[sha] {
				return false
			}
		}
		return true
	})
	stop()
	if err := <-feedDone; err != nil {
		t.Errorf("feed: %v", err)
	}
	<-runDone
}
