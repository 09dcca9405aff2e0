package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/bytesize"
	"github.com/alharvest/alharvest/internal/config"
	"github.com/alharvest/alharvest/internal/ops/admin"
	"github.com/alharvest/alharvest/pkg/messages"
)

const areaNATS = "nats"

func checkNATS(ctx context.Context, cfg *config.Config, o Options) []Result {
	if !o.NATSExplicit {
		if _, err := os.Stat(cfg.DataDir); errors.Is(err, os.ErrNotExist) {
			return []Result{ok(areaNATS, "store", "no JetStream store at "+cfg.DataDir+" yet: the first run creates it")}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.NATSExplicit {
		// The client waits for a server that is not up yet; a doctor
		// should say at once that nothing listens.
		if err := dialAny(ctx, cfg.NATS.URL); err != nil {
			return []Result{fail(areaNATS, "connection", errText(err),
				"nothing answers at NATS_URL: check the URL, that nats-server runs, and firewalls")}
		}
	}
	conn, err := admin.Open(ctx, cfg, o.NATSExplicit, o.Logger)
	if err != nil {
		if !o.NATSExplicit {
			return []Result{fail(areaNATS, "store", errText(err),
				"a running alharvest holds "+cfg.DataDir+": check it through its --listen address (NATS_URL=nats://127.0.0.1:4222 alharvest check), or stop it")}
		}
		return []Result{fail(areaNATS, "connection", errText(err),
			"check NATS_URL, the credentials (NATS_CREDS, NATS_NKEY, NATS_USER/NATS_PASSWORD, NATS_TOKEN) and TLS (NATS_CA, NATS_CERT/NATS_KEY)")}
	}
	defer conn.Close()
	out := []Result{ok(areaNATS, "connection", conn.Where)}

	ai, err := conn.JS.AccountInfo(ctx)
	if err != nil {
		return append(out, fail(areaNATS, "jetstream", errText(err),
			"enable JetStream on the server (nats-server -js) and for this account"))
	}
	out = append(out, ok(areaNATS, "jetstream", fmt.Sprintf("enabled: %d streams, %d consumers, %s stored",
		ai.Streams, ai.Consumers, bytesize.Format(int64(ai.Store)))))

	want := broker.Topology{Replicas: cfg.NATS.Replicas}
	for _, sc := range want.Streams() {
		out = append(out, checkStream(ctx, conn.JS, sc))
	}
	for _, c := range []struct{ stream, durable string }{
		{messages.StreamSIDs, messages.ConsumerScorer},
		{messages.StreamFiles, messages.ConsumerDownloader},
	} {
		name := "consumer " + c.durable
		ci, err := conn.JS.Consumer(ctx, c.stream, c.durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound), errors.Is(err, jetstream.ErrStreamNotFound):
			out = append(out, ok(areaNATS, name, "not created yet: the "+c.durable+" creates it when it starts"))
		case err != nil:
			out = append(out, fail(areaNATS, name, errText(err), "check the account's permissions on $JS.API.CONSUMER.>"))
		default:
			info := ci.CachedInfo()
			if info.Config.AckPolicy != jetstream.AckExplicitPolicy {
				out = append(out, fail(areaNATS, name, "ack policy "+info.Config.AckPolicy.String()+", alharvest needs explicit",
					"delete the consumer (nats consumer rm "+c.stream+" "+c.durable+"); the stage recreates it"))
				continue
			}
			out = append(out, ok(areaNATS, name, fmt.Sprintf("%d pending, %d in flight", info.NumPending, info.NumAckPending)))
		}
	}
	kv, err := conn.JS.KeyValue(ctx, messages.BucketState)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		out = append(out, ok(areaNATS, "bucket "+messages.BucketState, "not created yet: the stages create it when they start"))
	case err != nil:
		out = append(out, fail(areaNATS, "bucket "+messages.BucketState, errText(err), "check the account's permissions on $KV."+messages.BucketState+".>"))
	default:
		st, err := kv.Status(ctx)
		if err != nil {
			out = append(out, fail(areaNATS, "bucket "+messages.BucketState, errText(err), "check the account's permissions"))
		} else {
			out = append(out, ok(areaNATS, "bucket "+messages.BucketState, fmt.Sprintf("present, %d checkpoint values", st.Values())))
		}
	}
	return out
}

// checkStream compares a stream with what alharvest lays out: the subjects,
// retention and storage must match; it is the stages that create it.
func checkStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) Result {
	name := "stream " + want.Name
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ok(areaNATS, name, "not created yet: the stages create it when they start")
	}
	if err != nil {
		return fail(areaNATS, name, errText(err), "check the account's permissions on $JS.API.STREAM.>")
	}
	info := s.CachedInfo()
	got := info.Config
	fix := "this stream was not made by alharvest or by an incompatible version: back up and delete it (nats stream rm " + want.Name + "), then start a stage"
	switch {
	case !slices.Equal(got.Subjects, want.Subjects):
		return fail(areaNATS, name, fmt.Sprintf("subjects %v, alharvest needs %v", got.Subjects, want.Subjects), fix)
	case got.Retention != want.Retention:
		return fail(areaNATS, name, fmt.Sprintf("retention %s, alharvest needs %s", got.Retention, want.Retention), fix)
	case got.Storage != want.Storage:
		return fail(areaNATS, name, fmt.Sprintf("storage %s, alharvest needs %s", got.Storage, want.Storage), fix)
	case got.Replicas != want.Replicas:
		return warn(areaNATS, name, fmt.Sprintf("%d replicas, NATS_REPLICAS says %d", got.Replicas, want.Replicas),
			"set NATS_REPLICAS to the stream's replicas, or change them with nats stream edit")
	}
	return ok(areaNATS, name, fmt.Sprintf("%d messages", info.State.Msgs))
}

// dialAny opens (and closes) a TCP connection to the first server of a
// comma-separated NATS URL list that answers.
func dialAny(ctx context.Context, urls string) error {
	var errs []error
	for _, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if !strings.Contains(raw, "://") {
			raw = "nats://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("NATS_URL entry is not a URL"))
			continue
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "4222")
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := (&net.Dialer{}).DialContext(dctx, "tcp", host)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", host, err))
	}
	return errors.Join(errs...)
}
