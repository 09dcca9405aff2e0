package feed

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// readerPermissions is everything a feed named durable needs: the list
// docs/feed.md gives.
func readerPermissions(durable string) *server.Permissions {
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: []string{
			"$JS.API.CONSUMER.INFO.ALHARVEST_COLLECTED." + durable,
			"$JS.API.CONSUMER.CREATE.ALHARVEST_COLLECTED." + durable,
			"$JS.API.CONSUMER.MSG.NEXT.ALHARVEST_COLLECTED." + durable,
			"$JS.ACK.ALHARVEST_COLLECTED." + durable + ".>",
			messages.DLQSubject(messages.StageFeed),
		}},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
	}
}

// A feed runs with exactly the reader's rights: it binds its consumer,
// hands a file and dead-letters another, and nothing it does is refused.
func TestFeedNeedsOnlyTheReaderRights(t *testing.T) {
	opts := &server.Options{
		ServerName: "perm", Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true,
		Users: []*server.User{
			{Username: "stages", Password: "s"},
			{Username: "reader", Password: "r", Permissions: readerPermissions("inbox")},
		},
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("stages", "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := broker.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	natstest.Provision(t, js)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "handed.log")
	env := map[string]string{"NATS_URL": s.ClientURL(), "NATS_USER": "reader", "NATS_PASSWORD": "r", "SHUTDOWN_GRACE": "1s"}
	cfg, _, err := config.Load(config.Feed, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenvLog
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, Options{Durable: "inbox", Jobs: 1, MaxAttempts: 1, From: "new", AckWait: 5 * time.Second,
			RetryMin: time.Second, RetryMax: time.Second, Argv: sh(`echo "$ALHARVEST_SHA256" >> "` + logPath + `"`)},
			io.Discard, io.Discard, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	testenv.Eventually(t, 30*time.Second, "the consumer", func() bool {
		_, err := js.Consumer(context.Background(), messages.StreamCollected, "inbox")
		return err == nil
	})
	ok := writeCart(t, dir, "handed as reader")
	gone := writeCart(t, dir, "gone before the feed")
	os.Remove(gone.Path)
	for _, c := range []messages.Collected{ok, gone} {
		m, _ := messages.NewCollectedMsg(c)
		if _, err := js.PublishMsg(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 30*time.Second, "one file handed, one dead letter", func() bool {
		b, _ := os.ReadFile(logPath)
		ls, _ := dlq.List(context.Background(), js, dlq.Filter{Stage: messages.StageFeed})
		return strings.TrimSpace(string(b)) == ok.SHA256 && len(ls) == 1
	})
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if strings.Contains(strings.ToLower(logs.String()), "permission") {
		t.Errorf("the feed was refused something:\n%s", logs.String())
	}

	// And a reader may not run a feed of another name.
	cfg2 := *cfg
	ctx2, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = Run(ctx2, &cfg2, Options{Durable: "other", Jobs: 1, MaxAttempts: 1, From: "new", AckWait: 5 * time.Second,
		RetryMin: time.Second, RetryMax: time.Second, Argv: sh("exit 0")}, io.Discard, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Error("a feed named other ran with inbox's rights")
	}
}

type testenvLog = testenv.Buffer
