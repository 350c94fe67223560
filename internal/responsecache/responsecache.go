// Package responsecache keeps the APIs' answers to reads, already encoded
// in the content coding each client asked for, and serves them again while
// the data behind them is unchanged. An entry is keyed by the request's
// normalised form (method class, path, canonical query or GraphQL body, the
// negotiated coding and the caller's role) and the data version the store
// reported before the answer was made (db.Store.DataVersion): a write
// anywhere changes the version, and no entry of an older version is served.
// Memory is bounded; the least recently used entries go first.
package responsecache

import (
	"container/list"
	"context"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"marquee/auth"
	"marquee/internal/compression"
)

// DefaultMaxBytes bounds the cache when the configuration does not: room
// for tens of thousands of compressed pages of 50 performers.
const DefaultMaxBytes = 64 << 20

// Options configure New.
type Options struct {
	// MaxBytes bounds the bodies, headers and keys held; 0 or less turns the
	// cache off (Wrap returns its handler as it is).
	MaxBytes int64
	// Version returns the data version: answers are kept and served only
	// for the version read before the answer is made. Required.
	Version func(context.Context) (int64, error)
	// Limiter is the per-client rate limit the wrapped API applies: an
	// answer from the cache counts against it as one made does.
	Limiter *auth.Limiter
	// Registerer, when set, gets the counter of lookups by result.
	Registerer prometheus.Registerer
}

// Cache is one bounded store of answers, shared by the handlers it wraps.
// It is safe for concurrent use.
type Cache struct {
	opts Options
	// hits and misses count the requests the cache looked up: answered from
	// it, or made by the handler.
	hits, misses prometheus.Counter
	// maxEntry bounds one answer, so that a few large ones cannot push
	// out everything else.
	maxEntry int64

	mu      sync.Mutex
	version int64 // the version of every entry held
	bytes   int64
	order   *list.List // of *entry, most recently used first
	entries map[string]*list.Element
}

type entry struct {
	key    string
	header http.Header // set by the handler, each key replacing the client writer's
	added  http.Header // appended by the handler to values the writer had (Vary)
	body   []byte      // empty for a HEAD
	route  string      // what the handler named with server.SetRoute
	size   int64
}

// New returns a cache; nil when opts turn it off.
func New(opts Options) *Cache {
	if opts.MaxBytes <= 0 || opts.Version == nil {
		return nil
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "marquee_response_cache_lookups_total",
		Help: "API requests the response cache looked up, by result: hit (answered from the cache) or miss (answered by the API).",
	}, []string{"result"})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(lookups)
	}
	return &Cache{opts: opts, maxEntry: max(opts.MaxBytes/16, 1), order: list.New(), entries: make(map[string]*list.Element),
		hits: lookups.WithLabelValues("hit"), misses: lookups.WithLabelValues("miss")}
}

// Len is how many answers the cache holds.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Bytes is the size the cache accounts for what it holds.
func (c *Cache) Bytes() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// get returns the entry for key at version, and moves it to the front.
func (c *Cache) get(key string, version int64) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version {
		if version > c.version {
			c.resetLocked(version)
		}
		return nil
	}
	el := c.entries[key]
	if el == nil {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*entry)
}

// put keeps e as made at version, unless the cache has moved on to another
// version since, evicting the least recently used entries beyond the bound.
func (c *Cache) put(e *entry, version int64) {
	if e.size > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if version > c.version {
		c.resetLocked(version)
	}
	if version != c.version {
		return
	}
	if old := c.entries[e.key]; old != nil {
		c.removeLocked(old)
	}
	c.entries[e.key] = c.order.PushFront(e)
	c.bytes += e.size
	for c.bytes > c.opts.MaxBytes {
		c.removeLocked(c.order.Back())
	}
}

func (c *Cache) removeLocked(el *list.Element) {
	e := c.order.Remove(el).(*entry)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// resetLocked drops every entry: they belong to an older version.
func (c *Cache) resetLocked(version int64) {
	c.version = version
	c.order.Init()
	clear(c.entries)
	c.bytes = 0
}

// entryOverhead is what an entry costs beyond its key, headers and body:
// the list element, the map slot and the structs.
const entryOverhead = 256

func entrySize(key string, header, added http.Header, body []byte) int64 {
	n := int64(entryOverhead + len(key) + len(body))
	for _, h := range []http.Header{header, added} {
		for k, values := range h {
			n += int64(len(k))
			for _, v := range values {
				n += int64(len(v)) + 16
			}
		}
	}
	return n
}

// coding is the coding compression.Middleware chooses for r, and whether
// identity was refused: the part of Accept-Encoding that changes an answer.
func coding(r *http.Request) string {
	if r.Method == http.MethodHead {
		return compression.Identity.String()
	}
	c, refused := compression.Negotiate(r.Header["Accept-Encoding"])
	if refused {
		return c.String() + ";no-identity"
	}
	return c.String()
}
