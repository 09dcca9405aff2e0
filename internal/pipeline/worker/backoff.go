package worker

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// jitter is the randomization factor of every schedule: ±20 %, so that
// replicas that failed together do not retry together.
const jitter = 0.2

// Backoff returns a schedule: the delay before retry n (n ≥ 1), doubling
// from initial up to limit, with ±20 % jitter.
//
// The schedule is a function of n rather than a stateful backoff.BackOff
// because the worker keeps no state per message: the attempt number comes
// back with each redelivery, possibly to another replica. So the nominal
// interval for n is computed directly, and backoff/v4's ExponentialBackOff,
// started at that interval, draws the jittered delay from it — one step,
// whatever n is. Jitter never takes a delay above 1.2 × limit.
func Backoff(initial, limit time.Duration) func(n int) time.Duration {
	initial = max(initial, time.Millisecond)
	limit = max(limit, initial)
	return func(n int) time.Duration {
		return backoff.NewExponentialBackOff(
			backoff.WithInitialInterval(nominal(initial, limit, n)),
			backoff.WithMaxInterval(limit),
			backoff.WithRandomizationFactor(jitter),
			backoff.WithMaxElapsedTime(0), // never Stop
		).NextBackOff()
	}
}

// nominal is initial doubled n-1 times, capped at limit.
func nominal(initial, limit time.Duration, n int) time.Duration {
	d := initial
	for i := 1; i < n && d < limit; i++ {
		if d > limit/2 {
			return limit // and 2*d cannot overflow
		}
		d *= 2
	}
	return d
}

// newExponential returns the stateful schedule of a loop that retries in
// place (intake re-subscribing): the same doubling and jitter as Backoff,
// never giving up.
func newExponential(initial, limit time.Duration) *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(initial),
		backoff.WithMaxInterval(limit),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(jitter),
		backoff.WithMaxElapsedTime(0),
	)
}
