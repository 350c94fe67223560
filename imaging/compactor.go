// Package imaging is Marquee's image compactor: it consumes
// marquee.image-requests, fetches each thumbnail URL once, validates the
// bytes, stores them content-addressed on disk, and publishes every outcome
// (cached or failed) on marquee.images.
//
// "Once" is a guarantee, not a cache policy. Before the first HTTP request for
// a URL hash the compactor claims the hash durably in the database
// (db.Store.ClaimImageFetches), atomically across every compactor process, and
// records the outcome there before publishing it. A request for a hash that is
// cached, failed within the cool-down, or being fetched by another compactor
// costs no HTTP request, whether it is a duplicate message, a feed re-run, a
// redelivery after a restart or a rebalance. Only a fetch cut off by a crash
// between the bytes and their record is repeated, by whoever takes over the
// claim once its lease ends.
//
// The URLs are third-party input: connections go only to public internet
// addresses and the networks allowed, never to a link-local or cloud metadata
// address unless allowed by name (checked at dial time, for redirects too), bodies are capped while
// read, the type comes from the bytes, and dimensions from the header alone.
package imaging

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// Store is what the compactor needs of db.Store: its durable record of every
// URL hash, with atomic claims.
type Store interface {
	ClaimImageFetches(ctx context.Context, owner string, now, leaseUntil time.Time, claims []db.ImageClaim) (map[string]db.ImageFetch, error)
	ExtendImageClaim(ctx context.Context, urlHash, owner string, leaseUntil time.Time) error
	ExtendImageClaims(ctx context.Context, owner string, leaseUntil time.Time) (int64, error)
	FinishImageFetches(ctx context.Context, owner string, outcomes []db.ImageState) (lost []string, err error)
}

// Publisher publishes outcomes on marquee.images (a *bus.Writer).
type Publisher interface {
	Publish(ctx context.Context, topic string, msgs ...bus.Message) error
}

// Config configures a Compactor. Zero values take the defaults named on each
// field; Store, Publisher and Files are required, Brokers for Run.
type Config struct {
	Store     Store
	Publisher Publisher
	// Files keeps the image bytes (DATA_DIR/images).
	Files *FileStore
	// Brokers are the Kafka bootstrap brokers Run consumes from.
	Brokers []string
	// GroupID is the consumer group. Default GroupID.
	GroupID string
	// Logger receives failures, retries and lost claims. Default slog.Default().
	Logger *slog.Logger

	// UserAgent is sent with every request. Default "Marquee/dev"; the
	// binary passes "Marquee/<version>".
	UserAgent string
	// Workers bounds the fetches in flight (MARQUEE_IMAGES_WORKERS). Default
	// 16: at a CDN's 20-50 ms per image that is 300-800 images/s, more than a
	// daily feed of 15,000 images needs, while staying a polite client.
	Workers int
	// PerHost bounds the fetches in flight to one host
	// (MARQUEE_IMAGES_PER_HOST). Default 16: the real feed has one image host.
	PerHost int
	// MaxBytes caps an image body, enforced while reading
	// (MARQUEE_IMAGES_MAX_BYTES). Default 10 MiB: real thumbnails are 10-60 KiB.
	MaxBytes int64
	// MaxPixels caps width x height, read from the header
	// (MARQUEE_IMAGES_MAX_PIXELS). Default 50,000,000: any real photo, but
	// not a decompression bomb that claims 100,000 x 100,000.
	MaxPixels int64
	// MaxAttempts bounds the attempts at a URL that fails in a retried
	// class (DESIGN.md "Images"). Default 5.
	MaxAttempts int
	// AttemptTimeout bounds one attempt from request to last body byte.
	// Default 30s (DESIGN.md).
	AttemptTimeout time.Duration
	// BackoffBase and BackoffMax shape the full-jitter exponential back-off
	// between attempts: up to BackoffBase, 2*BackoffBase, ..., BackoffMax.
	// Defaults 1s and 60s (DESIGN.md); a Retry-After beyond BackoffMax ends
	// the fetch as failed rather than holding a worker.
	BackoffBase, BackoffMax time.Duration
	// MaxRedirects bounds the redirects followed per attempt. Default 5:
	// what browsers' CDN set-ups need, with room.
	MaxRedirects int
	// RetryCooldown is how long a failed URL waits before a request makes it
	// fetched again (MARQUEE_IMAGES_RETRY_COOLDOWN, 24h by default, as in
	// ingest). Zero, too, is a setting: a failure is fetched again for any
	// request made after it.
	RetryCooldown time.Duration
	// AllowNetworks lets fetches connect to addresses of these networks
	// although they are not public (MARQUEE_IMAGES_ALLOW_NETWORKS), for
	// local testing only. A link-local or cloud metadata address (such as
	// 169.254.169.254 or fd00:ec2::254) stays refused unless a network
	// allowed lies within its range (169.254.169.254/32, 169.254.0.0/16):
	// a wider one that merely contains it (0.0.0.0/0) does not open it.
	AllowNetworks []netip.Prefix
	// AllowPrivateNetworks adds PrivateNetworks to AllowNetworks (the
	// deprecated MARQUEE_IMAGES_ALLOW_PRIVATE_NETWORKS).
	AllowPrivateNetworks bool
	// AllowAddrs are exact addresses (IP and port) allowed although not
	// public: a test's image server and nothing else.
	AllowAddrs []netip.AddrPort
	// Resolver replaces DNS for image hosts (tests); nil uses the system's.
	Resolver Resolver
	// TLSConfig replaces the TLS client configuration (tests trusting a
	// local server's certificate); nil uses the system's roots.
	TLSConfig *tls.Config

	// ClaimLease is how long a claim lasts without being extended: another
	// compactor takes a hash over only after its lease ended, so it bounds
	// how long a crashed compactor's hashes wait. A running compactor
	// extends all its claims every third of the lease (a heartbeat), and a
	// fetch extends its own before an attempt when less than AttemptTimeout
	// plus a fifth of the lease is left. Default 1m: two missed heartbeats
	// of 20 s, more than 5/4 of the 30 s AttemptTimeout.
	ClaimLease time.Duration
	// SettlePoll is how often a hash another compactor is fetching is looked
	// at again. Default 1s.
	SettlePoll time.Duration

	// MaxBatch, FetchWait, SessionTimeout and ShutdownGrace tune the
	// consumer (see bus.ConsumerConfig); zero keeps bus's defaults.
	MaxBatch                                 int
	FetchWait, SessionTimeout, ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.GroupID == "" {
		c.GroupID = GroupID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.UserAgent == "" {
		c.UserAgent = "Marquee/dev"
	}
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.PerHost <= 0 {
		c.PerHost = 16
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 10 << 20
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = 50_000_000
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 30 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = time.Second
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 60 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	if c.MaxRedirects <= 0 {
		c.MaxRedirects = 5
	}
	if c.RetryCooldown < 0 {
		c.RetryCooldown = 0
	}
	if c.ClaimLease <= 0 {
		c.ClaimLease = time.Minute
	}
	if c.SettlePoll <= 0 {
		c.SettlePoll = time.Second
	}
}

// storeConcurrency bounds the downloads being made durable at once (fsync
// of the file and its directories, rename). Every fsync commits the file
// system's journal, and many at once slow each other and every other file
// operation down (README, "Speed layer", has BenchmarkCompactor's figures).
const storeConcurrency = 4

// Compactor fetches the images of marquee.image-requests once each. Make it
// with New; Run it once, or hand batches to Handle. Safe for concurrent use.
type Compactor struct {
	cfg     Config
	owner   string
	fetcher *fetcher
	workers chan struct{}
	storing chan struct{}
	hosts   hostLimiter
	stats   stats
	log     *slog.Logger
	now     func() time.Time
	// stop is closed when Run's context ends: no new fetch or retry starts.
	stop    <-chan struct{}
	started atomic.Bool
}

// New checks cfg and returns a Compactor. It does not connect to anything.
func New(cfg Config) (*Compactor, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("imaging: new compactor: no store")
	case cfg.Publisher == nil:
		return nil, errors.New("imaging: new compactor: no publisher")
	case cfg.Files == nil:
		return nil, errors.New("imaging: new compactor: no file store")
	}
	cfg.setDefaults()
	if cfg.AttemptTimeout+cfg.ClaimLease/5 >= cfg.ClaimLease {
		return nil, fmt.Errorf("imaging: new compactor: the claim lease %v must be more than 5/4 of the attempt timeout %v",
			cfg.ClaimLease, cfg.AttemptTimeout)
	}
	c := &Compactor{
		cfg:     cfg,
		owner:   ownerName(),
		workers: make(chan struct{}, cfg.Workers),
		storing: make(chan struct{}, storeConcurrency),
		hosts:   hostLimiter{perHost: cfg.PerHost, hosts: map[string]*hostSlots{}},
		log:     cfg.Logger,
		now:     func() time.Time { return time.Now().UTC() },
	}
	networks := cfg.AllowNetworks
	if cfg.AllowPrivateNetworks {
		networks = append(slices.Clip(networks), PrivateNetworks()...)
	}
	policy, err := newAddressPolicy(networks, cfg.AllowAddrs)
	if err != nil {
		return nil, fmt.Errorf("imaging: new compactor: %w", err)
	}
	c.fetcher = newFetcher(&c.cfg, &c.stats, policy)
	return c, nil
}

// ownerName names this compactor in its claims: host, process and a random
// part, unique per Compactor so that two in one process never share claims.
func ownerName() string {
	host, _ := os.Hostname()
	if len(host) > 64 {
		host = host[:64]
	}
	var random [6]byte
	_, _ = rand.Read(random[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(random[:]))
}

// Owner is the name under which this compactor claims URL hashes.
func (c *Compactor) Owner() string { return c.owner }

// Stats returns the counters. Safe to call concurrently with Run.
func (c *Compactor) Stats() Stats { return c.stats.snapshot() }

// Run consumes marquee.image-requests in the consumer group until ctx ends.
// Then no new fetch or retry starts, claims not yet fetched are given up at
// once, fetches in flight may finish within the consumer's ShutdownGrace,
// and an unfinished batch stays uncommitted, to be handled again by the next
// member. Run returns an error only when it could not consume at all.
func (c *Compactor) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("imaging: Run called twice")
	}
	defer c.fetcher.close()
	deadLetters, _ := c.cfg.Publisher.(*bus.Writer)
	consumer, err := bus.NewConsumer(bus.ConsumerConfig{
		Brokers:        c.cfg.Brokers,
		GroupID:        c.cfg.GroupID,
		Topic:          bus.TopicImageRequests,
		MaxBatch:       c.cfg.MaxBatch,
		FetchWait:      c.cfg.FetchWait,
		SessionTimeout: c.cfg.SessionTimeout,
		ShutdownGrace:  c.cfg.ShutdownGrace,
		DeadLetters:    deadLetters,
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

// heartbeat extends every claim this compactor holds each third of the
// lease until ctx ends, so that a claim outlives a long queue or a slow
// host while the compactor lives, and ends one lease after it died.
func (c *Compactor) heartbeat(ctx context.Context) {
	t := time.NewTicker(c.cfg.ClaimLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := c.cfg.Store.ExtendImageClaims(ctx, c.owner, c.now().Add(c.cfg.ClaimLease)); err != nil && ctx.Err() == nil {
			c.log.Warn("imaging: extending this compactor's claims failed; they end with their leases unless the next heartbeat succeeds", "err", err)
		}
	}
}

// request is one decoded image request.
type request struct {
	urlHash     string
	url         string
	requestedAt time.Time
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

// Handle settles one batch of marquee.image-requests: every URL hash in it
// ends cached or failed, from the record or by fetching it, and the outcomes
// are published on marquee.images before Handle returns nil (so the
// consumer commits only then). Requests that can never be handled are
// returned as dead letters. An error means the batch must be handled again:
// the database or the file store failed, or the compactor is stopping;
// whatever was settled is recorded and costs no HTTP request next time.
func (c *Compactor) Handle(ctx context.Context, msgs []bus.Message) ([]bus.DeadLetter, error) {
	var dead []bus.DeadLetter
	requests := make(map[string]request, len(msgs))
	var order []string
	for _, m := range msgs {
		req, err := decodeRequest(m)
		if err != nil {
			c.log.Warn("imaging: dead-lettering an image request", "partition", m.Partition, "offset", m.Offset, "key", m.Key, "err", err)
			dead = append(dead, bus.DeadLetter{Message: m, Err: err})
			continue
		}
		prev, seen := requests[req.urlHash]
		if !seen {
			order = append(order, req.urlHash)
		}
		if !seen || req.requestedAt.After(prev.requestedAt) {
			requests[req.urlHash] = req
		}
	}
	if len(order) == 0 {
		return dead, nil
	}
	c.stats.requests.Add(int64(len(order)))
	before := c.stats.snapshot()

	now := c.now()
	claims := make([]db.ImageClaim, len(order))
	for i, hash := range order {
		claims[i] = c.claimFor(requests[hash], now)
	}
	records, err := c.cfg.Store.ClaimImageFetches(ctx, c.owner, now, now.Add(c.cfg.ClaimLease), claims)
	if err != nil {
		return nil, fmt.Errorf("imaging: claim images: %w", err)
	}

	rec := c.startRecorder(ctx)
	outcomes := make([]db.ImageState, len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, hash := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i], errs[i] = c.settle(ctx, rec, requests[hash], records[hash])
		}()
	}
	wg.Wait()
	rec.stop()
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
		return nil, fmt.Errorf("imaging: %d of %d images unsettled: %w", unsettled, len(order), firstErr)
	}

	out := make([]bus.Message, len(outcomes))
	for i, outcome := range outcomes {
		value, err := json.Marshal(outcome)
		if err != nil {
			return nil, fmt.Errorf("imaging: encode outcome: %w", err)
		}
		out[i] = bus.Message{Key: outcome.URLHash, Value: value}
	}
	if err := c.cfg.Publisher.Publish(ctx, bus.TopicImages, out...); err != nil {
		return nil, fmt.Errorf("imaging: publish outcomes: %w", err)
	}
	c.logBatch(outcomes, before)
	return dead, nil
}

// claimFor is the claim of req at now: a failure is fetched again only for
// a request made after it and after the cool-down, so a redelivered request
// of the run that failed it (or an older duplicate) gets the failure.
func (c *Compactor) claimFor(req request, now time.Time) db.ImageClaim {
	retryBefore := now.Add(-c.cfg.RetryCooldown)
	if req.requestedAt.Before(retryBefore) {
		retryBefore = req.requestedAt
	}
	return db.ImageClaim{URLHash: req.urlHash, URL: req.url, RetryFailedBefore: retryBefore}
}

// errClaimLost: another compactor took the claim over (this one's lease had
// ended); the hash is now theirs to settle.
var errClaimLost = errors.New("the claim was taken over by another compactor")

// settle returns the outcome of req: from rec when it is settled, by
// fetching when this compactor holds the claim, or, while another compactor
// holds it, by waiting until that one settles it or its lease ends.
func (c *Compactor) settle(ctx context.Context, records *recorder, req request, rec db.ImageFetch) (db.ImageState, error) {
	for {
		switch {
		case rec.HeldBy(c.owner):
			outcome, err := c.fetchAndRecord(ctx, records, req, rec)
			if !errors.Is(err, errClaimLost) {
				return outcome, err
			}
			c.log.Warn("imaging: lost the claim on an image; waiting for its new holder", "url_hash", req.urlHash, "url", req.url)
		case rec.Settled():
			c.stats.cacheHits.Add(1)
			return rec.ImageState, nil
		default:
			if err := sleep(ctx, c.stop, c.cfg.SettlePoll); err != nil {
				return db.ImageState{}, err
			}
		}
		now := c.now()
		records, err := c.cfg.Store.ClaimImageFetches(ctx, c.owner, now, now.Add(c.cfg.ClaimLease), []db.ImageClaim{c.claimFor(req, now)})
		if err != nil {
			return db.ImageState{}, fmt.Errorf("claim image %s: %w", req.urlHash, err)
		}
		rec = records[req.urlHash]
	}
}

// maxErrorRunes bounds the error text of a failed outcome.
const maxErrorRunes = 2000

// fetchAndRecord fetches the URL of a hash this compactor holds the claim
// on, within the worker and per-host limits, stores the bytes and records
// the outcome. It returns errClaimLost when the claim was taken over
// meanwhile; on any other error it gives the claim up, so the next handler of
// the request can take it at once.
func (c *Compactor) fetchAndRecord(ctx context.Context, records *recorder, req request, rec db.ImageFetch) (db.ImageState, error) {
	release, err := c.acquire(ctx, hostOf(req.url))
	if err != nil {
		c.giveUp(req.urlHash)
		return db.ImageState{}, err
	}
	c.stats.inFlight.Add(1)

	leaseUntil := c.now().Add(c.cfg.ClaimLease)
	if rec.LeaseUntil != nil {
		leaseUntil = *rec.LeaseUntil
	}
	keepClaim := func(ctx context.Context) error {
		now := c.now()
		if leaseUntil.Sub(now) >= c.cfg.AttemptTimeout+c.cfg.ClaimLease/5 {
			return nil
		}
		until := now.Add(c.cfg.ClaimLease)
		if err := c.cfg.Store.ExtendImageClaim(ctx, req.urlHash, c.owner, until); err != nil {
			if errors.Is(err, db.ErrConflict) {
				return errClaimLost
			}
			return fmt.Errorf("extend the claim: %w", err)
		}
		leaseUntil = until
		return nil
	}
	got, attempts, err := c.fetcher.fetch(ctx, c.stop, req.url, keepClaim)
	// The limits bound HTTP fetches: storing the bytes durably (fsync) and
	// recording them runs outside, so the disk never idles the network.
	c.stats.inFlight.Add(-1)
	release()

	outcome := db.ImageState{URLHash: req.urlHash, URL: req.url, Attempts: int32(attempts)}
	var fetchErr *FetchError
	var duplicate bool
	switch {
	case err == nil:
		c.storing <- struct{}{}
		contentSHA256, dup, err := got.file.commit()
		<-c.storing
		if err != nil {
			c.giveUp(req.urlHash)
			return db.ImageState{}, fmt.Errorf("store %s: %w", req.url, err)
		}
		duplicate = dup
		outcome.Status = db.ImageCached
		outcome.ContentSHA256 = &contentSHA256
		outcome.ContentType = &got.contentType
		outcome.Bytes = &got.bytes
		width, height := int32(got.width), int32(got.height)
		outcome.Width, outcome.Height = &width, &height
	case errors.As(err, &fetchErr):
		outcome.Status = db.ImageFailed
		msg := errorText(fetchErr)
		outcome.Error = &msg
	case errors.Is(err, errClaimLost):
		return db.ImageState{}, err
	default:
		c.giveUp(req.urlHash)
		return db.ImageState{}, fmt.Errorf("fetch %s: %w", req.url, err)
	}
	fetchedAt := c.now().Truncate(time.Microsecond)
	outcome.FetchedAt = &fetchedAt
	if err := records.record(outcome); err != nil {
		if !errors.Is(err, errClaimLost) {
			c.giveUp(req.urlHash)
		}
		return db.ImageState{}, err
	}

	if outcome.Status == db.ImageCached {
		c.stats.cached.Add(1)
		if duplicate {
			c.stats.duplicates.Add(1)
		}
		c.log.Debug("imaging: image cached", "url_hash", req.urlHash, "content_sha256", *outcome.ContentSHA256,
			"bytes", got.bytes, "attempts", attempts, "duplicate_content", duplicate)
	} else {
		c.stats.fail(fetchErr.Reason)
		c.log.Debug("imaging: image failed", "url_hash", req.urlHash, "url", req.url, "reason", fetchErr.Reason,
			"attempts", attempts, "err", fetchErr)
	}
	return outcome, nil
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

// recorder writes the outcomes of one batch's fetches, group-committed:
// whatever outcomes are ready when it comes round go into one transaction
// (each still conditional on this compactor's claim). One writer
// transaction per image would make a batch of fast failures queue for
// SQLite's single writer behind the loader, one by one.
type recorder struct {
	c    *Compactor
	ctx  context.Context
	in   chan recording
	done chan struct{}
}

// recording is one outcome waiting to be recorded, and where to say how it went.
type recording struct {
	outcome db.ImageState
	result  chan error
}

// maxRecordBatch bounds the outcomes of one transaction.
const maxRecordBatch = 500

// startRecorder starts the recorder of a batch; stop it once every fetch of
// the batch has returned.
func (c *Compactor) startRecorder(ctx context.Context) *recorder {
	r := &recorder{c: c, ctx: ctx, in: make(chan recording), done: make(chan struct{})}
	go r.run()
	return r
}

// stop ends the recorder after the outcomes handed to it.
func (r *recorder) stop() {
	close(r.in)
	<-r.done
}

// record writes outcome and returns once it is durable: nil, errClaimLost
// when the claim was taken over (nothing was recorded), or the error that
// made it give up (ctx ended during a database outage).
func (r *recorder) record(outcome db.ImageState) error {
	result := make(chan error, 1)
	r.in <- recording{outcome: outcome, result: result}
	return <-result
}

func (r *recorder) run() {
	defer close(r.done)
	for first := range r.in {
		pending := []recording{first}
	gather:
		for len(pending) < maxRecordBatch {
			select {
			case next, ok := <-r.in:
				if !ok {
					break gather
				}
				pending = append(pending, next)
			default:
				break gather
			}
		}
		r.write(pending)
	}
}

// write records pending in one transaction, retrying a database failure
// until ctx ends: the bytes are in hand, and giving up would mean fetching
// them again.
func (r *recorder) write(pending []recording) {
	outcomes := make([]db.ImageState, len(pending))
	for i, p := range pending {
		outcomes[i] = p.outcome
	}
	for attempt := 0; ; attempt++ {
		lost, err := r.c.cfg.Store.FinishImageFetches(r.ctx, r.c.owner, outcomes)
		if err == nil {
			lostSet := make(map[string]bool, len(lost))
			for _, hash := range lost {
				lostSet[hash] = true
			}
			for _, p := range pending {
				if lostSet[p.outcome.URLHash] {
					p.result <- errClaimLost
				} else {
					p.result <- nil
				}
			}
			return
		}
		if errors.Is(err, db.ErrInvalid) && len(pending) > 1 {
			// One refused outcome (a bug) must not hold back the others.
			for _, p := range pending {
				r.write([]recording{p})
			}
			return
		}
		if !errors.Is(err, db.ErrInvalid) && r.ctx.Err() == nil {
			delay := min(100*time.Millisecond<<min(attempt, 6), 5*time.Second)
			r.c.log.Warn("imaging: recording image outcomes failed; retrying", "outcomes", len(outcomes), "in", delay, "err", err)
			if sleep(r.ctx, nil, delay) == nil {
				continue
			}
		}
		for _, p := range pending {
			p.result <- fmt.Errorf("record image %s: %w", p.outcome.URLHash, err)
		}
		return
	}
}

// giveUp ends this compactor's claim on urlHash now, so that whoever handles
// the request next can take it over without waiting out the lease.
func (c *Compactor) giveUp(urlHash string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.cfg.Store.ExtendImageClaim(ctx, urlHash, c.owner, c.now()); err != nil && !errors.Is(err, db.ErrConflict) {
		c.log.Warn("imaging: giving up a claim failed; it ends with its lease", "url_hash", urlHash, "err", err)
	}
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

// errorText is the error of a failed outcome: at most maxErrorRunes
// characters of valid UTF-8 without NUL, whatever bytes the server put in
// its status line or the URL held.
func errorText(err error) string {
	text := strings.ReplaceAll(strings.ToValidUTF8(err.Error(), "\uFFFD"), "\x00", "\uFFFD")
	if utf8.RuneCountInString(text) <= maxErrorRunes {
		return text
	}
	return string([]rune(text)[:maxErrorRunes])
}
