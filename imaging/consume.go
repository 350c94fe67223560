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
// Then no new fetch or retry starts, claims not yet fetched are given up at
// once, fetches in flight may finish within the consumer's ShutdownGrace,
// and an unfinished batch stays uncommitted, to be handled again by the next
// member. Requests that can never be handled go to the dead-letter topic
// through the Publisher. Run returns an error only when it could not consume
// at all.
func (c *Compactor) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("imaging: Run called twice")
	}
	defer c.fetcher.close()
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{
		Cluster:        c.cfg.Kafka,
		GroupID:        c.cfg.GroupID,
		Topic:          bus.TopicImageRequests,
		MaxBatch:       c.cfg.MaxBatch,
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
	heartbeatDone := make(chan struct{})
	heartbeatCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(heartbeatDone)
		c.heartbeat(heartbeatCtx)
	}()
	err = consumer.Run(ctx, c.Handle)
	// The claims are kept alive until the consumer's last batch is done.
	stopHeartbeat()
	<-heartbeatDone
	if err != nil {
		return fmt.Errorf("imaging: %w", err)
	}
	return nil
}

// Handle settles one batch of marquee.image-requests: every URL hash in it
// ends cached or failed, from the record or by fetching it, and the outcomes
// are published on marquee.images before Handle returns nil (so the
// consumer commits only then). Requests that can never be handled are
// returned as dead letters. An error means the batch must be handled again:
// the database or the file store failed, or the compactor is stopping;
// whatever was settled is recorded and costs no HTTP request next time.
func (c *Compactor) Handle(ctx context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
	requests, dead := c.decodeBatch(msgs)
	if len(requests) == 0 {
		return dead, nil
	}
	c.stats.requests.Add(int64(len(requests)))
	before := c.stats.snapshot()
	records, err := c.claim(ctx, requests...)
	if err != nil {
		return nil, fmt.Errorf("imaging: claim images: %w", err)
	}
	outcomes, err := c.settleBatch(ctx, requests, records)
	if err != nil {
		return nil, err
	}
	if err := c.publishOutcomes(ctx, outcomes); err != nil {
		return nil, err
	}
	c.logBatch(outcomes, before)
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

// settleBatch settles every request of a batch at once, each starting from
// its record, with one recorder for their outcomes. It returns the outcomes
// in the order of requests, or, once every request has returned, an error
// when any could not be settled.
func (c *Compactor) settleBatch(ctx context.Context, requests []request, records map[string]db.ImageFetch) ([]db.ImageState, error) {
	recorder := c.startRecorder(ctx)
	outcomes := make([]db.ImageState, len(requests))
	errs := make([]error, len(requests))
	var wg sync.WaitGroup
	for i, req := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i], errs[i] = c.settle(ctx, recorder, req, records[req.urlHash])
		}()
	}
	wg.Wait()
	recorder.stop()
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
	return outcomes, nil
}

// failureExamples is how many failed URLs a batch's log line names.
const failureExamples = 3

// logBatch logs what this compactor fetched for one batch, in one line: a
// feed whose thousands of images fail must not flood the log, and each
// failure is in its record, on marquee.images and in the metrics anyway.
func (c *Compactor) logBatch(outcomes []db.ImageState, before Stats) {
	after := c.stats.snapshot()
	cached, failed := after.Cached-before.Cached, after.Failed-before.Failed
	if cached == 0 && failed == 0 {
		return
	}
	attrs := []any{"requests", len(outcomes), "cached", cached, "failed", failed,
		"cache_hits", after.CacheHits - before.CacheHits, "http_requests", after.Attempts - before.Attempts}
	if failed == 0 {
		c.log.Info("imaging: batch settled", attrs...)
		return
	}
	reasons := map[string]int64{}
	for reason, n := range after.Failures {
		if d := n - before.Failures[reason]; d > 0 {
			reasons[reason] = d
		}
	}
	var examples []string
	for _, o := range outcomes {
		if o.Status == db.ImageFailed && o.Error != nil && len(examples) < failureExamples {
			examples = append(examples, o.URL+": "+*o.Error)
		}
	}
	c.log.Warn("imaging: batch settled with failures", append(attrs, "failures", reasons, "examples", examples)...)
}
