package imaging

import (
	"context"
	"net/url"
	"strings"
	"sync"

	"marquee/db"
)

// fetchClaimed fetches the URL of req, whose claim this compactor holds
// (rec), within the worker and per-host limits, keeping the claim through
// every attempt: what fetcher.fetch returns, or why no attempt could start
// (ctx ended or the compactor is stopping).
func (c *Compactor) fetchClaimed(ctx context.Context, req request, rec db.ImageFetch) (download, int, error) {
	release, err := c.acquire(ctx, hostOf(req.url))
	if err != nil {
		return download{}, 0, err
	}
	c.stats.inFlight.Add(1)
	got, attempts, err := c.fetcher.fetch(ctx, c.stop, req.url, c.keepClaim(req.urlHash, rec).beforeAttempt)
	// The limits bound HTTP fetches: storing the bytes durably (fsync) and
	// recording them runs outside, so the disk never idles the network.
	c.stats.inFlight.Add(-1)
	release()
	return got, attempts, err
}

// acquire waits for a slot of host and then a worker slot, unless ctx ends
// or the compactor stops first. Host first, so that no worker slot is held
// while waiting for a busy host.
func (c *Compactor) acquire(ctx context.Context, host string) (release func(), err error) {
	slots := c.hosts.get(host)
	select {
	case slots.sem <- struct{}{}:
	case <-ctx.Done():
		c.hosts.put(host)
		return nil, ctx.Err()
	case <-c.stop:
		c.hosts.put(host)
		return nil, errStopped
	}
	select {
	case c.workers <- struct{}{}:
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.stop:
		err = errStopped
	}
	if err != nil {
		<-slots.sem
		c.hosts.put(host)
		return nil, err
	}
	return func() {
		<-c.workers
		<-slots.sem
		c.hosts.put(host)
	}, nil
}

// hostOf is the per-host limit's key of rawURL: its host and port.
func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// hostLimiter holds a semaphore per host while fetches of that host wait or
// run, and forgets it after, so a feed of many hosts costs no memory later.
type hostLimiter struct {
	mu      sync.Mutex
	perHost int
	hosts   map[string]*hostSlots
}

type hostSlots struct {
	sem   chan struct{}
	users int
}

func (l *hostLimiter) get(host string) *hostSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.hosts[host]
	if s == nil {
		s = &hostSlots{sem: make(chan struct{}, l.perHost)}
		l.hosts[host] = s
	}
	s.users++
	return s
}

func (l *hostLimiter) put(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.hosts[host]; s != nil {
		if s.users--; s.users == 0 {
			delete(l.hosts, host)
		}
	}
}

// fetchQueue counts the claimed fetches on their way to the store: waiting
// for their slots, fetching, or waiting to store their bytes. It tells
// whoever waits for it to shrink when it does. Safe for concurrent use.
type fetchQueue struct {
	mu      sync.Mutex
	waiting int
	// shrunk is closed, and replaced, when a fetch stops waiting.
	shrunk chan struct{}
}

func newFetchQueue() *fetchQueue { return &fetchQueue{shrunk: make(chan struct{})} }

func (q *fetchQueue) enter() {
	q.mu.Lock()
	q.waiting++
	q.mu.Unlock()
}

// join enters the queue and returns how to leave it, which does so once
// however often it is called.
func (q *fetchQueue) join() (leave func()) {
	q.enter()
	left := false
	return func() {
		if !left {
			left = true
			q.leave()
		}
	}
}

func (q *fetchQueue) leave() {
	q.mu.Lock()
	q.waiting--
	close(q.shrunk)
	q.shrunk = make(chan struct{})
	q.mu.Unlock()
}

// waitBelow returns once fewer than n fetches wait, or when ctx ends.
func (q *fetchQueue) waitBelow(ctx context.Context, n int) {
	for {
		q.mu.Lock()
		waiting, shrunk := q.waiting, q.shrunk
		q.mu.Unlock()
		if waiting < n {
			return
		}
		select {
		case <-shrunk:
		case <-ctx.Done():
			return
		}
	}
}
