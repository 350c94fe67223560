package db

import (
	"context"
	"sync"

	"github.com/uptrace/bun"
)

// The children cache keeps the aliases and thumbnails of performers by id
// and version, for both APIs: one versionCache per relation. Every write of
// a performer's aliases or thumbnails bumps its version in the same
// transaction, and the cache keeps only children read in the same statement
// as the version they belong to (the loaders join pornstars), so an entry
// for a version is exactly what the database holds for that version: the
// cache is never stale, it only saves the queries of the relations. (The
// row a page shows and its children are read by separate statements, which
// may see different versions, for instance when reads move between a
// replica and the primary: such children are answered, as they would be
// without the cache, but not kept.) Image states are not kept: they change
// without a write to the performer.

// DefaultChildrenCacheEntries bounds each relation's cache to one feed's
// worth of performers (about 21,000); README, "Speed layer", says what that
// holds.
const DefaultChildrenCacheEntries = 25000

// versionCache keeps one relation of performers by id and version.
type versionCache[T any] struct {
	max int

	mu      sync.Mutex
	entries map[int64]versioned[T]
}

type versioned[T any] struct {
	version  int64
	children []T
}

func newVersionCache[T any](max int) *versionCache[T] {
	return &versionCache[T]{max: max, entries: make(map[int64]versioned[T])}
}

// SetChildrenCacheEntries bounds the children cache of AliasesOf and
// ThumbnailsOf, and the cache of facet values of Facets, to n performers
// (default DefaultChildrenCacheEntries); 0 turns them off, and the cache of
// whole facet answers too. Call it before the Store is used.
func (s *Store) SetChildrenCacheEntries(n int) {
	s.aliases, s.thumbnails = newVersionCache[Alias](n), newVersionCache[Thumbnail](n)
	s.facetRows = newVersionCache[facetRow](n)
	s.facetAnswers = newFacetAnswers(min(n, maxFacetAnswers))
}

// versionedLoad loads one relation of performers by id, with the version
// of each performer the relation was read at (read in the same statement);
// a performer missing from versions was not found.
type versionedLoad[T any] func(ctx context.Context, idb bun.IDB, ids []int64) (children map[int64][]T, versions map[int64]int64, err error)

// readThrough returns the relation of rows, keyed by id: from the cache
// where it holds it for the row's version, else loaded from idb (in one
// call), and kept where it was read at the row's version.
func (c *versionCache[T]) readThrough(ctx context.Context, idb bun.IDB, rows []*Pornstar, load versionedLoad[T]) (map[int64][]T, error) {
	ids, versions := make([]int64, len(rows)), make([]int64, len(rows))
	for i, p := range rows {
		ids[i], versions[i] = p.ID, p.Version
	}
	children, err := c.readVersions(ctx, idb, ids, versions, load)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]T, len(rows))
	for i, id := range ids {
		out[id] = children[i]
	}
	return out, nil
}

// readVersions is readThrough for rows known by id and version alone:
// children[i] is the relation of ids[i] at versions[i], from the cache
// where it holds it for that version, else loaded from idb (in one call),
// and kept where it was read at that version.
func (c *versionCache[T]) readVersions(ctx context.Context, idb bun.IDB, ids, versions []int64, load versionedLoad[T]) ([][]T, error) {
	children := make([][]T, len(ids))
	if c.max <= 0 {
		loaded, _, err := load(ctx, idb, ids)
		if err != nil {
			return nil, err
		}
		for i, id := range ids {
			children[i] = loaded[id]
		}
		return children, nil
	}
	var missing []int64
	var missingAt []int
	c.mu.Lock()
	for i, id := range ids {
		if e, ok := c.entries[id]; ok && e.version == versions[i] {
			children[i] = e.children
		} else {
			missing, missingAt = append(missing, id), append(missingAt, i)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return children, nil
	}
	loaded, loadedVersions, err := load(ctx, idb, missing)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range missingAt {
		id := ids[i]
		v := loaded[id] // none: kept as known-empty all the same
		children[i] = v
		if version, ok := loadedVersions[id]; !ok || version != versions[i] {
			continue // read at another version than the row's: answered, not kept
		}
		if _, ok := c.entries[id]; !ok && len(c.entries) >= c.max {
			for other := range c.entries { // evict an arbitrary entry
				delete(c.entries, other)
				break
			}
		}
		c.entries[id] = versioned[T]{version: versions[i], children: v}
	}
	return children, nil
}

func idsOf(rows []*Pornstar) []int64 {
	ids := make([]int64, len(rows))
	for i, p := range rows {
		ids[i] = p.ID
	}
	return ids
}

// AliasesOf returns the aliases of performers as a read returned them, in
// feed order, keyed by id: from the children cache where it holds them for
// the row's version, else from the read handle in one query.
func (s *Store) AliasesOf(ctx context.Context, rows []*Pornstar) (map[int64][]Alias, error) {
	out, err := s.aliases.readThrough(ctx, s.db.R, rows, s.loadAliases)
	return out, s.fail("load aliases", err)
}

// ThumbnailsOf returns the thumbnails of performers as a read returned them,
// in feed order, keyed by id: from the children cache where it holds them
// for the row's version, else from the read handle in one query.
func (s *Store) ThumbnailsOf(ctx context.Context, rows []*Pornstar) (map[int64][]Thumbnail, error) {
	out, err := s.thumbnails.readThrough(ctx, s.db.R, rows, s.loadThumbnails)
	return out, s.fail("load thumbnails", err)
}
