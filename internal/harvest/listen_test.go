package harvest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/harvest"
	"github.com/alharvest/alharvest/internal/sim/alsim"
	"github.com/alharvest/alharvest/internal/sim/alsim/alsimtest"
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

// TestListenOnPortZeroPicksAFreePort: `--listen 127.0.0.1:0` serves NATS
// on a free port the system chose (never nats-server's default 4222) and
// says which at warn level, which a terminal shows; a client reaches it
// there.
func TestListenOnPortZeroPicksAFreePort(t *testing.T) {
	_, alURL := alsimtest.Serve(t, alsim.Config{Seed: 5, Submissions: 10})
	cfg := loadConfig(t, baseEnv(alURL, t.TempDir(), filepath.Join(t.TempDir(), "data")))
	var mu sync.Mutex
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := harvest.Run(ctx, harvest.Options{Config: cfg, Follow: true, Listen: "127.0.0.1:0", Logger: log})
		done <- err
	}()
	defer func() { cancel(); <-done }()

	var url string
	testenv.Eventually(t, 20*time.Second, "the listening address logged", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Level, Msg, URL string }
			if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, "NATS listening") {
				if l.Level != "WARN" {
					t.Errorf("the chosen port is logged at %s; a terminal shows warn and above", l.Level)
				}
				url = l.URL
				return true
			}
		}
		return false
	})
	if url == "" {
		t.FailNow()
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "nats://"))
	if err != nil || port == "0" || port == "4222" {
		t.Fatalf("listening at %q, want a free port the system chose", url)
	}
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to the logged address: %v", err)
	}
	nc.Close()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
