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
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"marquee/bus"
	"marquee/db"
)

// Store is what the compactor needs of db.Store: its durable record of every
// URL hash, with atomic claims.
type Store interface {
	ClaimImageFetches(ctx context.Context, owner string, now, leaseUntil time.Time, claims []db.ImageClaim) (map[string]db.ImageFetch, error)
	ExtendImageClaim(ctx context.Context, urlHash, owner string, leaseUntil time.Time) error
	ExtendImageClaims(ctx context.Context, owner string, leaseUntil time.Time) (int64, error)
	FinishImageFetches(ctx context.Context, owner string, outcomes []db.ImageState) (lost []string, err error)
}

// Publisher publishes what the compactor produces: the outcomes on
// marquee.images, and the requests it can never handle on
// marquee.image-requests.dlq (its consumer hands them to PublishDeadLetters).
// Dead-lettering is part of the contract, not an extra that only some
// publishers have: a *bus.Writer is one.
type Publisher interface {
	Publish(ctx context.Context, topic string, msgs ...bus.Message) error
	bus.DeadLetterPublisher
}

// Config configures a Compactor. Zero values take the defaults named on each
// field; Store, Publisher and Files are required, Kafka for Run.
type Config struct {
	Store     Store
	Publisher Publisher
	// Files keeps the image bytes: a *FileStore (DATA_DIR/images) or an
	// *S3Store.
	Files ObjectStore
	// TempDir is where downloads are written until they are complete and
	// their content hash is known. Default: the FileStore's own temporary
	// directory, else the system's; downloads a crashed compactor left
	// there are removed by New.
	TempDir string
	// Kafka is the cluster Run consumes from.
	Kafka bus.Cluster
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
	// Placeholder computes the placeholder of an image's bytes
	// (variant.Placeholder, a BlurHash) once, when they are stored, for its
	// outcome; an image it fails on is cached without one. Nil: none.
	Placeholder func(original []byte) (string, error)
	// MaxAttempts bounds the attempts at a URL that fails in a retried
	// class (docs/images.md). Default 5.
	MaxAttempts int
	// AttemptTimeout bounds one attempt from request to last body byte.
	// Default 30s (docs/images.md).
	AttemptTimeout time.Duration
	// BackoffBase and BackoffMax shape the full-jitter exponential back-off
	// between attempts: up to BackoffBase, 2*BackoffBase, ..., BackoffMax.
	// Defaults 1s and 60s (docs/images.md); a Retry-After beyond BackoffMax ends
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

	// MaxInFlight, FetchWait, SessionTimeout and ShutdownGrace tune the
	// consumer (see bus.ConsumerConfig); zero keeps bus's defaults.
	// MaxInFlight bounds the requests being settled at once, most of them
	// waiting for a worker with their claims made.
	MaxInFlight                              int
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

// Compactor fetches the images of marquee.image-requests once each. Make it
// with New; Run it once, or hand batches to Handle. Safe for concurrent use.
type Compactor struct {
	cfg     Config
	owner   string
	fetcher *fetcher
	workers chan struct{}
	storing chan struct{}
	hosts   hostLimiter
	// queue is the claimed fetches on their way to the store; claims wait
	// for it up to claimWait (see claimer).
	queue     *fetchQueue
	claimWait time.Duration
	stats     stats
	log       *slog.Logger
	now       func() time.Time
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
	if files, ok := cfg.Files.(*FileStore); ok && cfg.TempDir == "" {
		cfg.TempDir = files.tmp
	} else {
		if cfg.TempDir == "" {
			cfg.TempDir = os.TempDir()
		}
		if err := cleanTempDir(cfg.TempDir); err != nil {
			return nil, fmt.Errorf("imaging: new compactor: %w", err)
		}
	}
	if cfg.AttemptTimeout+cfg.ClaimLease/5 >= cfg.ClaimLease {
		return nil, fmt.Errorf("imaging: new compactor: the claim lease %v must be more than 5/4 of the attempt timeout %v",
			cfg.ClaimLease, cfg.AttemptTimeout)
	}
	c := &Compactor{
		cfg:       cfg,
		owner:     ownerName(),
		workers:   make(chan struct{}, cfg.Workers),
		storing:   make(chan struct{}, storeSlots(cfg)),
		hosts:     hostLimiter{perHost: cfg.PerHost, hosts: map[string]*hostSlots{}},
		queue:     newFetchQueue(),
		claimWait: claimWait,
		log:       cfg.Logger,
		now:       func() time.Time { return time.Now().UTC() },
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
