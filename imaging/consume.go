package imaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"marquee/bus"
	"marquee/db"
)

// GroupID is the consumer group of the compactors on marquee.image-requests.
// Requests are keyed by URL hash, so all requests for one hash are in one
// partition and meet one compactor at a time (save during a rebalance, which
// the claims cover).
const GroupID = "marquee-imaging"

// Run consumes marquee.image-requests in the consumer group until ctx ends.
// Requests are settled as they arrive, without waiting for each other: a slow
// host or a fetch in back-off holds only its own request, and the offsets are
// committed in order as each partition's settled prefix grows. When ctx
// ends, no new fetch or retry starts, claims not yet fetched are given up at
// once, fetches in flight may finish within the consumer's ShutdownGrace,
// and every request from the first unsettled one of a partition on stays
// uncommitted, to be handled again by the next member. Requests that can
// never be handled go to the dead-letter topic through the Publisher. Run
// returns an error only when it could not consume at all.
func (c *Compactor) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("imaging: Run called twice")
	}
	defer c.fetcher.close()
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{
		Cluster:        c.cfg.Kafka,
		GroupID:        c.cfg.GroupID,
		Topic:          bus.TopicImageRequests,
		MaxInFlight:    c.cfg.MaxInFlight,
		FetchWait:      c.cfg.FetchWait,
		SessionTimeout: c.cfg.SessionTimeout,
		ShutdownGrace:  c.cfg.ShutdownGrace,
		DeadLetters:    c.cfg.Publisher,
		Logger:         c.log,
	})
	if err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	c.stop = ctx.Done()
	// The claims are kept alive, and recorded, until the consumer's last
	// request is done.
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	workers.Add(1)
	go func() {
		defer workers.Done()
		c.heartbeat(background)
	}()
	settling := c.startFlow(background)
	workers.Add(1)
	go func() {
		defer workers.Done()
		settling.logSettled(background, progressInterval)
	}()
	err = consumer.RunFlow(ctx, settling.handle)
	settling.stop()
	stopBackground()
	workers.Wait()
	if err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	return nil
}

// progressInterval is how often Run logs what it settled.
const progressInterval = 10 * time.Second

// Handle settles one batch of marquee.image-requests, the requests of it at
// once: every URL hash in it ends cached or failed, from the record or by
// fetching it, and the outcomes are published on marquee.images before
// Handle returns nil. Requests that can never be handled are returned as
// dead letters. An error means the batch must be handled again: the
// database or the file store failed, or the compactor is stopping; whatever
// was settled is recorded and costs no HTTP request next time.
func (c *Compactor) Handle(ctx context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
	requests, dead := c.decodeBatch(msgs)
	if len(requests) == 0 {
		return dead, nil
	}
	before := c.stats.snapshot()
	c.stats.requests.Add(int64(len(msgs) - len(dead)))
	settling := c.startFlow(ctx)
	defer settling.stop()
	errs := make([]error, len(requests))
	var wg sync.WaitGroup
	for i, req := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = settling.settle(ctx, req)
		}()
	}
	wg.Wait()
	c.logProgress(before, settling.takeFailures())
	unsettled, firstErr := 0, error(nil)
	for _, err := range errs {
		if err != nil {
			unsettled++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return nil, fmt.Errorf("imaging: %d of %d images unsettled: %w", unsettled, len(requests), firstErr)
	}
	return dead, nil
}

// request is one decoded image request.
type request struct {
	urlHash     string
	url         string
	requestedAt time.Time
}

// decodeBatch returns one request per URL hash of msgs, in the order of each
// hash's first message, the latest requested of its messages; the messages
// that can never be handled come back as dead letters.
func (c *Compactor) decodeBatch(msgs []bus.Message) (requests []request, dead []bus.DeadLetter) {
	index := make(map[string]int, len(msgs))
	for _, m := range msgs {
		req, err := decodeRequest(m)
		if err != nil {
			c.log.Warn("imaging: dead-lettering an image request", "partition", m.Partition, "offset", m.Offset, "key", m.Key, "err", err)
			dead = append(dead, bus.DeadLetter{Message: m, Err: err})
			continue
		}
		i, seen := index[req.urlHash]
		switch {
		case !seen:
			index[req.urlHash] = len(requests)
			requests = append(requests, req)
		case req.requestedAt.After(requests[i].requestedAt):
			requests[i] = req
		}
	}
	return requests, dead
}

// errUndecodable marks a request that can never be handled: dead-lettered.
var errUndecodable = errors.New("undecodable image request")

// decodeRequest checks one message of marquee.image-requests.
func decodeRequest(m bus.Message) (request, error) {
	if m.Value == nil {
		return request{}, fmt.Errorf("%w: a tombstone (requests are never deleted)", errUndecodable)
	}
	var r bus.ImageRequest
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return request{}, fmt.Errorf("%w: %v", errUndecodable, err)
	}
	switch {
	case r.URLHash != m.Key:
		return request{}, fmt.Errorf("%w: url_hash %q does not match the key %q", errUndecodable, r.URLHash, m.Key)
	case !db.IsSHA256Hex(r.URLHash):
		return request{}, fmt.Errorf("%w: url_hash %q is not 64 lowercase hex digits", errUndecodable, r.URLHash)
	case r.URL == "" || len(r.URL) > 2048 || !utf8.ValidString(r.URL) || strings.IndexByte(r.URL, 0) >= 0:
		// What the store would refuse must never reach it: the batch would
		// be retried for ever.
		return request{}, fmt.Errorf("%w: url must be 1 to 2048 bytes of UTF-8 without NUL", errUndecodable)
	case db.URLHash(r.URL) != r.URLHash:
		// Stored under a hash that is not its URL's, an image would show up
		// for the wrong thumbnails.
		return request{}, fmt.Errorf("%w: url_hash is not the hash of url %q", errUndecodable, r.URL)
	}
	if r.RequestedAt.IsZero() {
		r.RequestedAt = m.Time
	}
	return request{urlHash: r.URLHash, url: r.URL, requestedAt: r.RequestedAt.UTC()}, nil
}

// failureExamples is how many failed URLs a batch's log line names.
const failureExamples = 3

// logProgress logs what this compactor settled since before, in one line,
// with examples of the failures, and returns the stats it counted up to.
func (c *Compactor) logProgress(before Stats, failures []string) Stats {
	after := c.stats.snapshot()
	cached, failed := after.Cached-before.Cached, after.Failed-before.Failed
	if cached == 0 && failed == 0 {
		return after
	}
	attrs := []any{"requests", after.Requests - before.Requests, "cached", cached, "failed", failed,
		"cache_hits", after.CacheHits - before.CacheHits, "http_requests", after.Attempts - before.Attempts}
	if failed == 0 {
		c.log.Info("imaging: images settled", attrs...)
		return after
	}
	reasons := map[string]int64{}
	for reason, n := range after.Failures {
		if d := n - before.Failures[reason]; d > 0 {
			reasons[reason] = d
		}
	}
	c.log.Warn("imaging: images settled with failures", append(attrs, "failures", reasons, "examples", failures)...)
	return after
}
