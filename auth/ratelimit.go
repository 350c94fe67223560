package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is the per-client rate limit of the APIs (MARQUEE_API_RATE_LIMIT):
// a token bucket per caller key (Caller.Key), refilled at the rate and as
// deep as one second of it. Buckets idle for longer than it takes them to
// refill are forgotten, so memory follows the active clients, not every
// address ever seen. A nil *Limiter allows everything.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	limiter *rate.Limiter
	seen    time.Time
}

// NewLimiter limits each client to perSecond requests per second; 0 or less
// turns the limit off (it returns nil).
func NewLimiter(perSecond float64) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{
		limit:   rate.Limit(perSecond),
		burst:   max(1, int(math.Ceil(perSecond))),
		now:     time.Now,
		buckets: make(map[string]*bucket),
	}
}

// sweepEvery is how often Allow looks for idle buckets.
const sweepEvery = time.Minute

// Allow takes one request of key's budget. When the budget is spent it
// returns false and how long until the next request would be allowed.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// sweep forgets buckets that have been idle long enough to be full again:
// a new bucket would behave the same.
func (l *Limiter) sweep(now time.Time) {
	idle := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for key, b := range l.buckets {
		if now.Sub(b.seen) > idle {
			delete(l.buckets, key)
		}
	}
	l.lastSweep = now
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1, for a
// Retry-After header.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
