// Package natstest runs real NATS JetStream servers for tests, the way
// net/http/httptest runs real HTTP servers: in-process for unit and
// integration tests, or as a separate nats-server process (built from the
// module's own nats-server dependency) for multi-process tests.
package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

// Server is an in-process JetStream server listening on a random loopback port.
type Server struct {
	*server.Server
	URL string
}

// Start runs a JetStream server with a file store in a temporary
// directory; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn runs a JetStream server storing in dir (reuse dir to test restarts).
func StartIn(t testing.TB, dir string) *Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "natstest",
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		MaxPayload: 8 << 20,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return &Server{Server: s, URL: s.ClientURL()}
}

// Connect returns a JetStream handle on a connection closed at test end.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := broker.JetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// Provisioned starts a server with alharvest's streams and bucket laid out
// and returns a JetStream handle on it: what most tests need, when they
// need neither the server's URL nor the connection.
func Provisioned(t testing.TB) jetstream.JetStream {
	t.Helper()
	srv := Start(t)
	_, js := Connect(t, srv.URL)
	Provision(t, js)
	return js
}

// StateBucket returns the ALHARVEST_STATE bucket of a provisioned js.
func StateBucket(t testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// Provision lays out alharvest's streams and bucket on js.
func Provision(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := broker.Provision(ctx, js, broker.Topology{}, nil); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// ServerBinary builds nats-server from the module's own dependency (once
// per test binary) and returns its path.
func ServerBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natstest-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "nats-server")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/nats-io/nats-server/v2")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build nats-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// RemoveBinaries deletes what ServerBinary built; call it from TestMain.
func RemoveBinaries() {
	if buildPath != "" {
		os.RemoveAll(filepath.Dir(buildPath))
	}
}

// Process is a nats-server running as a separate process.
type Process struct {
	URL  string
	Port int
	Dir  string
	bin  string
	cmd  *exec.Cmd
	t    testing.TB
}

// StartProcess runs nats-server -js with its store in a temporary
// directory, on a free loopback port.
func StartProcess(t testing.TB) *Process {
	t.Helper()
	p := &Process{Dir: t.TempDir(), bin: ServerBinary(t), Port: testenv.FreePort(t), t: t}
	p.URL = "nats://127.0.0.1:" + strconv.Itoa(p.Port)
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// Start (re)starts the process on the same port and store.
func (p *Process) Start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-sd", p.Dir, "-n", "natstest")
	p.cmd.Stdout, p.cmd.Stderr = nil, nil
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start nats-server: %v", err)
	}
	listening := func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	if !testenv.Eventually(p.t, 20*time.Second, "nats-server to listen on "+strconv.Itoa(p.Port), listening) {
		p.t.FailNow()
	}
}

// Stop terminates the process gracefully and waits for it.
func (p *Process) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
	p.cmd = nil
}

// Kill terminates the process with SIGKILL.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}
