package db

import (
	"context"
	"sync"
)

// childrenCache keeps the aliases and thumbnails of performers by id and
// version, for both APIs. Every write of a performer's aliases or
// thumbnails bumps its version in the same transaction, so an entry for the
// version a list or lookup just read is exactly what the database holds for
// that version: the cache is never stale, it only saves the queries of the
// relations. (A reader that raced a writer may store the newer children
// under the older version; only readers that still see the older row,
// which is gone from the primary, can get them, and they could get the same
// mix without the cache.) Image states are not kept: they change without a
// write to the performer.
type childrenCache struct {
	max int

	mu      sync.Mutex
	entries map[int64]*cachedChildren
}

// cachedChildren are the relations of one version of a performer; each is
// kept once it has been read.
type cachedChildren struct {
	version    int64
	aliases    []Alias
	thumbnails []Thumbnail
	hasAliases bool
	hasThumbs  bool
}

// DefaultChildrenCacheEntries bounds the cache to one feed's worth of
// performers (about 21,000): some 30 MB.
const DefaultChildrenCacheEntries = 25000

func newChildrenCache(max int) *childrenCache {
	return &childrenCache{max: max, entries: make(map[int64]*cachedChildren)}
}

// SetChildrenCacheEntries bounds the children cache of AliasesOf and
// ThumbnailsOf to n performers (default DefaultChildrenCacheEntries); 0
// turns it off. Call it before the Store is used.
func (s *Store) SetChildrenCacheEntries(n int) { s.children = newChildrenCache(n) }

// relation is how the cache reaches one relation of an entry.
type relation[T any] struct {
	get func(*cachedChildren) ([]T, bool)
	set func(*cachedChildren, []T)
}

var (
	aliasesRelation = relation[Alias]{
		get: func(c *cachedChildren) ([]Alias, bool) { return c.aliases, c.hasAliases },
		set: func(c *cachedChildren, v []Alias) { c.aliases, c.hasAliases = v, true },
	}
	thumbnailsRelation = relation[Thumbnail]{
		get: func(c *cachedChildren) ([]Thumbnail, bool) { return c.thumbnails, c.hasThumbs },
		set: func(c *cachedChildren, v []Thumbnail) { c.thumbnails, c.hasThumbs = v, true },
	}
)

// readThrough returns rel of rows, keyed by id: from the cache where it
// holds them for the row's version, else loaded (in one call) and kept.
func readThrough[T any](ctx context.Context, cc *childrenCache, rows []*Pornstar, rel relation[T],
	load func(ctx context.Context, ids []int64) (map[int64][]T, error)) (map[int64][]T, error) {
	if cc.max <= 0 {
		ids := make([]int64, len(rows))
		for i, p := range rows {
			ids[i] = p.ID
		}
		return load(ctx, ids)
	}
	out := make(map[int64][]T, len(rows))
	var missing []int64
	cc.mu.Lock()
	for _, p := range rows {
		if e := cc.entries[p.ID]; e != nil && e.version == p.Version {
			if v, ok := rel.get(e); ok {
				out[p.ID] = v
				continue
			}
		}
		missing = append(missing, p.ID)
	}
	cc.mu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	loaded, err := load(ctx, missing)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	for _, p := range rows {
		if _, done := out[p.ID]; done {
			continue
		}
		v := loaded[p.ID] // none: kept as known-empty all the same
		out[p.ID] = v
		e := cc.entries[p.ID]
		if e == nil || e.version != p.Version {
			if e == nil && len(cc.entries) >= cc.max {
				for id := range cc.entries { // evict an arbitrary entry
					delete(cc.entries, id)
					break
				}
			}
			e = &cachedChildren{version: p.Version}
			cc.entries[p.ID] = e
		}
		rel.set(e, v)
	}
	return out, nil
}

// AliasesOf returns the aliases of performers as a read returned them, in
// feed order, keyed by id: from the children cache where it holds them for
// the row's version, else from the read handle in one query.
func (s *Store) AliasesOf(ctx context.Context, rows []*Pornstar) (map[int64][]Alias, error) {
	return readThrough(ctx, s.children, rows, aliasesRelation, s.Aliases)
}

// ThumbnailsOf returns the thumbnails of performers as a read returned them,
// in feed order, keyed by id: from the children cache where it holds them
// for the row's version, else from the read handle in one query.
func (s *Store) ThumbnailsOf(ctx context.Context, rows []*Pornstar) (map[int64][]Thumbnail, error) {
	return readThrough(ctx, s.children, rows, thumbnailsRelation, s.Thumbnails)
}
