package quota_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/broker"
	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/pkg/messages"
)

// acquireAll takes n slots of g within d, or fails the test, and returns
// how long it took.
func acquireAll(t *testing.T, g *quota.Shared, n int, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := g.Acquire(ctx); err != nil {
				t.Errorf("acquire: %v after %s", err, time.Since(start))
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func releaseAll(g *quota.Shared, n int) {
	for range n {
		g.Release(false)
	}
}

// TestSharedRewritesAnUndecodableRecord stores records no process could
// have written where the budget lives, before a process joins and while it
// runs: each is written afresh and the process gets its slots.
func TestSharedRewritesAnUndecodableRecord(t *testing.T) {
	_, kv := bucket(t)
	key := quota.Key(testServer, testUser)
	for _, bad := range []string{"not json", `{"quota":0,"size":0}`, `{"quota":10,"size":10,"holders":{"x":null}}`} {
		t.Run(bad, func(t *testing.T) {
			if _, err := kv.Put(context.Background(), key, []byte(bad)); err != nil {
				t.Fatal(err)
			}
			g := join(t, kv, "fresh", 4)
			acquireAll(t, g, 4, 3*time.Second)
			releaseAll(g, 4)
			if s := budget(t, kv); s.Quota != 4 || len(s.Holders) != 1 {
				t.Errorf("record after the rewrite: %+v", s)
			}

			// Damaged again while the process runs: its next write finds
			// the revision changed, reads garbage, and rewrites it.
			if _, err := kv.Put(context.Background(), key, []byte(bad)); err != nil {
				t.Fatal(err)
			}
			acquireAll(t, g, 4, 3*time.Second)
			releaseAll(g, 4)
			g.Close()
		})
	}
}

// TestSharedHealsADeletedBucket deletes the state bucket under two running
// processes: through Heal they re-create it and the record, and neither
// waits on a share of the old budget while NATS answers.
func TestSharedHealsADeletedBucket(t *testing.T) {
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s.URL)
	natstest.Provision(t, js)
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	heal := func(ctx context.Context) error {
		return broker.Provision(ctx, js, broker.Topology{}, nil)
	}
	var gs []*quota.Shared
	for _, name := range []string{"a", "b"} {
		g := quota.NewShared(quota.SharedConfig{Server: testServer, User: testUser, Name: name, Quota: 2,
			TTL: time.Second, Rotate: 100 * time.Millisecond, Heal: heal})
		if err := g.Start(context.Background(), kv); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		gs = append(gs, g)
	}
	// Let a take both slots, so that b's last known share is 0.
	acquireAll(t, gs[0], 2, 3*time.Second)
	if err := js.DeleteKeyValue(context.Background(), messages.BucketState); err != nil {
		t.Fatal(err)
	}
	releaseAll(gs[0], 2)
	d := acquireAll(t, gs[1], 2, 5*time.Second)
	t.Logf("b got both slots %s after the bucket was deleted", d)
	if _, err := js.KeyValue(context.Background(), messages.BucketState); err != nil {
		t.Errorf("bucket not re-created: %v", err)
	}
	releaseAll(gs[1], 2)
}

// TestSharedLeaseOfAFastClockLapsesWithinTwoLeases forges the record of a
// killed holder whose clock ran an hour fast, holding every slot until
// "an hour from now": a process joining gets the slots within two leases.
func TestSharedLeaseOfAFastClockLapsesWithinTwoLeases(t *testing.T) {
	_, kv := bucket(t)
	const ttl = time.Second
	forged := map[string]any{
		"server": testServer, "user": testUser, "quota": 4, "source": quota.OriginOverride, "size": 4,
		"changed_ms": time.Now().UnixMilli(),
		"holders": map[string]any{"ghost": map[string]any{
			"name": "scorer@fast-clock:1", "held": 4, "want": 4,
			"expires_ms": time.Now().Add(time.Hour).UnixMilli(),
		}},
	}
	b, _ := json.Marshal(forged)
	if _, err := kv.Put(context.Background(), quota.Key(testServer, testUser), b); err != nil {
		t.Fatal(err)
	}
	if s := budget(t, kv); len(s.Holders) != 1 || time.Until(s.Holders[0].Expires) > quota.DefaultTTL {
		t.Errorf("status shows the forged lease until %s; want at most one lease ahead", s.Holders[0].Expires)
	}
	g := join(t, kv, "survivor", 4)
	d := acquireAll(t, g, 4, 2*ttl+time.Second)
	t.Logf("slots of the fast-clock holder came back after %s (lease %s)", d, ttl)
	if d > 2*ttl {
		t.Errorf("slots came back after %s, more than two leases (%s)", d, 2*ttl)
	}
	if s := budget(t, kv); len(s.Holders) != 1 || s.Holders[0].Name != "survivor" {
		t.Errorf("after the lapse: %+v", s)
	}
	releaseAll(g, 4)
}
