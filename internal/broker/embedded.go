package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/alharvest/alharvest/internal/netaddr"
)

// EmbeddedConfig configures the one-command mode's in-process server.
type EmbeddedConfig struct {
	// DataDir holds the JetStream store (queues, DLQ, checkpoints) so that a
	// later run resumes where this one stopped.
	DataDir string
	// Listen, when not empty ("127.0.0.1:4222"), also serves NATS clients
	// over TCP so other processes can publish SIDs or inspect the queues.
	// Empty means no socket at all; an empty host (":4222") means loopback;
	// port 0 means a free port the system chooses (ClientURL says which).
	// An address beyond loopback requires credentials (User and Password,
	// or Token): StartEmbedded refuses to serve the network without them.
	Listen string
	// User and Password, or Token, when set, are required of every client,
	// the in-process ones included (NATS_USER/NATS_PASSWORD, NATS_TOKEN).
	User, Password, Token string
	// SyncInterval is how often the store is fsynced in the background.
	// Zero (the default) means every write is fsynced before JetStream
	// acknowledges it (nats-server's sync_interval: always): what was
	// acknowledged — queued SIDs and files, dead letters, the watermark —
	// survives a power loss or kernel crash, and the watermark, written
	// after the SIDs it covers were acknowledged, can never be on disk
	// ahead of them. A positive interval trades that for speed: up to that
	// much acknowledged work can be lost in a machine crash (a process
	// crash loses nothing either way).
	SyncInterval time.Duration
}

// Embedded is a running in-process NATS server with JetStream.
type Embedded struct {
	Server *server.Server
	unlock func()
}

// StartEmbedded starts the server and waits until it accepts connections.
// It refuses to share DataDir with another running alharvest, which would
// corrupt the store.
func StartEmbedded(cfg EmbeddedConfig, log *slog.Logger) (*Embedded, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("embedded NATS: no data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded NATS: data directory: %w", err)
	}
	if err := CheckListen(cfg); err != nil {
		return nil, err
	}
	unlock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName: "alharvest-embedded",
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "jetstream"),
		NoSigs:     true,
		DontListen: cfg.Listen == "",
		// A generous payload limit so oversized messages reach the stage's
		// validation and get a reason, like on a stock server.
		MaxPayload: 8 << 20,
	}
	if cfg.SyncInterval > 0 {
		opts.SyncInterval = cfg.SyncInterval
	} else {
		opts.SyncAlways = true
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			unlock()
			return nil, fmt.Errorf("embedded NATS listen address %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
		if port == 0 {
			// nats-server reads 0 as its default port, 4222; a free port
			// chosen by the system is RANDOM_PORT. ClientURL says which.
			opts.Port = server.RANDOM_PORT
		}
		if !netaddr.IsLoopback(host) {
			log.Warn("embedded NATS listens beyond this machine; only clients with the configured credentials get in, and without TLS they travel in clear: prefer a firewall, or the compose deployment's NATS", "listen", net.JoinHostPort(host, strconv.Itoa(port)))
		}
	}
	switch {
	case cfg.Token != "":
		opts.Authorization = cfg.Token
	case cfg.User != "":
		opts.Username, opts.Password = cfg.User, cfg.Password
	}
	s, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	s.SetLoggerV2(&serverLog{log: log.With("component", "nats-server")}, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		unlock()
		return nil, fmt.Errorf("embedded NATS did not become ready within 30s (data dir %s)", cfg.DataDir)
	}
	return &Embedded{Server: s, unlock: unlock}, nil
}

// ClientURL returns the TCP URL when the server listens, else "".
func (e *Embedded) ClientURL() string {
	if e.Server.Addr() == nil {
		return ""
	}
	return e.Server.ClientURL()
}

// Shutdown stops the server, flushing the store, and releases DataDir.
func (e *Embedded) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
	e.unlock()
}

// CheckListen refuses a configuration that would serve NATS beyond this
// machine without credentials: anyone who reached the port could publish
// SIDs and read, purge or delete the queues and the dead letters.
func CheckListen(cfg EmbeddedConfig) error {
	if cfg.Listen == "" {
		return nil
	}
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return fmt.Errorf("embedded NATS listen address %q: %w", cfg.Listen, err)
	}
	if cfg.User != "" && cfg.Password == "" {
		return errors.New("embedded NATS: NATS_USER needs NATS_PASSWORD (or NATS_PASSWORD_FILE)")
	}
	if netaddr.IsLoopback(host) || cfg.Token != "" || (cfg.User != "" && cfg.Password != "") {
		return nil
	}
	return fmt.Errorf("refusing --listen %s: it serves NATS beyond this machine, and without credentials anyone who reaches port %d could publish SIDs and read or purge the queues; set NATS_USER and NATS_PASSWORD (or NATS_TOKEN, or their _FILE variants), which every client must then give, or listen on 127.0.0.1", net.JoinHostPort(host, strconv.Itoa(port)), port)
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if host == "" {
		// The embedded server has no authentication: ":4222" means this
		// machine only. Serving other hosts takes an explicit address.
		host = "127.0.0.1"
	}
	return host, port, nil
}

// serverLog routes the server's own log lines into slog, quietly: its
// notices are noise for a user of the one-command mode.
type serverLog struct{ log *slog.Logger }

func (l *serverLog) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLog) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLog) Tracef(format string, v ...any)  {}
