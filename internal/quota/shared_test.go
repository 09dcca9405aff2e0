package quota_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/alharvest/alharvest/internal/natstest"
	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/testenv"
	"github.com/alharvest/alharvest/pkg/messages"
)

const (
	testServer = "https://al.example.org"
	testUser   = "harvest"
)

// bucket returns alharvest's state bucket on a fresh embedded server.
func bucket(t testing.TB) (string, jetstream.KeyValue) {
	t.Helper()
	s := natstest.Start(t)
	_, js := natstest.Connect(t, s.URL)
	natstest.Provision(t, js)
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	return s.URL, kv
}

// join starts a Shared gate on kv, closed at test end.
func join(t testing.TB, kv jetstream.KeyValue, name string, override int) *quota.Shared {
	t.Helper()
	g := quota.NewShared(quota.SharedConfig{Server: testServer, User: testUser, Name: name, Quota: override,
		TTL: time.Second, Rotate: 100 * time.Millisecond})
	if err := g.Start(context.Background(), kv); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(g.Close)
	return g
}

func budget(t testing.TB, kv jetstream.KeyValue) quota.Snapshot {
	t.Helper()
	bs, err := quota.ReadBudgets(context.Background(), kv)
	if err != nil || len(bs) != 1 {
		t.Fatalf("budgets %v, %v", bs, err)
	}
	return bs[0]
}

func TestSharedStaysWithinQuotaAndEveryProcessProgresses(t *testing.T) {
	_, kv := bucket(t)
	const quotaN, procs = 6, 4
	var cur, peak atomic.Int32
	calls := make([]atomic.Int32, procs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for p := range procs {
		g := join(t, kv, fmt.Sprintf("proc-%d", p), quotaN)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if g.Acquire(ctx) != nil {
						return
					}
					n := cur.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(2 * time.Millisecond)
					cur.Add(-1)
					calls[p].Add(1)
					g.Release(false)
				}
			}()
		}
	}
	wg.Wait()
	if p := peak.Load(); p > quotaN {
		t.Errorf("peak %d calls at once across processes, quota %d", p, quotaN)
	}
	for p := range procs {
		if calls[p].Load() == 0 {
			t.Errorf("proc-%d made no call: the budget never rotated to it", p)
		}
	}
}

func TestSharedIdleProcessLeavesItsSlotsToABusyOne(t *testing.T) {
	_, kv := bucket(t)
	busy := join(t, kv, "busy", 8)
	join(t, kv, "idle", 8)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 8 {
		if err := busy.Acquire(ctx); err != nil {
			t.Fatalf("busy process got %d of 8 slots: %v", busy.Allowed(), err)
		}
	}
	if s := budget(t, kv); s.Held > 8 {
		t.Fatalf("held %d > quota", s.Held)
	}
}

func TestSharedLearnsTheQuotaFromA503(t *testing.T) {
	_, kv := bucket(t)
	g := join(t, kv, "p", 0)
	if s := budget(t, kv); s.Quota != quota.DefaultQuota || s.Origin != quota.OriginAssumed {
		t.Fatalf("before any 503: %+v", s)
	}
	if err := g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.LearnQuota(4)
	g.Release(true)
	testenv.Eventually(t, 2*time.Second, "quota 4 learnt", func() bool {
		s := budget(t, kv)
		return s.Quota == 4 && s.Size == 4 && s.Origin == quota.OriginLearnt
	})

}

func TestSharedShrinksWhenAnotherToolUsesTheUser(t *testing.T) {
	_, kv := bucket(t)
	g := join(t, kv, "p", 5)
	if err := g.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Rejections closer to the last change than a rotation count as the
	// same burst.
	time.Sleep(150 * time.Millisecond)
	// Refused although alharvest holds 1 of 5: somebody else is calling.
	g.LearnQuota(5)
	g.Release(true)
	testenv.Eventually(t, 2*time.Second, "size shrunk to 4", func() bool {
		s := budget(t, kv)
		return s.Quota == 5 && s.Size == 4
	})

}

func TestSharedFallsBackToALocalShareWithoutNATS(t *testing.T) {
	s := natstest.Start(t)
	nc, js := natstest.Connect(t, s.URL)
	natstest.Provision(t, js)
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	a := join(t, kv, "a", 10)
	b := join(t, kv, "b", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 10 {
		if err := a.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		a.Release(false)
	}
	_ = b
	nc.Close() // NATS is away for both: their writes fail
	testenv.Eventually(t, 3*time.Second, "a falls back to half of 10", func() bool { return a.Allowed() == 5 })
}

// TestSharedSlotsOfAKilledProcessReturnWithinTheLease runs a holder as a
// child process, kills it with SIGKILL while it holds every slot, and
// waits for this process to get them.
func TestSharedSlotsOfAKilledProcessReturnWithinTheLease(t *testing.T) {
	if os.Getenv("QUOTA_HOLDER_URL") != "" {
		t.Skip("child")
	}
	s := natstest.StartProcess(t)
	_, js := natstest.Connect(t, s.URL)
	natstest.Provision(t, js)
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^TestHolderProcess$", "-test.count=1")
	child.Env = append(os.Environ(), "QUOTA_HOLDER_URL="+s.URL)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "holding" {
	}
	if s := budget(t, kv); s.Held != 10 {
		t.Fatalf("child holds %d slots, want 10: %+v", s.Held, s)
	}

	me := join(t, kv, "survivor", 10)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := me.Acquire(ctx); err != nil {
				t.Errorf("after the kill: %v", err)
			}
		})
	}
	wg.Wait()
	// The lease is 1 s from the victim's last renewal, which came before
	// the kill; the survivor notices within one tick (20 ms) and a write.
	if d := time.Since(killed); d > 1250*time.Millisecond {
		t.Errorf("slots came back after %s, lease TTL 1s", d)
	}
	if s := budget(t, kv); s.Held != 10 || len(s.Holders) != 1 || s.Holders[0].Name != "survivor" {
		t.Errorf("after the kill: %+v", s)
	}
}

// TestHolderProcess is the child of the kill test: it takes every slot and
// keeps them until killed.
func TestHolderProcess(t *testing.T) {
	url := os.Getenv("QUOTA_HOLDER_URL")
	if url == "" {
		t.Skip("only runs as the child of TestSharedSlotsOfAKilledProcessReturnWithinTheLease")
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), messages.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	g := quota.NewShared(quota.SharedConfig{Server: testServer, User: testUser, Name: "victim", Quota: 10, TTL: time.Second, Rotate: 100 * time.Millisecond})
	if err := g.Start(context.Background(), kv); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := g.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("holding")
	select {}
}

// BenchmarkSharedAcquireRelease is the cost the shared budget adds to one
// Assemblyline call on loopback, with an embedded NATS: one process within
// its lease, then four processes sharing a budget of 10 calling in
// parallel. Moving slots between processes costs a KV write each and shows
// in albench's replicas workload, not here.
func BenchmarkSharedAcquireRelease(b *testing.B) {
	b.Run("one-process", func(b *testing.B) {
		_, kv := bucket(b)
		g := join(b, kv, "p", 10)
		ctx := context.Background()
		b.ResetTimer()
		for b.Loop() {
			if err := g.Acquire(ctx); err != nil {
				b.Fatal(err)
			}
			g.Release(false)
		}
	})
	b.Run("four-processes-in-parallel", func(b *testing.B) {
		_, kv := bucket(b)
		gates := make([]*quota.Shared, 4)
		for i := range gates {
			gates[i] = join(b, kv, fmt.Sprintf("p%d", i), 10)
		}
		ctx := context.Background()
		var next atomic.Int32
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			g := gates[int(next.Add(1))%len(gates)]
			for pb.Next() {
				if err := g.Acquire(ctx); err != nil {
					b.Error(err)
					return
				}
				g.Release(false)
			}
		})
	})
}

// A process whose demand falls below what it holds hands the rest over at
// once to a process waiting for a slot, rather than after the quiet spell
// (Rotate/10, here six minutes) that keeps other processes from seeing
// every flicker of its demand.
func TestSharedUnusedSlotGoesToAWaiterAtOnce(t *testing.T) {
	_, kv := bucket(t)
	start := func(name string) *quota.Shared {
		g := quota.NewShared(quota.SharedConfig{Server: testServer, User: testUser, Name: name, Quota: 1,
			TTL: time.Hour, Rotate: time.Hour})
		if err := g.Start(context.Background(), kv); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		return g
	}
	a, b := start("a"), start("b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Acquire(ctx) }()
	testenv.Eventually(t, 5*time.Second, "b waits for a slot", func() bool {
		for _, h := range budget(t, kv).Holders {
			if h.Name == "b" && h.Want == 1 {
				return true
			}
		}
		return false
	})

	a.Release(false)
	if err := <-got; err != nil {
		t.Fatalf("b never got the slot a stopped using: %v", err)
	}
	if n := a.Allowed(); n != 0 {
		t.Errorf("a may still run %d calls on the one slot b holds", n)
	}
	b.Release(false)
}
