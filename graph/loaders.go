package graph

import (
	"context"
	"sync"
	"sync/atomic"

	"marquee/db"
	"marquee/graph/model"
)

// loaders are the batch loaders of one request. A page of performers primes
// them with its ids, so the first aliases (or thumbnails) resolver of the
// page loads those of the whole page in one query, and the others wait for
// it; loading thumbnails primes the image loader with their URL hashes in
// turn. The number of queries therefore depends on the shape of the query,
// never on the page size or on goroutine timing (unlike a time-window
// dataloader, which splits a batch when the CPU is busy).
type loaders struct {
	// ctx is the request's: the loaders live exactly as long as it.
	ctx        context.Context
	aliases    *batch[int64, []string]
	thumbnails *batch[int64, []db.Thumbnail]
	images     *batch[string, *db.Image]
	// fromPrimary makes aliases and thumbnails read the primary: a mutation
	// answers with what it wrote even where the replica lags.
	fromPrimary atomic.Bool

	mu   sync.Mutex
	rows map[int64]*db.Pornstar // the performers primed, by id

	links model.ImageLinks
}

func newLoaders(ctx context.Context, store *db.Store, links model.ImageLinks) *loaders {
	l := &loaders{ctx: ctx, rows: make(map[int64]*db.Pornstar), links: links}
	l.aliases = newBatch(func(ctx context.Context, ids []int64) (map[int64][]string, error) {
		var rows map[int64][]db.Alias
		var err error
		if l.fromPrimary.Load() {
			rows, err = store.AliasesFromPrimary(ctx, ids)
		} else {
			rows, err = store.AliasesOf(ctx, l.rowsOf(ids))
		}
		if err != nil {
			return nil, err
		}
		out := make(map[int64][]string, len(rows))
		for id, aliases := range rows {
			names := make([]string, len(aliases))
			for i, a := range aliases {
				names[i] = a.Alias
			}
			out[id] = names
		}
		return out, nil
	})
	l.thumbnails = newBatch(func(ctx context.Context, ids []int64) (map[int64][]db.Thumbnail, error) {
		var rows map[int64][]db.Thumbnail
		var err error
		if l.fromPrimary.Load() {
			rows, err = store.ThumbnailsFromPrimary(ctx, ids)
		} else {
			rows, err = store.ThumbnailsOf(ctx, l.rowsOf(ids))
		}
		if err != nil {
			return nil, err
		}
		var hashes []string
		for _, thumbs := range rows {
			for _, t := range thumbs {
				hashes = append(hashes, t.URLHash)
			}
		}
		l.images.prime(hashes...)
		return rows, nil
	})
	l.images = newBatch(func(ctx context.Context, hashes []string) (map[string]*db.Image, error) {
		rows, err := store.Images(ctx, hashes)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*db.Image, len(rows))
		for hash, img := range rows {
			out[hash] = &img
		}
		return out, nil
	})
	return l
}

// Aliases implements model.Relations.
func (l *loaders) Aliases(pornstarID int64) ([]string, error) {
	return l.aliases.load(l.ctx, pornstarID)
}

// Thumbnails implements model.Relations.
func (l *loaders) Thumbnails(pornstarID int64) ([]db.Thumbnail, error) {
	return l.thumbnails.load(l.ctx, pornstarID)
}

// Image implements model.Relations.
func (l *loaders) Image(urlHash string) (*db.Image, error) {
	return l.images.load(l.ctx, urlHash)
}

// ImagesURL implements model.Relations.
func (l *loaders) ImageLinks() model.ImageLinks { return l.links }

// primePornstars tells the loaders about performers the response will show.
func (l *loaders) primePornstars(rows ...*db.Pornstar) {
	ids := make([]int64, len(rows))
	l.mu.Lock()
	for i, p := range rows {
		ids[i] = p.ID
		l.rows[p.ID] = p
	}
	l.mu.Unlock()
	l.aliases.prime(ids...)
	l.thumbnails.prime(ids...)
}

// rowsOf returns the primed rows of ids: the versions the store's children
// cache keys their aliases and thumbnails by. An id never primed (which
// the resolvers do not make) counts as a row of version 0, which no row
// has: it is read from the database.
func (l *loaders) rowsOf(ids []int64) []*db.Pornstar {
	rows := make([]*db.Pornstar, len(ids))
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, id := range ids {
		if rows[i] = l.rows[id]; rows[i] == nil {
			rows[i] = &db.Pornstar{ID: id}
		}
	}
	return rows
}

type loadersKey struct{}

func withLoaders(ctx context.Context, l *loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// loadersFrom returns the request's loaders. The handler always installs
// them; a missing one is a wiring bug, so it panics (answered as INTERNAL).
func loadersFrom(ctx context.Context) *loaders {
	l, ok := ctx.Value(loadersKey{}).(*loaders)
	if !ok {
		panic("graph: no loaders in the request context")
	}
	return l
}

// batch loads values by key for one request and keeps them. Keys are known
// before they are loaded (prime) or when first asked for (load); a load
// fetches every known key not fetched yet in one call, and concurrent loads
// of keys already being fetched wait for that call. A key missing from the
// fetch result has the zero value. Safe for concurrent use.
type batch[K comparable, V any] struct {
	fetch func(ctx context.Context, keys []K) (map[K]V, error)

	mu      sync.Mutex
	entries map[K]*batchEntry[V]
	pending []K // the keys whose entries are not fetched yet
}

type batchEntry[V any] struct {
	started bool
	done    chan struct{} // closed when value and err are set
	value   V
	err     error
}

func newBatch[K comparable, V any](fetch func(ctx context.Context, keys []K) (map[K]V, error)) *batch[K, V] {
	return &batch[K, V]{fetch: fetch, entries: make(map[K]*batchEntry[V])}
}

// prime makes keys part of the next fetch without fetching anything.
func (b *batch[K, V]) prime(keys ...K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		b.addLocked(k)
	}
}

func (b *batch[K, V]) addLocked(k K) *batchEntry[V] {
	e, ok := b.entries[k]
	if !ok {
		e = &batchEntry[V]{done: make(chan struct{})}
		b.entries[k] = e
		b.pending = append(b.pending, k)
	}
	return e
}

// load returns the value of key, fetching it with every pending key.
func (b *batch[K, V]) load(ctx context.Context, key K) (V, error) {
	b.mu.Lock()
	e := b.addLocked(key)
	if e.started {
		b.mu.Unlock()
		select {
		case <-e.done:
			return e.value, e.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	keys := b.pending
	b.pending = nil
	fetched := make([]*batchEntry[V], len(keys))
	for i, k := range keys {
		fetched[i] = b.entries[k]
		fetched[i].started = true
	}
	b.mu.Unlock()

	finished := false
	defer func() {
		if !finished { // fetch panicked: release the waiters, then re-panic
			for _, f := range fetched {
				f.err = errLoaderPanicked
				close(f.done)
			}
		}
	}()
	values, err := b.fetch(ctx, keys)
	for i, k := range keys {
		if err != nil {
			fetched[i].err = err
		} else {
			fetched[i].value = values[k]
		}
		close(fetched[i].done)
	}
	finished = true
	return e.value, e.err
}
