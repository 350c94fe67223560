package variant

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"marquee/db"
)

// Index is what Cache needs of db.Store: the shared bookkeeping of stored
// variants, by which every process sharing a store finds, touches and
// evicts them.
type Index interface {
	ImageVariant(ctx context.Context, key string) (*db.ImageVariant, error)
	PutImageVariant(ctx context.Context, v db.ImageVariant) error
	TouchImageVariants(ctx context.Context, keys []string, at time.Time) error
	ImageVariantBytes(ctx context.Context) (int64, error)
	LeastRecentlyUsedImageVariants(ctx context.Context, limit int) ([]db.ImageVariant, error)
	ImageVariantsOf(ctx context.Context, contentSHA256 string) ([]db.ImageVariant, error)
	DeleteImageVariants(ctx context.Context, keys []string) error
}

// OpenOriginal opens the bytes of an original by content hash (the image
// store's Open); missing bytes satisfy errors.Is(err, fs.ErrNotExist).
type OpenOriginal func(contentSHA256 string) (io.ReadCloser, error)

// Original is a cached image a variant is made of.
type Original struct {
	ContentSHA256 string
	ContentType   string
}

// Served is a variant ready to send. Close Body when done.
type Served struct {
	Body        io.ReadSeekCloser
	Size        int64
	ContentType string
	// ETag is the SHA-256 of the variant's bytes, in hex.
	ETag string
}

// ErrBusy: the variant was not rendered within the render budget (the
// render slots were taken or the render is slow). The render goes on; the
// client should retry after a moment.
var ErrBusy = errors.New("variant: not rendered within the render budget")

// ErrOriginalMissing: the original's bytes are not in the store.
var ErrOriginalMissing = errors.New("variant: the original's bytes are missing")

// Config configures a Cache.
type Config struct {
	Index     Index
	Blobs     Blobs
	Originals OpenOriginal
	// Engine renders (default GoEngine).
	Engine Engine
	// Quality is the named encoder settings (default DefaultQuality).
	Quality Quality
	// MaxBytes caps the sum of stored variants; past it the least
	// recently used are evicted (default DefaultMaxBytes).
	MaxBytes int64
	// Renders bounds concurrent renders in this process (default the
	// number of CPUs: rendering is CPU-bound).
	Renders int
	// Budget is how long a request waits for its variant, including the
	// wait for a render slot (default DefaultBudget).
	Budget time.Duration
	// MaxPixels is the decoding limit of originals (imaging's
	// MARQUEE_IMAGES_MAX_PIXELS).
	MaxPixels int64
	// TouchEvery is how often one process records the use of one variant
	// at most (default DefaultTouchEvery): the LRU order needs no finer
	// clock, and a hit then costs a database write only once in a while.
	TouchEvery time.Duration
	Logger     *slog.Logger
}

// Defaults of Config.
const (
	// DefaultMaxBytes bounds the disk the variants take: room for about a
	// million thumbnail-sized variants.
	DefaultMaxBytes = 2 << 30
	// DefaultBudget is far longer than rendering the largest allowed width
	// of a capped original takes, and far shorter than client timeouts.
	DefaultBudget = 10 * time.Second
	// DefaultTouchEvery is coarse enough to spare the database and fine
	// enough for eviction to follow what pages show.
	DefaultTouchEvery = time.Minute
)

// evictBatch is how many least-recently-used variants one eviction pass reads.
const evictBatch = 100

// Cache renders variants on demand and keeps them: in Blobs under Key,
// recorded in Index. A variant is rendered once per process however many
// requests ask for it at once (single flight); processes sharing a store
// may each render a variant once, writing identical bytes under one key.
// A Cache is safe for concurrent use.
type Cache struct {
	cfg      Config
	slots    chan struct{}
	flights  singleflight.Group
	rendered atomic.Int64

	touchMu sync.Mutex
	touched map[string]time.Time
}

// NewCache returns a Cache; Index, Blobs and Originals are required.
func NewCache(cfg Config) (*Cache, error) {
	if cfg.Index == nil || cfg.Blobs == nil || cfg.Originals == nil {
		return nil, errors.New("variant: new cache: an index, a blob store and the originals are required")
	}
	if cfg.Engine == nil {
		cfg.Engine = GoEngine{}
	}
	if cfg.Quality.Name == "" {
		cfg.Quality = DefaultQuality
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Renders <= 0 {
		cfg.Renders = runtime.NumCPU()
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.TouchEvery <= 0 {
		cfg.TouchEvery = DefaultTouchEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	warmOnce.Do(func() { go warm(cfg.Engine, cfg.Quality) })
	return &Cache{cfg: cfg, slots: make(chan struct{}, cfg.Renders), touched: map[string]time.Time{}}, nil
}

// warmOnce warms the encoders once per process.
var warmOnce sync.Once

// warm renders a tiny image in every format, in the background when a
// cache is made: an encoder's first use compiles it (the pure-Go WebP and
// AVIF encoders compile a WebAssembly module, seconds of CPU), which would
// otherwise fall on the first request for such a variant and could exceed
// its budget.
func warm(engine Engine, q Quality) {
	var tiny bytes.Buffer
	if err := png.Encode(&tiny, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		return
	}
	for _, format := range []Format{JPEG, PNG, WebP, AVIF} {
		_, _ = engine.Render(tiny.Bytes(), Spec{Width: 1, Format: format}, q, 4)
	}
}

// Rendered counts the variants this Cache has rendered.
func (c *Cache) Rendered() int64 { return c.rendered.Load() }

// Engine is the engine the Cache renders with.
func (c *Cache) Engine() Engine { return c.cfg.Engine }

// Key is where the variant spec of the original with this content hash is
// stored: under a directory of the original (so its variants go together),
// named by the requested size, the quality settings' name and the format.
func Key(contentSHA256 string, spec Spec, q Quality) string {
	return contentSHA256[:2] + "/" + contentSHA256[2:4] + "/" + contentSHA256 + "/" +
		strconv.Itoa(spec.Width) + "x" + strconv.Itoa(spec.Height) + "-" + q.Name + "." + string(spec.Format)
}

// Get returns the variant spec of original: the stored one, or one
// rendered now. ErrBusy when it is not ready within the budget,
// ErrOriginalMissing when the original's bytes are gone; ErrTooManyPixels
// and ErrUndecodable when the original cannot be rendered.
func (c *Cache) Get(ctx context.Context, original Original, spec Spec) (*Served, error) {
	key := Key(original.ContentSHA256, spec, c.cfg.Quality)
	served, err := c.open(ctx, key)
	if err != nil {
		return nil, err
	}
	if served != nil {
		c.touch(ctx, key)
		return served, nil
	}

	budget := time.NewTimer(c.cfg.Budget)
	defer budget.Stop()
	// The render outlives the request that started it (others may wait
	// for it, and a finished render is worth keeping), within the budget
	// of a render slot plus the render itself.
	flight := c.flights.DoChan(key, func() (any, error) {
		// A flight that ended between this request's look-up and now
		// stored the variant: serve that one instead of rendering twice.
		if v := c.stored(key); v != nil {
			return v, nil
		}
		return c.render(key, original, spec)
	})
	select {
	case res := <-flight:
		if res.Err != nil {
			return nil, res.Err
		}
		v := res.Val.(*renderedVariant)
		return &Served{Body: nopCloser{bytes.NewReader(v.bytes)}, Size: int64(len(v.bytes)), ContentType: v.contentType, ETag: v.etag}, nil
	case <-budget.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// renderedVariant is the shared outcome of one flight.
type renderedVariant struct {
	bytes       []byte
	contentType string
	etag        string
}

// open opens the stored variant under key; nil, nil when there is none,
// also when another process evicted its bytes after it was looked up.
func (c *Cache) open(ctx context.Context, key string) (*Served, error) {
	row, err := c.cfg.Index.ImageVariant(ctx, key)
	if errors.Is(err, db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("variant: look up %s: %w", key, err)
	}
	body, size, err := c.cfg.Blobs.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("variant: open %s: %w", key, err)
	}
	return &Served{Body: body, Size: size, ContentType: row.ContentType, ETag: row.VariantSHA256}, nil
}

// stored returns the stored variant under key with its bytes, nil when
// there is none (or it cannot be read: then it is rendered again).
func (c *Cache) stored(key string) *renderedVariant {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Budget)
	defer cancel()
	served, err := c.open(ctx, key)
	if err != nil || served == nil {
		return nil
	}
	defer served.Body.Close()
	data, err := io.ReadAll(served.Body)
	if err != nil {
		return nil
	}
	return &renderedVariant{bytes: data, contentType: served.ContentType, etag: served.ETag}
}

// render renders, stores and records one variant, then evicts past the cap.
func (c *Cache) render(key string, original Original, spec Spec) (*renderedVariant, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*c.cfg.Budget)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ErrBusy
	}
	defer func() { <-c.slots }()

	file, err := c.cfg.Originals(original.ContentSHA256)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrOriginalMissing
	}
	if err != nil {
		return nil, fmt.Errorf("variant: open original: %w", err)
	}
	data, err := io.ReadAll(file)
	file.Close()
	if err != nil {
		return nil, fmt.Errorf("variant: read original: %w", err)
	}
	out, err := c.cfg.Engine.Render(data, spec, c.cfg.Quality, c.cfg.MaxPixels)
	if err != nil {
		return nil, err
	}
	c.rendered.Add(1)
	sum := sha256.Sum256(out.Bytes)
	v := &renderedVariant{bytes: out.Bytes, contentType: out.ContentType, etag: hex.EncodeToString(sum[:])}
	// Storing is best effort: a variant that could not be kept is served
	// all the same and rendered again by a later request.
	if err := c.cfg.Blobs.Put(key, out.Bytes); err != nil {
		c.cfg.Logger.Error("variant: store a rendered variant", "key", key, "err", err)
		return v, nil
	}
	now := time.Now().UTC()
	err = c.cfg.Index.PutImageVariant(ctx, db.ImageVariant{Key: key, ContentSHA256: original.ContentSHA256, VariantSHA256: v.etag,
		ContentType: out.ContentType, Bytes: int64(len(out.Bytes)), Width: int32(out.Width), Height: int32(out.Height),
		CreatedAt: now, LastUsedAt: now})
	if err != nil {
		c.cfg.Logger.Error("variant: record a rendered variant", "key", key, "err", err)
		_ = c.cfg.Blobs.Remove(key)
		return v, nil
	}
	if err := c.evict(ctx); err != nil {
		c.cfg.Logger.Error("variant: evict variants", "err", err)
	}
	return v, nil
}

// evict removes the least recently used variants while their sum of bytes
// is over the cap. Processes evicting at once may remove a few more than
// needed; a removed variant is rendered again when asked for.
func (c *Cache) evict(ctx context.Context) error {
	total, err := c.cfg.Index.ImageVariantBytes(ctx)
	if err != nil {
		return err
	}
	for total > c.cfg.MaxBytes {
		rows, err := c.cfg.Index.LeastRecentlyUsedImageVariants(ctx, evictBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		var keys []string
		for _, r := range rows {
			if total <= c.cfg.MaxBytes {
				break
			}
			keys = append(keys, r.Key)
			total -= r.Bytes
		}
		if err := c.remover().forget(ctx, keys); err != nil {
			return err
		}
	}
	return nil
}

// Remover removes stored variants. A Cache removes through one; a process
// that only deletes originals (takedown, garbage collection) needs no more.
type Remover struct {
	Index Index
	Blobs Blobs
}

// forget removes variants from the index, then their blobs: a blob whose
// row is gone is never served, and a row never outlives its blob for long.
func (r Remover) forget(ctx context.Context, keys []string) error {
	if err := r.Index.DeleteImageVariants(ctx, keys); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		errs = append(errs, r.Blobs.Remove(k))
	}
	return errors.Join(errs...)
}

// ForgetVariants removes the records of every variant of the original with
// this content hash, for a takedown or the garbage collection of the
// original, which delete its variants' blobs with it (the variants
// namespace of imaging.VariantPrefix). A render of the original that
// finishes afterwards records its variant again, and eviction takes it in
// time.
func (r Remover) ForgetVariants(ctx context.Context, contentSHA256 string) error {
	keys, err := r.keysOf(ctx, contentSHA256)
	if err != nil || len(keys) == 0 {
		return err
	}
	return r.Index.DeleteImageVariants(ctx, keys)
}

// keysOf lists the keys of the recorded variants of an original.
func (r Remover) keysOf(ctx context.Context, contentSHA256 string) ([]string, error) {
	rows, err := r.Index.ImageVariantsOf(ctx, contentSHA256)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(rows))
	for _, row := range rows {
		keys = append(keys, row.Key)
	}
	return keys, nil
}

// ForgetVariants removes the records of every variant of the original with
// this content hash (Remover.ForgetVariants).
func (c *Cache) ForgetVariants(ctx context.Context, contentSHA256 string) error {
	return c.remover().ForgetVariants(ctx, contentSHA256)
}

func (c *Cache) remover() Remover { return Remover{Index: c.cfg.Index, Blobs: c.cfg.Blobs} }

// touch records a use of key, at most once per TouchEvery in this process.
// A failed write costs only eviction precision.
func (c *Cache) touch(ctx context.Context, key string) {
	now := time.Now()
	c.touchMu.Lock()
	last, seen := c.touched[key]
	if seen && now.Sub(last) < c.cfg.TouchEvery {
		c.touchMu.Unlock()
		return
	}
	if len(c.touched) > 100_000 { // forget old marks wholesale rather than grow without bound
		c.touched = map[string]time.Time{}
	}
	c.touched[key] = now
	c.touchMu.Unlock()
	if err := c.cfg.Index.TouchImageVariants(ctx, []string{key}, now); err != nil {
		c.cfg.Logger.Warn("variant: record a variant's use", "key", key, "err", err)
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
