package quota_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/quota"
	"github.com/alharvest/alharvest/internal/testenv"
)

func TestNeverMoreThanLimitInFlight(t *testing.T) {
	l := quota.New(quota.Config{Max: 4, Initial: 4})
	var cur, peak atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := l.Acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(50 * time.Microsecond)
				cur.Add(-1)
				l.Release(false)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 4 || p < 2 {
		t.Errorf("peak concurrency %d, want between 2 and 4", p)
	}
	if l.InFlight() != 0 {
		t.Errorf("in flight %d after all released", l.InFlight())
	}
}

// clock is a manual clock for the limiter.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) advance(d time.Duration) { c.now = c.now.Add(d) }

// saturate takes every slot the limit allows.
func saturate(t *testing.T, l *quota.Limiter) {
	t.Helper()
	for l.InFlight() < l.Limit() {
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGrowsWhileThereIsDemandAndProbesFasterWithoutRejections(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	l := quota.New(quota.Config{Max: 10, Initial: 2, MinProbe: 20 * time.Millisecond, MaxProbe: time.Second, Now: c.Now})
	if l.Limit() != 2 {
		t.Fatalf("initial limit %d", l.Limit())
	}
	// Demand: a waiter behind a full limit makes it grow by one per probe.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	saturate(t, l)
	go func() { _ = l.Acquire(ctx) }()
	waitWaiting(t, l)
	if l.Limit() != 3 {
		t.Fatalf("limit %d after the first probe, want 3", l.Limit())
	}
	// Without demand nothing grows, however much time passes.
	c.advance(time.Hour)
	for l.InFlight() > 0 {
		l.Release(false)
	}
	if l.Limit() != 3 {
		t.Fatalf("limit grew to %d without demand", l.Limit())
	}
}

func TestRejectionShrinksAndSlowsProbing(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	var limits []int
	l := quota.New(quota.Config{Max: 10, Initial: 10, Cooldown: 100 * time.Millisecond, MaxProbe: time.Second,
		Now: c.Now, OnLimit: func(n int) { limits = append(limits, n) }})
	call := func(rejected bool) {
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.Release(rejected)
	}
	call(true)
	if got := l.Limit(); got != 7 {
		t.Fatalf("after a rejection limit = %d, want 7", got)
	}
	// A burst of rejections answers one overshoot: one decrease.
	call(true)
	call(true)
	if got := l.Limit(); got != 7 {
		t.Fatalf("rejections within the cooldown shrank the limit to %d", got)
	}
	c.advance(time.Second)
	call(true)
	if got := l.Limit(); got != 4 {
		t.Fatalf("second decrease gave %d, want 4", got)
	}
	for range 20 {
		c.advance(time.Second)
		call(true)
	}
	if got := l.Limit(); got != 1 {
		t.Fatalf("limit %d, want the floor 1", got)
	}
	if len(limits) == 0 || limits[0] != 10 {
		t.Errorf("OnLimit reports %v", limits)
	}
}

func TestAcquireHonoursContext(t *testing.T) {
	l := quota.New(quota.Config{Max: 1})
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Acquire(ctx); err == nil {
		t.Fatal("Acquire succeeded beyond the limit")
	}
	l.Release(false)
	// The abandoned waiter must not hold the slot.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := l.Acquire(ctx2); err != nil {
		t.Fatalf("slot lost to a cancelled waiter: %v", err)
	}
}

func TestWaitersAreServedInOrder(t *testing.T) {
	l := quota.New(quota.Config{Max: 1})
	_ = l.Acquire(context.Background())
	order := make(chan int, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Acquire(context.Background())
			order <- i
			l.Release(false)
		}()
		time.Sleep(20 * time.Millisecond) // queue them in order
	}
	l.Release(false)
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d served before %d", got, want)
		}
		want++
	}
}

// TestSharedQuotaSimulation runs several limiters against one simulated
// quota, the situation of several alharvest processes sharing an
// Assemblyline user: they must use nearly all of it with few rejections.
func TestSharedQuotaSimulation(t *testing.T) {
	const (
		quotaSize = 10
		procs     = 4
		workers   = 16
		callTime  = 2 * time.Millisecond
		duration  = 2 * time.Second
	)
	var inflight, rejected, served, busy atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for range procs {
		// Calls here last 2 ms, not the 20-500 ms of real ones: the
		// limiter's clock scales down with them (÷10), so the 2 s run spans
		// ten probe periods, not one, and measures the steady state rather
		// than where the first rejection left the limits; and a scheduler
		// stall on a loaded machine lasts a few cooldowns, not a fraction
		// of one.
		l := quota.New(quota.Config{Max: quotaSize, MinProbe: 2 * time.Millisecond, MaxProbe: 200 * time.Millisecond, Cooldown: 10 * time.Millisecond})
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if l.Acquire(ctx) != nil {
						return
					}
					if inflight.Add(1) > quotaSize {
						inflight.Add(-1)
						rejected.Add(1)
						l.Release(true)
						time.Sleep(callTime) // the client's retry pause
						continue
					}
					start := time.Now()
					time.Sleep(callTime)
					busy.Add(int64(time.Since(start)))
					inflight.Add(-1)
					served.Add(1)
					l.Release(false)
				}
			}()
		}
	}
	wg.Wait()
	rate := float64(rejected.Load()) / float64(rejected.Load()+served.Load())
	util := float64(busy.Load()) / float64(quotaSize*duration)
	t.Logf("%d served, %d rejected (%.2f%%), quota utilisation %.2f", served.Load(), rejected.Load(), 100*rate, util)
	if rate > 0.03 {
		t.Errorf("rejection rate %.2f%% too high", 100*rate)
	}
	// Typically 0.90-0.96; the margin absorbs scheduler delays on a loaded
	// 2-core CI machine, where the gaps between sleeps count as idle quota.
	if util < 0.75 {
		t.Errorf("quota utilisation %.2f too low", util)
	}
}

// waitWaiting waits until a queued Acquire has made the limit grow.
func waitWaiting(t *testing.T, l *quota.Limiter) {
	t.Helper()
	testenv.Eventually(t, 2*time.Second, "a queued Acquire to grow the limit", func() bool {
		return l.Limit() != l.InFlight() || l.Limit() >= 3
	})
}
