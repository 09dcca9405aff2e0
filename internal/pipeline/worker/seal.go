package worker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderSeal authenticates the bookkeeping headers (Attempts, First-Seen,
// Deferrals) of a copy the worker re-published: an HMAC-SHA256 over the
// copy's subject, payload and those headers' values, with a key the stage's
// replicas share. Other systems publish into the work queues too; without
// the seal, a publisher's Alharvest-Attempts: 9 or an Alharvest-First-Seen
// of 1970 would get a message dead-lettered before it was ever tried. A
// message without a valid seal starts with a fresh budget: its headers are
// ignored, and overwritten on any copy.
const HeaderSeal = "Alharvest-Seal"

// sealKeyName is the KV entry holding the shared seal key.
const sealKeyName = "worker.seal-key"

// SealKey returns the key the stages' replicas share for HeaderSeal: stored
// once in the state bucket (which publishers of work need no access to),
// created at random by the first process to ask.
func SealKey(ctx context.Context, kv jetstream.KeyValue) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if _, err := kv.Create(ctx, sealKeyName, key); err == nil {
		return key, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	e, err := kv.Get(ctx, sealKeyName)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if len(e.Value()) < 16 {
		return nil, fmt.Errorf("seal key: stored key is %d bytes, want at least 16", len(e.Value()))
	}
	return e.Value(), nil
}

// RestoreSealKey stores key as the stages' shared seal key unless one is
// stored already. After the bucket was lost, the replicas still running
// keep sealing with the key they loaded; one starting later must load that
// same key, not make a new one, or it would take their deferred copies for
// forgeries.
func RestoreSealKey(ctx context.Context, kv jetstream.KeyValue, key []byte) error {
	if _, err := kv.Create(ctx, sealKeyName, key); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("seal key: %w", err)
	}
	return nil
}

// seal computes HeaderSeal's value for a message.
func (w *Worker) seal(subject string, data []byte, h nats.Header) string {
	mac := hmac.New(sha256.New, w.sealKey)
	for _, part := range [][]byte{[]byte(subject), data, []byte(h.Get(HeaderAttempts)), []byte(h.Get(HeaderFirstSeen)), []byte(h.Get(HeaderDeferrals))} {
		// Length-prefixed, so that no two header sets share a MAC input.
		fmt.Fprintf(mac, "%d:", len(part))
		mac.Write(part)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// sealed reports whether h carries a valid seal for this message.
func (w *Worker) sealed(subject string, data []byte, h nats.Header) bool {
	got, err := hex.DecodeString(h.Get(HeaderSeal))
	if err != nil || len(got) != sha256.Size {
		return false
	}
	want, _ := hex.DecodeString(w.seal(subject, data, h))
	return hmac.Equal(got, want)
}
