package feed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/dlq"
	"github.com/alharvest/alharvest/internal/ops/outputinit"
	"github.com/alharvest/alharvest/internal/ops/secretsinit"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// violations is the server's logger: it keeps the permission and
// authorization violations the server reports, whoever the client.
type violations struct {
	mu    sync.Mutex
	lines []string
}

func (v *violations) keep(format string, args ...any) {
	if s := fmt.Sprintf(format, args...); strings.Contains(s, "Violation") {
		v.mu.Lock()
		v.lines = append(v.lines, s)
		v.mu.Unlock()
	}
}

func (v *violations) Noticef(format string, args ...any) { v.keep(format, args...) }
func (v *violations) Warnf(format string, args ...any)   { v.keep(format, args...) }
func (v *violations) Errorf(format string, args ...any)  { v.keep(format, args...) }
func (v *violations) Fatalf(format string, args ...any)  { v.keep(format, args...) }
func (v *violations) Debugf(string, ...any)              {}
func (v *violations) Tracef(string, ...any)              {}

func (v *violations) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.lines, "\n")
}

// startDeployment writes the compose deployment's secrets with secrets-init
// into a temporary directory and runs a JetStream server on a random
// loopback port from the nats-server.conf it generated: the identities and
// permissions the deployment runs with, not a copy of them. It returns the
// server's URL, the directory of the seeds and the server's violations.
func startDeployment(t *testing.T) (url, secrets string, v *violations) {
	t.Helper()
	secrets = t.TempDir()
	me := outputinit.Owner{UID: os.Getuid(), GID: os.Getgid()}
	if err := secretsinit.Prepare(secretsinit.Config{Dir: secrets, Owner: me, NATSOwner: me}, io.Discard); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(secrets, secretsinit.ServerConfFile))
	if err != nil {
		t.Fatalf("the generated configuration does not load: %v", err)
	}
	opts.ServerName = "deployment"
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	v = &violations{}
	s.SetLogger(v, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL(), secrets, v
}

// feedRun is one `alharvest feed` running as the reader.
type feedRun struct {
	logs testenv.Buffer
	stop context.CancelFunc
	done chan error
	wait func() error // Run's result, once it returned
}

// startFeed runs a feed with cfg and o until end, or the test's end.
func startFeed(t *testing.T, cfg *config.Config, o Options) *feedRun {
	t.Helper()
	f := &feedRun{done: make(chan error, 1)}
	ctx, stop := context.WithCancel(context.Background())
	f.stop = stop
	f.wait = sync.OnceValue(func() error { return <-f.done })
	go func() {
		f.done <- Run(ctx, cfg, o, io.Discard, io.Discard, slog.New(slog.NewTextHandler(&f.logs, nil)))
	}()
	t.Cleanup(func() { stop(); _ = f.wait() })
	return f
}

// end stops the feed: it must end cleanly, its connection never told of a
// permissions violation.
func (f *feedRun) end(t *testing.T, name string) {
	t.Helper()
	f.stop()
	if err := f.wait(); err != nil {
		t.Errorf("feed %s: %v", name, err)
	}
	if l := strings.ToLower(f.logs.String()); strings.Contains(l, "permission") || strings.Contains(l, "violation") {
		t.Errorf("feed %s was refused something:\n%s", name, f.logs.String())
	}
}

// `alharvest feed` runs as the reader identity secrets-init generates, on
// the server configuration it generates: a feed binds its consumer, hands a
// file after a failed run (a delayed retry), dead-letters a file that is
// gone; a second feed of another name starts from what was collected
// before it (--from all) and hands every file again. Nothing either does
// is refused, by the server or on the feed's connection.
func TestFeedRunsAsTheGeneratedReader(t *testing.T) {
	url, secrets, refusals := startDeployment(t)

	// The stages' work, with the stages' key: the streams, and the events.
	opt, err := nats.NkeyOptionFromSeed(filepath.Join(secrets, secretsinit.StagesSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := broker.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := broker.Provision(ctx, js, broker.Topology{}, nil); err != nil {
		t.Fatalf("the stages cannot provision: %v", err)
	}
	collect := func(c messages.Collected) {
		t.Helper()
		m, err := messages.NewCollectedMsg(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	deadLetters := func() []string {
		ls, err := dlq.List(ctx, js, dlq.Filter{Stage: messages.StageFeed})
		if err != nil {
			t.Fatal(err)
		}
		var by []string
		for _, l := range ls {
			by = append(by, l.Header.Get(messages.HeaderConsumer))
		}
		slices.Sort(by)
		return by
	}

	dir := t.TempDir()
	before := writeCart(t, dir, "collected before any feed")
	collect(before)

	env := map[string]string{
		"NATS_URL":       url,
		"NATS_NKEY":      filepath.Join(secrets, secretsinit.ReaderSeedFile),
		"SHUTDOWN_GRACE": "1s",
	}
	cfg, _, err := config.Load(config.Feed, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err != nil {
		t.Fatal(err)
	}
	handedLog := filepath.Join(dir, "handed.log")
	handed := func() []string {
		b, _ := os.ReadFile(handedLog)
		return strings.Fields(string(b))
	}
	// Each program fails its first run on a file, then logs FEED:SHA256.
	program := sh(`[ "$ALHARVEST_ATTEMPT" = 1 ] && { echo "not yet" >&2; exit 1; }; echo "$ALHARVEST_FEED:$ALHARVEST_SHA256" >> "` + handedLog + `"`)
	options := func(durable, from string) Options {
		return Options{Durable: durable, Jobs: 2, MaxAttempts: 3, From: from, AckWait: 5 * time.Second,
			RetryMin: 100 * time.Millisecond, RetryMax: 100 * time.Millisecond, Argv: program}
	}
	consumerBound := func(durable string) func() bool {
		return func() bool {
			_, err := js.Consumer(ctx, messages.StreamCollected, durable)
			return err == nil
		}
	}

	inbox := startFeed(t, cfg, options("inbox", "new"))
	testenv.Eventually(t, 30*time.Second, "the consumer inbox", consumerBound("inbox"))
	ok := writeCart(t, dir, "handed as reader")
	gone := writeCart(t, dir, "gone before the feed")
	if err := os.Remove(gone.Path); err != nil {
		t.Fatal(err)
	}
	collect(ok)
	collect(gone)
	testenv.Eventually(t, 30*time.Second, "inbox hands one file and dead-letters another", func() bool {
		return slices.Equal(handed(), []string{"inbox:" + ok.SHA256}) && slices.Equal(deadLetters(), []string{"inbox"})
	})
	inbox.end(t, "inbox")

	archive := startFeed(t, cfg, options("archive", "all"))
	testenv.Eventually(t, 30*time.Second, "archive, from all, hands both files and dead-letters the third", func() bool {
		got := handed()
		slices.Sort(got)
		want := []string{"archive:" + before.SHA256, "archive:" + ok.SHA256, "inbox:" + ok.SHA256}
		slices.Sort(want)
		return slices.Equal(got, want) && slices.Equal(deadLetters(), []string{"archive", "inbox"})
	})
	archive.end(t, "archive")

	if s := refusals.String(); s != "" {
		t.Errorf("the server refused the reader:\n%s", s)
	}

	// The check above can see a refusal: the reader's own key publishing
	// work is one the server reports.
	opt, err = nats.NkeyOptionFromSeed(env["NATS_NKEY"])
	if err != nil {
		t.Fatal(err)
	}
	told := make(chan error, 1)
	rc, err := nats.Connect(url, opt, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case told <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.Publish(messages.SubjectSIDs, []byte(`{"sid":"x"}`)); err != nil {
		t.Fatal(err)
	}
	rc.Flush()
	select {
	case err := <-told:
		if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("the reader publishing a SID was told %v, want a permissions violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the reader publishing a SID was not told of a permissions violation")
	}
	testenv.Eventually(t, 5*time.Second, "the server reports the reader publishing a SID", func() bool {
		return strings.Contains(refusals.String(), messages.SubjectSIDs)
	})
}
