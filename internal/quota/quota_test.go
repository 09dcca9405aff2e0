package quota_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alharvest/alharvest/internal/quota"
)

func TestNeverMoreThanLimitInFlight(t *testing.T) {
	l := quota.New(quota.Config{Max: 4})
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

func TestAIMD(t *testing.T) {
	now := time.Unix(0, 0)
	var limits []int
	l := quota.New(quota.Config{Max: 10, Now: func() time.Time { return now }, OnLimit: func(n int) { limits = append(limits, n) }})
	ctx := context.Background()
	call := func(rejected bool) {
		if err := l.Acquire(ctx); err != nil {
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
	now = now.Add(time.Second)
	call(true)
	if got := l.Limit(); got != 4 {
		t.Fatalf("second decrease gave %d, want 4", got)
	}
	// Additive increase: about one per limit's worth of successes.
	for range 5 {
		call(false)
	}
	if got := l.Limit(); got != 5 {
		t.Fatalf("after 5 successes at limit 4.9 limit = %d, want 5", got)
	}
	for range 200 {
		call(false)
	}
	if got := l.Limit(); got != 10 {
		t.Fatalf("limit %d, want back at the max 10", got)
	}
	for range 20 {
		now = now.Add(time.Second)
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
