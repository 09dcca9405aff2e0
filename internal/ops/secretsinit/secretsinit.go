// Package secretsinit creates the secrets of a compose deployment (the
// service secrets-init, which runs once as root in the alharvest image
// before NATS and the stages start): a NATS nkey for each identity, the
// webhook's bearer token, the password the NATS cluster's routes
// authenticate with, and the NATS server configuration that admits exactly
// these identities with their permissions.
//
// Every secret is generated at random on the first run and kept after that:
// a second run changes nothing but rewrites the server configuration from
// the kept keys. Rotate regenerates the named ones. Files are mode 0600, the
// clients' secrets owned by the stages' user, the server's by the NATS
// user, so that neither reads the other's.
package secretsinit

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/alharvest/alharvest/internal/ops/outputinit"
)

// Names of the secrets Prepare keeps; Rotate takes these.
const (
	// Stages is the nkey of searcher, scorer, downloader and the operator's
	// `alharvest status`/`dlq`: every JetStream operation of the account.
	Stages = "stages"
	// Feeder is the nkey of another system feeding SIDs: it may publish
	// to alharvest.sids and receive the acknowledgements, nothing else.
	Feeder = "feeder"
	// Reader is the nkey of a downstream process (alharvest feed): it may
	// read ALHARVEST_COLLECTED through durable consumers of its own and
	// dead-letter to alharvest.dlq.feed, nothing else.
	Reader = "reader"
	// Webhook is the bearer token Assemblyline's post-process webhook sends
	// to the searcher.
	Webhook = "webhook"
	// Route is the password the NATS cluster's nodes authenticate each
	// other's routes with.
	Route = "route"
)

// Files Prepare writes in its directory.
const (
	StagesSeedFile  = "stages.nk"
	FeederSeedFile  = "feeder.nk"
	ReaderSeedFile  = "reader.nk"
	WebhookFile     = "webhook_token"
	RoutePassFile   = "route_password"
	ServerConfFile  = "nats-server.conf"
	ClusterConfFile = "nats-cluster.conf"
)

// RouteUser is the user name of the cluster's routes.
const RouteUser = "route"

// DefaultClusterNodes are the cluster's nodes as docker-compose.cluster.yml
// names them.
var DefaultClusterNodes = []string{"nats1", "nats2", "nats3"}

// Config says where to write and who owns what.
type Config struct {
	// Dir receives the files (the compose volume `secrets`).
	Dir string
	// Owner is the stages' user (ALHARVEST_UID:ALHARVEST_GID): it owns the
	// clients' seeds and the webhook token.
	Owner outputinit.Owner
	// NATSOwner is the NATS server's user: it owns the server's
	// configuration and the route password.
	NATSOwner outputinit.Owner
	// ClusterNodes are host[:port] of every node of a cluster (port 6222
	// when left out); nil means DefaultClusterNodes.
	ClusterNodes []string
	// ClusterListen is the cluster port's listen address (default
	// 0.0.0.0:6222).
	ClusterListen string
	// Rotate names secrets (Stages, Feeder, Reader, Webhook, Route) to
	// generate anew even though they exist.
	Rotate []string
}

type secret struct {
	name, file string
	server     bool // owned by the NATS user
	gen        func() ([]byte, error)
}

var secrets = []secret{
	{Stages, StagesSeedFile, false, userSeed},
	{Feeder, FeederSeedFile, false, userSeed},
	{Reader, ReaderSeedFile, false, userSeed},
	{Webhook, WebhookFile, false, randomHex},
	{Route, RoutePassFile, true, randomHex},
}

// Names lists the secrets Rotate accepts.
func Names() []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s.name)
	}
	return out
}

func userSeed() ([]byte, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, err
	}
	return append(seed, '\n'), nil
}

func randomHex() ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(b) + "\n"), nil
}

// Prepare creates what is missing in c.Dir, regenerates what c.Rotate
// names, writes the server configurations from the keys, and reports what
// it did on w. It never prints a secret.
func Prepare(c Config, w io.Writer) error {
	for _, r := range c.Rotate {
		if !slices.Contains(Names(), r) {
			return fmt.Errorf("cannot rotate %q: the secrets are %s", r, strings.Join(Names(), ", "))
		}
	}
	if len(c.ClusterNodes) == 0 {
		c.ClusterNodes = DefaultClusterNodes
	}
	if c.ClusterListen == "" {
		c.ClusterListen = "0.0.0.0:6222"
	}
	if err := os.MkdirAll(c.Dir, 0o711); err != nil {
		return err
	}
	// Each owner may enter the directory and open its own files by name,
	// nobody may list it.
	if err := os.Chmod(c.Dir, 0o711); err != nil {
		return err
	}
	values := map[string][]byte{}
	for _, s := range secrets {
		path := filepath.Join(c.Dir, s.file)
		owner := c.Owner
		if s.server {
			owner = c.NATSOwner
		}
		b, err := os.ReadFile(path)
		switch {
		case err == nil && len(bytes.TrimSpace(b)) > 0 && !slices.Contains(c.Rotate, s.name):
			if err := settle(path, owner); err != nil {
				return err
			}
			values[s.name] = bytes.TrimSpace(b)
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if b, err = s.gen(); err != nil {
			return fmt.Errorf("generate %s: %w", s.name, err)
		}
		if err := writeFile(path, b, owner); err != nil {
			return err
		}
		values[s.name] = bytes.TrimSpace(b)
		verb := "created"
		if slices.Contains(c.Rotate, s.name) {
			verb = "rotated"
		}
		fmt.Fprintf(w, "secrets-init: %s the %s secret (%s, owner %d:%d, mode 0600)\n", verb, s.name, s.file, owner.UID, owner.GID)
	}
	pubs := map[string]string{}
	for _, id := range []string{Stages, Feeder, Reader} {
		kp, err := nkeys.FromSeed(values[id])
		if err != nil {
			return fmt.Errorf("%s: not an nkey seed (rotate it): %w", filepath.Join(c.Dir, fileOf(id)), err)
		}
		if pubs[id], err = kp.PublicKey(); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(c.Dir, ServerConfFile), []byte(ServerConf(pubs[Stages], pubs[Feeder], pubs[Reader])), c.NATSOwner); err != nil {
		return err
	}
	cluster, err := ClusterConf(c.ClusterNodes, c.ClusterListen, string(values[Route]))
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.Dir, ClusterConfFile), []byte(cluster), c.NATSOwner); err != nil {
		return err
	}
	fmt.Fprintf(w, "secrets-init: wrote %s and %s for identities stages %s, feeder %s, reader %s\n",
		ServerConfFile, ClusterConfFile, pubs[Stages], pubs[Feeder], pubs[Reader])
	return nil
}

func fileOf(name string) string {
	for _, s := range secrets {
		if s.name == name {
			return s.file
		}
	}
	return name
}

// writeFile replaces path with b atomically, mode 0600, owned by o.
func writeFile(path string, b []byte, o outputinit.Owner) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := settle(tmp.Name(), o); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// settle makes path 0600 and o's (an owner changed since the last run, an
// operator's chmod).
func settle(path string, o outputinit.Owner) error {
	if err := os.Chown(path, o.UID, o.GID); err != nil {
		return fmt.Errorf("hand %s to %d:%d: %w", path, o.UID, o.GID, err)
	}
	return os.Chmod(path, 0o600)
}

// ServerConf is the NATS server configuration admitting the three
// identities by their public keys.
func ServerConf(stages, feeder, reader string) string {
	return fmt.Sprintf(serverConf, stages, feeder, quoteAll(FeederPublish), quoteAll(FeederSubscribe),
		reader, quoteAll(ReaderPublish), quoteAll(ReaderSubscribe))
}

// What the feeder and the reader may do, subject by subject.
var (
	// FeederPublish: SIDs, nothing else.
	FeederPublish = []string{"alharvest.sids"}
	// FeederSubscribe: the JetStream acknowledgement of each publish
	// arrives on the client's reply inbox.
	FeederSubscribe = []string{"_INBOX.>"}
	// ReaderPublish: the JetStream API calls of a durable pull consumer of
	// ALHARVEST_COLLECTED (look up the stream; create, update and look up
	// its consumers; pull), acknowledgements of what it pulled (ack, nak,
	// in progress, term), and its dead letters.
	ReaderPublish = []string{
		"$JS.API.STREAM.INFO.ALHARVEST_COLLECTED",
		"$JS.API.CONSUMER.CREATE.ALHARVEST_COLLECTED.>",
		"$JS.API.CONSUMER.DURABLE.CREATE.ALHARVEST_COLLECTED.*",
		"$JS.API.CONSUMER.INFO.ALHARVEST_COLLECTED.*",
		"$JS.API.CONSUMER.MSG.NEXT.ALHARVEST_COLLECTED.*",
		"$JS.ACK.ALHARVEST_COLLECTED.>",
		"alharvest.dlq.feed",
	}
	// ReaderSubscribe: API answers, pulled messages and publish
	// acknowledgements all arrive on the client's reply inbox.
	ReaderSubscribe = []string{"_INBOX.>"}
)

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

const serverConf = `# Written by secrets-init from the keys beside it; rewritten on every run.
# Flags on the compose command line (JetStream, store dir, monitoring port,
# server name) add to what is here.

jetstream {
  # Every write is fsynced before the server acknowledges it, so what the
  # single server has acked (SIDs, files, the search checkpoint) survives a
  # power loss, not only a crash of the process.
  sync_interval: always
}

# Ping every connection (clients and the cluster's routes) every 5 s and drop
# it after 2 unanswered pings, so a node cut off without a FIN is noticed in
# ~15 s instead of the default ~4 minutes.
ping_interval: "5s"
ping_max: 2

# Clients must authenticate with one of these nkeys (seeds: stages.nk,
# feeder.nk, reader.nk in the same directory).
authorization {
  users = [
    # The stages and the operator's alharvest status/dlq: everything.
    { nkey: %s }
    # Another system feeding SIDs.
    { nkey: %s
      permissions: { publish: { allow: [%s] }, subscribe: { allow: [%s] } } }
    # A downstream reader of collected events (alharvest feed).
    { nkey: %s
      permissions: { publish: { allow: [%s] }, subscribe: { allow: [%s] } } }
  ]
}
`

// ClusterConf is the configuration of one cluster node: the server
// configuration plus a cluster block whose routes authenticate as
// RouteUser with password.
func ClusterConf(nodes []string, listen, password string) (string, error) {
	var routes []string
	for _, n := range nodes {
		host, port, err := net.SplitHostPort(n)
		if err != nil {
			host, port = n, "6222"
		}
		if host == "" || strings.ContainsAny(host, "/@ \"") {
			return "", fmt.Errorf("cluster node %q is not host[:port]", n)
		}
		routes = append(routes, fmt.Sprintf(`    "nats-route://%s:%s@%s"`, RouteUser, password, net.JoinHostPort(host, port)))
	}
	return fmt.Sprintf(clusterConf, ServerConfFile, listen, RouteUser, password, strings.Join(routes, "\n")), nil
}

const clusterConf = `# Written by secrets-init; rewritten on every run. A node of the three-node
# cluster (docker-compose.cluster.yml): the single server's settings and
# users, plus the cluster's routes, which authenticate with route_password.

include ./%s

cluster {
  name: alharvest
  listen: "%s"
  authorization { user: %s, password: "%s", timeout: 2 }
  routes = [
%s
  ]
}
`
