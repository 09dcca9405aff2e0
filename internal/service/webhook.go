package service

import (
	"context"
	"time"

	"github.com/alharvest/alharvest/internal/pipeline/webhook"
)

// Webhook opens the Assemblyline webhook receiver on WEBHOOK_ADDR and
// returns a function serving it until ctx ends; (nil, nil) when
// WEBHOOK_ADDR is empty. The port opens here, so a taken port fails the
// start-up rather than a later sweep.
func (e *Env) Webhook(ctx context.Context) (func(context.Context) error, error) {
	w := e.Cfg.Webhook
	if w.Addr == "" {
		return nil, nil
	}
	kv, err := e.stateBucket(ctx)
	if err != nil {
		return nil, err
	}
	tally := webhook.NewTally(kv, e.Metrics)
	rcv := webhook.New(e.JS, webhook.Config{
		Threshold: e.Cfg.Threshold,
		Auth:      webhook.Auth{User: w.User, Password: w.Password.Reveal(), Token: w.Token.Reveal()},
		Logger:    e.Log,
		Observer:  tally,
	})
	srv, err := webhook.Listen(w.Addr, w.TLSCert, w.TLSKey, rcv, e.Log)
	if err != nil {
		return nil, err
	}
	if w.Password == "" && w.Token == "" {
		e.Log.Warn("the webhook receiver requires no credentials (WEBHOOK_ALLOW_NO_AUTH=true, loopback only)")
	}
	return func(ctx context.Context) error {
		go tally.Run(ctx, 2*time.Second)
		return srv.Serve(ctx)
	}, nil
}
