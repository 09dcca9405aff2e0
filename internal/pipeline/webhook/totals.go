package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TotalsKey is the ALHARVEST_STATE key holding every receiver's counts, so
// `alharvest status` can show what the push delivered next to what the
// sweeps found.
const TotalsKey = "webhook.totals"

// Totals counts pushes over the life of the pipeline, summed over every
// receiver replica.
type Totals struct {
	// Stored is SIDs the push queued first.
	Stored int64 `json:"stored"`
	// Repeated is pushes whose SID was already queued (Assemblyline's
	// retries, or a sweep that came first).
	Repeated int64 `json:"repeated"`
	// Ignored is pushes that could not qualify (score, SID).
	Ignored int64 `json:"ignored"`
	// Refused is pushes answered 4xx or 503.
	Refused int64 `json:"refused"`
	// LastPush is when a push was last stored or repeated.
	LastPush time.Time `json:"last_push"`
}

func (t *Totals) add(o Totals) {
	t.Stored += o.Stored
	t.Repeated += o.Repeated
	t.Ignored += o.Ignored
	t.Refused += o.Refused
	if o.LastPush.After(t.LastPush) {
		t.LastPush = o.LastPush
	}
}

// Tally counts outcomes in memory and adds them to TotalsKey from time to
// time: one KV update per interval, not per push.
type Tally struct {
	kv jetstream.KeyValue
	mu sync.Mutex
	d  Totals
	// Next observer in line (metrics), told every outcome.
	Next Observer
}

// NewTally returns a tally writing to kv (the ALHARVEST_STATE bucket).
func NewTally(kv jetstream.KeyValue, next Observer) *Tally { return &Tally{kv: kv, Next: next} }

// WebhookRequest implements Observer.
func (t *Tally) WebhookRequest(outcome string) {
	t.mu.Lock()
	switch outcome {
	case OutcomeStored:
		t.d.Stored++
		t.d.LastPush = time.Now().UTC()
	case OutcomeRepeated:
		t.d.Repeated++
		t.d.LastPush = time.Now().UTC()
	case OutcomeIgnored:
		t.d.Ignored++
	default:
		t.d.Refused++
	}
	t.mu.Unlock()
	if t.Next != nil {
		t.Next.WebhookRequest(outcome)
	}
}

// Run flushes the counts every interval until ctx ends, then once more.
func (t *Tally) Run(ctx context.Context, every time.Duration) {
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = t.Flush(fctx)
			cancel()
			return
		case <-tk.C:
			_ = t.Flush(ctx)
		}
	}
}

// Flush adds the counts gathered since the last flush to TotalsKey. On
// failure they stay for the next flush.
func (t *Tally) Flush(ctx context.Context) error {
	t.mu.Lock()
	d := t.d
	t.d = Totals{}
	t.mu.Unlock()
	if d == (Totals{}) {
		return nil
	}
	err := t.merge(ctx, d)
	if err != nil {
		t.mu.Lock()
		t.d.add(d)
		t.mu.Unlock()
	}
	return err
}

func (t *Tally) merge(ctx context.Context, d Totals) error {
	for range 10 {
		var cur Totals
		var rev uint64
		e, err := t.kv.Get(ctx, TotalsKey)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			rev = e.Revision()
			_ = json.Unmarshal(e.Value(), &cur) // damaged: start again from zero
		}
		cur.add(d)
		b, _ := json.Marshal(cur)
		if rev == 0 {
			_, err = t.kv.Create(ctx, TotalsKey, b)
		} else {
			_, err = t.kv.Update(ctx, TotalsKey, b, rev)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return err
		}
	}
	return fmt.Errorf("webhook totals: too many concurrent updates")
}

// LoadTotals reads TotalsKey; ok is false when no receiver ever counted.
func LoadTotals(ctx context.Context, kv jetstream.KeyValue) (Totals, bool, error) {
	var t Totals
	e, err := kv.Get(ctx, TotalsKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if err := json.Unmarshal(e.Value(), &t); err != nil {
		return t, false, fmt.Errorf("webhook totals: %w", err)
	}
	return t, true, nil
}
