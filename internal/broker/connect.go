// Package broker connects alharvest to NATS JetStream and lays out the
// streams, consumers and KV bucket that the public contract names. It also
// publishes a stage's batches (PublishAll), retries provisioning until the
// cluster is ready (Retry) and runs the embedded server of the one-command
// mode.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/secret"
)

// ConnConfig says how to reach NATS. Exactly one of Creds, User/Password or
// Token is normally set; TLS fields are independent of them.
type ConnConfig struct {
	// URLs is a comma-separated list of servers (NATS_URL).
	URLs string
	// Name identifies this client in server monitoring (e.g. "alharvest-scorer").
	Name string
	// Creds is a credentials file (NATS_CREDS), for decentralized JWT auth.
	Creds string
	// NKeySeed is an nkey seed file (NATS_NKEY).
	NKeySeed string
	// User and Password (NATS_USER, NATS_PASSWORD).
	User, Password string
	// Token (NATS_TOKEN).
	Token string
	// CAFile, CertFile, KeyFile configure TLS (NATS_CA, NATS_CERT, NATS_KEY).
	CAFile, CertFile, KeyFile string
	// InProcess, when set, connects to an embedded server without a socket.
	InProcess nats.InProcessConnProvider
}

// ConnConfigFrom is how a process reaches the NATS server its configuration
// (NATS_*) names; name identifies the process in server monitoring.
func ConnConfigFrom(n config.NATS, name string) ConnConfig {
	return ConnConfig{
		URLs: n.URL, Name: name,
		Creds: n.Creds, NKeySeed: n.NKey,
		User: n.User, Password: n.Password.Reveal(), Token: n.Token.Reveal(),
		CAFile: n.CAFile, CertFile: n.CertFile, KeyFile: n.KeyFile,
	}
}

// String describes the connection without any secret.
func (c ConnConfig) String() string {
	if c.InProcess != nil {
		return "in-process (auth " + c.auth() + ")"
	}
	return fmt.Sprintf("%s (auth %s, tls %t)", secret.MaskURL(c.URLs), c.auth(), c.wantsTLS())
}

// auth names the kind of credentials configured.
func (c ConnConfig) auth() string {
	switch {
	case c.Creds != "":
		return "creds"
	case c.NKeySeed != "":
		return "nkey"
	case c.User != "":
		return "user/password"
	case c.Token != "":
		return "token"
	case strings.Contains(c.URLs, "@"):
		return "in URL"
	}
	return "none"
}

// wantsTLS reports whether the connection is configured to use TLS: a CA,
// a client certificate, or a tls:// URL.
func (c ConnConfig) wantsTLS() bool {
	return c.CAFile != "" || c.CertFile != "" || strings.Contains(strings.ToLower(c.URLs), "tls://")
}

// LogValue keeps secrets out of structured logs.
func (c ConnConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Connect dials NATS and keeps reconnecting forever: a stage outlives NATS
// restarts and starts even when NATS is not up yet (compose start order).
func Connect(ctx context.Context, cfg ConnConfig, log *slog.Logger) (*nats.Conn, error) {
	if log == nil {
		log = slog.Default()
	}
	urls := cfg.URLs
	if urls == "" {
		urls = config.DefaultNATSURL
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectBufSize(32 << 20),
		// A server cut off without a FIN (a network partition) is noticed
		// after 2 unanswered pings, ~10-15 s; until then the stage's pulls
		// go nowhere. Measured in deploy/composerun's partition scenario.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("NATS error", "err", err, "subject", subj)
		}),
	}
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess))
	}
	switch {
	case cfg.Creds != "":
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	case cfg.NKeySeed != "":
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeed)
		if err != nil {
			return nil, fmt.Errorf("nats nkey seed %s: %w", cfg.NKeySeed, err)
		}
		opts = append(opts, o)
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	case cfg.Token != "":
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	nc, err := nats.Connect(urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", secret.MaskURL(urls), err)
	}
	if nc.IsConnected() {
		return nc, nil
	}
	log.Info("waiting for NATS", "url", secret.MaskURL(urls))
	for !nc.IsConnected() {
		if nc.IsClosed() {
			// The client gives up by itself on repeated authorization
			// errors: waiting longer would not help.
			return nil, fmt.Errorf("connect to NATS at %s: %w", secret.MaskURL(urls), nc.LastError())
		}
		select {
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("connect to NATS at %s: %w", secret.MaskURL(urls), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nc, nil
}

// JetStream wraps a connection for JetStream use with alharvest's defaults.
func JetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return js, nil
}

// Retry runs op until it succeeds, ctx ends, or it fails with an error that
// is not about JetStream being unreachable. Provisioning at start-up uses it
// so stages can start before the cluster has elected its leaders. Each call
// of op gets 10 s; the pauses between calls double from 200 ms to 5 s, with
// jitter so that replicas starting together do not retry together.
func Retry(ctx context.Context, log *slog.Logger, what string, op func(context.Context) error) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0), // until ctx ends
	)
	err := backoff.RetryNotify(func() error {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		err := op(octx)
		if err != nil && (!transient(err) || ctx.Err() != nil) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, next time.Duration) {
		log.Warn("JetStream not ready; retrying", "op", what, "err", err, "retry_in", next)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ErrNotYet marks an error an op given to Retry wants retried although
// Retry would not take it for a passing one by itself: a part of the
// layout just provisioned that a cluster node has not caught up with yet.
var ErrNotYet = errors.New("not there yet")

func transient(err error) bool {
	return errors.Is(err, ErrNotYet) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		// Two processes creating a stream at once with different settings
		// (the searcher's de-duplication window): the loser updates it on
		// the next try.
		errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) ||
		strings.Contains(err.Error(), "JetStream system temporarily unavailable") ||
		strings.Contains(err.Error(), "insufficient resources") ||
		strings.Contains(err.Error(), "no suitable peers")
}
