package composerun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/pkg/messages"
)

// TestProductionPath: the compose files with an operator's settings and no
// deploy/demo.env. The "Assemblyline" is alsim under another name, reached
// with its published key: every stage says so at ERROR level and runs.
// secrets-init wrote every secret 0600 for the user that reads it; NATS runs
// as its own non-root user; the generated feeder and reader identities do
// their jobs and are refused the rest; the pipeline collects the exact set.
func TestProductionPath(t *testing.T) {
	t.Parallel()
	alias := filepath.Join(t.TempDir(), "assemblyline.override.yml")
	if err := os.WriteFile(alias, []byte("services:\n  alsim:\n    networks:\n      default:\n        aliases: [assemblyline]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newProject(t, options{production: true, files: []string{alias}, env: map[string]string{
		"AL_URL":                "http://assemblyline:8980",
		"AL_USER":               "admin",
		"AL_APIKEY_SECRET_FILE": filepath.Join(repoRoot(t), "deploy", "demo-apikey"),
		"AL_ALLOW_HTTP":         "true", // alsim serves only http
	}})
	start := time.Now()
	p.compose("--profile", "demo", "up", "-d")
	p.waitHealthy(2*time.Minute, pipeline...)
	t.Logf("production path healthy %v after `up` began", time.Since(start).Round(100*time.Millisecond))

	// The secrets: generated, 0600, each owned by the user that reads it.
	files := p.secretFiles()
	owners := map[string]int{"stages.nk": 65532, "feeder.nk": 65532, "reader.nk": 65532, "webhook_token": 65532,
		"route_password": 65533, "nats-server.conf": 65533, "nats-cluster.conf": 65533}
	for name, uid := range owners {
		f, ok := files[name]
		switch {
		case !ok:
			t.Errorf("secrets-init wrote no %s", name)
		case f.mode != 0o600 || f.uid != uid:
			t.Errorf("%s: mode %o owner %d, want 0600 and %d", name, f.mode, f.uid, uid)
		}
	}
	if len(files) != len(owners) {
		t.Errorf("the secrets volume holds %d files, want %d", len(files), len(owners))
	}

	// NATS is not root: the server process's real and effective uid.
	pid := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Pid}}", p.one("nats").ID))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "Uid:" && (f[1] != "65533" || f[2] != "65533") {
			t.Errorf("nats-server runs as %s, want uid 65533", line)
		}
	}

	// Every stage raises the alarm about the demo key, and runs.
	for _, stage := range []string{"searcher", "scorer", "downloader"} {
		logs := docker(t, "logs", p.one(stage).ID)
		if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "AL_APIKEY is the demo's key") {
			t.Errorf("the %s does not raise the alarm about the demo key:\n%s", stage, tail(logs, 10))
		}
		if strings.Contains(logs, "devpassword") {
			t.Errorf("the %s logs the key", stage)
		}
	}
	p.waitCollected(3 * time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := p.js("nats").Stream(ctx, messages.StreamCollected)
	if err != nil {
		t.Fatal(err)
	}
	last, err := st.GetLastMsgForSubject(ctx, messages.SubjectCollected)
	if err != nil {
		t.Fatal(err)
	}
	var ev messages.Collected
	if err := json.Unmarshal(last.Data, &ev); err != nil {
		t.Fatal(err)
	}
	checkFeeder(t, p, ev.SID)
	checkReader(t, p)
	p.noRestarts(pipeline...)
}

// checkReader: the generated reader identity reads collected events
// through a durable consumer of its own, dead-letters under the stage name
// feed, and is refused publishing work or deleting a stream.
func checkReader(t *testing.T, p *project) {
	errs := make(chan error, 4)
	nc := p.connectAs("nats", "reader.nk", errs)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.StreamCollected, jetstream.ConsumerConfig{
		Durable: "feed", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		t.Fatalf("the reader cannot create its consumer: %v", err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if err := m.DoubleAck(ctx); err != nil {
			t.Errorf("the reader cannot ack: %v", err)
		}
	}
	if n != 1 {
		t.Errorf("the reader pulled %d collected events, want 1 (%v)", n, batch.Error())
	}
	if _, err := js.Publish(ctx, messages.DLQSubject("feed"), []byte("{}")); err != nil {
		t.Errorf("the reader cannot dead-letter: %v", err)
	}
	for _, subj := range []string{messages.SubjectSIDs, "$JS.API.STREAM.DELETE." + messages.StreamCollected} {
		for len(errs) > 0 {
			<-errs
		}
		if err := nc.Publish(subj, []byte("{}")); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		select {
		case err := <-errs:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Errorf("reader publishes to %s: %v, want a permissions violation", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("reader publishes to %s without a permissions violation", subj)
		}
	}
	if _, err := nats.Connect("nats://" + p.one("nats").ip() + ":4222"); err == nil {
		t.Errorf("NATS accepts a client without credentials")
	}
}
