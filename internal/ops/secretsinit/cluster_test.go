package secretsinit_test

import (
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alharvest/alharvest/internal/ops/secretsinit"
	"github.com/alharvest/alharvest/internal/testenv"
)

// TestClusterRoutesAuthenticate: two nodes on the generated cluster
// configuration form a cluster; a third with the right routes but the wrong
// password is refused by both.
func TestClusterRoutesAuthenticate(t *testing.T) {
	ports := []int{testenv.FreePort(t), testenv.FreePort(t)}
	var nodes []string
	for _, p := range ports {
		nodes = append(nodes, net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	}
	dir := t.TempDir()
	if err := secretsinit.Prepare(secretsinit.Config{Dir: dir, Owner: self(), NATSOwner: self(), ClusterNodes: nodes}, io.Discard); err != nil {
		t.Fatal(err)
	}
	start := func(name string, port int, mangle func(*server.Options)) *server.Server {
		t.Helper()
		opts, err := server.ProcessConfigFile(filepath.Join(dir, secretsinit.ClusterConfFile))
		if err != nil {
			t.Fatalf("the generated cluster configuration does not load: %v", err)
		}
		opts.ServerName = name
		opts.Host, opts.Port = "127.0.0.1", -1
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", port
		opts.NoLog, opts.NoSigs = true, true
		if mangle != nil {
			mangle(opts)
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("%s not ready", name)
		}
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
		return s
	}
	n1 := start("n1", ports[0], nil)
	n2 := start("n2", ports[1], nil)
	testenv.Eventually(t, 10*time.Second, "n1 and n2 routed", func() bool { return n1.NumRoutes() > 0 && n2.NumRoutes() > 0 })

	intruder := start("intruder", testenv.FreePort(t), func(o *server.Options) {
		for _, r := range o.Routes {
			r.User = url.UserPassword(secretsinit.RouteUser, "guessed")
		}
	})
	time.Sleep(2 * time.Second) // the intruder dials both nodes at once and retries every second
	if n := intruder.NumRoutes(); n != 0 {
		t.Errorf("a node with the wrong route password has %d routes", n)
	}
	for _, s := range []*server.Server{n1, n2} {
		rz, err := s.Routez(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName == "intruder" {
				t.Errorf("%s routes to the node with the wrong password", s.Name())
			}
		}
	}
}
