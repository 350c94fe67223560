package rest

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"marquee/db"
	"marquee/internal/responsecache"
)

// totalCache keeps the totals of list filters for a short time, so that a
// page costs no COUNT over the whole table when many clients list the same
// way: the count costs more than the rest of the page (README, "Speed
// layer"). Concurrent requests for the same filter share one count. The
// API's own writes clear it; writes by other processes (the feed loader,
// other API replicas) show in totals after at most the TTL, or at once
// behind the response cache, whose data version is part of the key.
type totalCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*totalEntry
}

type totalEntry struct {
	ready   chan struct{} // closed once total and err are set
	total   int64
	err     error
	expires time.Time
}

// maxTotalEntries bounds the filters remembered; past it the cache starts over.
const maxTotalEntries = 1024

func newTotalCache(ttl time.Duration) *totalCache {
	return &totalCache{ttl: ttl, now: time.Now, entries: make(map[string]*totalEntry)}
}

// get returns the total of f, counting it with count when no fresh one is
// cached.
func (tc *totalCache) get(ctx context.Context, f db.Filter, count func(context.Context, db.Filter) (int64, error)) (int64, error) {
	if tc == nil || tc.ttl <= 0 {
		return count(ctx, f)
	}
	raw, err := json.Marshal(f)
	if err != nil {
		return count(ctx, f)
	}
	key := string(raw)
	if version, ok := responsecache.VersionFrom(ctx); ok {
		// The answer will be kept as made at this version.
		key = strconv.FormatInt(version, 10) + " " + key
	}
	now := tc.now()
	tc.mu.Lock()
	e := tc.entries[key]
	if e != nil {
		select {
		case <-e.ready:
			if e.err != nil || now.After(e.expires) {
				e = nil // failed or expired: count again
			}
		default: // being counted: wait for it below
		}
	}
	if e == nil {
		if len(tc.entries) >= maxTotalEntries {
			tc.entries = make(map[string]*totalEntry)
		}
		e = &totalEntry{ready: make(chan struct{})}
		tc.entries[key] = e
		tc.mu.Unlock()
		// The count runs for every waiter: a client that gives up does not
		// cancel it for the others; a stalled database does, after a while.
		countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), countTimeout)
		e.total, e.err = count(countCtx, f)
		cancel()
		e.expires = tc.now().Add(tc.ttl)
		close(e.ready)
		return e.total, e.err
	}
	tc.mu.Unlock()
	select {
	case <-e.ready:
		return e.total, e.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// countTimeout bounds a shared count, which no single request may cancel.
const countTimeout = 15 * time.Second

// clear forgets every total (after a write through this API).
func (tc *totalCache) clear() {
	if tc == nil {
		return
	}
	tc.mu.Lock()
	tc.entries = make(map[string]*totalEntry)
	tc.mu.Unlock()
}
