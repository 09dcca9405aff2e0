package quota

// queue admits calls up to a limit and keeps the callers waiting for a slot
// in arrival order. Both gates (Limiter and Shared) admit through one; each
// owns the limit and the mutex, and calls these methods with it held.
type queue struct {
	inflight int
	waiters  []chan struct{}
}

// admit takes a slot at once if one is free and nobody waits before us.
func (q *queue) admit(limit int) bool {
	if q.inflight < limit && len(q.waiters) == 0 {
		q.inflight++
		return true
	}
	return false
}

// enqueue adds a waiter; its channel closes when wake gives it a slot.
func (q *queue) enqueue() chan struct{} {
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	return ch
}

// abandon withdraws a waiter whose caller gave up. A slot granted to it in
// the meantime is passed on to the next waiter.
func (q *queue) abandon(ch chan struct{}, limit int) {
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return
		}
	}
	q.inflight--
	q.wake(limit)
}

// release ends a call; the caller then wakes waiters with its limit.
func (q *queue) release() { q.inflight-- }

// wake hands free slots to waiters in arrival order.
func (q *queue) wake(limit int) {
	for len(q.waiters) > 0 && q.inflight < limit {
		ch := q.waiters[0]
		q.waiters = q.waiters[1:]
		q.inflight++
		close(ch)
	}
}

// demand is the calls under way plus those waiting.
func (q *queue) demand() int { return q.inflight + len(q.waiters) }
