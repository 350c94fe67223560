package db

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"sync"

	"github.com/uptrace/bun"
)

// childrenCache keeps the aliases and thumbnails of performers by id and
// version, for both APIs. Every write of a performer's aliases or
// thumbnails bumps its version in the same transaction, and the cache keeps
// only children read in the same statement as the version they belong to
// (the loaders join pornstars), so an entry for a version is exactly what
// the database holds for that version: the cache is never stale, it only
// saves the queries of the relations. (The row a page shows and its
// children are read by separate statements, which may see different
// versions, for instance when reads move between a replica and the
// primary: such children are answered, as they would be without the cache,
// but not kept.) Image states are not kept: they change without a write to
// the performer.
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

// versionedLoad loads one relation of performers by id, with the version
// of each performer the relation was read at (read in the same statement);
// a performer missing from versions was not found.
type versionedLoad[T any] func(ctx context.Context, ids []int64) (children map[int64][]T, versions map[int64]int64, err error)

// readThrough returns rel of rows, keyed by id: from the cache where it
// holds them for the row's version, else loaded (in one call), and kept
// where they were read at the row's version.
func readThrough[T any](ctx context.Context, cc *childrenCache, rows []*Pornstar, rel relation[T], load versionedLoad[T]) (map[int64][]T, error) {
	if cc.max <= 0 {
		ids := make([]int64, len(rows))
		for i, p := range rows {
			ids[i] = p.ID
		}
		children, _, err := load(ctx, ids)
		return children, err
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
	loaded, versions, err := load(ctx, missing)
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
		if version, ok := versions[p.ID]; !ok || version != p.Version {
			continue // read at another version than the row's: answered, not kept
		}
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
	out, err := readThrough(ctx, s.children, rows, aliasesRelation, func(ctx context.Context, ids []int64) (map[int64][]Alias, map[int64]int64, error) {
		return s.loadVersionedAliases(ctx, s.db.R, ids)
	})
	return out, s.fail("load aliases", err)
}

// ThumbnailsOf returns the thumbnails of performers as a read returned them,
// in feed order, keyed by id: from the children cache where it holds them
// for the row's version, else from the read handle in one query.
func (s *Store) ThumbnailsOf(ctx context.Context, rows []*Pornstar) (map[int64][]Thumbnail, error) {
	out, err := readThrough(ctx, s.children, rows, thumbnailsRelation, func(ctx context.Context, ids []int64) (map[int64][]Thumbnail, map[int64]int64, error) {
		return s.loadVersionedThumbnails(ctx, s.db.R, ids)
	})
	return out, s.fail("load thumbnails", err)
}

// loadVersionedAliases is loadAliases with the versions of the performers,
// read in the same statement: a performer without aliases is one row with
// only its id and version. Sorted here rather than in SQL, where ordering
// the join costs MariaDB a temporary table (0.65 against 0.5 ms for a page's
// thumbnails); scanned by hand, as bun's reflection was most of the Go side
// of a page's relations.
func (s *Store) loadVersionedAliases(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Alias, map[int64]int64, error) {
	out, versions := make(map[int64][]Alias, len(ids)), make(map[int64]int64, len(ids))
	err := chunks(ids, func(part []int64) error {
		rows, err := idb.QueryContext(ctx, `SELECT p.id, p.version, a.id, a.position, a.alias, a.alias_key
			FROM pornstars AS p LEFT JOIN aliases AS a ON a.pornstar_id = p.id
			WHERE p.id IN (?)`, bun.List(part))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var owner, version int64
			var id sql.NullInt64
			var position sql.NullInt32
			var alias, key sql.NullString
			if err := rows.Scan(&owner, &version, &id, &position, &alias, &key); err != nil {
				return err
			}
			versions[owner] = version
			if id.Valid {
				out[owner] = append(out[owner], Alias{ID: id.Int64, PornstarID: owner, Position: position.Int32,
					Alias: alias.String, AliasKey: key.String})
			}
		}
		return rows.Err()
	})
	for _, aliases := range out {
		slices.SortFunc(aliases, func(a, b Alias) int { return cmp.Compare(a.Position, b.Position) })
	}
	return out, versions, err
}

// loadVersionedThumbnails is loadThumbnails with the versions of the
// performers, read in the same statement: a performer without thumbnails
// is one row with only its id and version.
func (s *Store) loadVersionedThumbnails(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Thumbnail, map[int64]int64, error) {
	out, versions := make(map[int64][]Thumbnail, len(ids)), make(map[int64]int64, len(ids))
	err := chunks(ids, func(part []int64) error {
		rows, err := idb.QueryContext(ctx, `SELECT p.id, p.version, t.id, t.position, t.type, t.width, t.height, t.url, t.url_hash
			FROM pornstars AS p LEFT JOIN thumbnails AS t ON t.pornstar_id = p.id
			WHERE p.id IN (?)`, bun.List(part))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var owner, version int64
			var id sql.NullInt64
			var position, width, height sql.NullInt32
			var typ, url, hash sql.NullString
			if err := rows.Scan(&owner, &version, &id, &position, &typ, &width, &height, &url, &hash); err != nil {
				return err
			}
			versions[owner] = version
			if id.Valid {
				t := Thumbnail{ID: id.Int64, PornstarID: owner, Position: position.Int32, Type: typ.String, URL: url.String, URLHash: hash.String}
				if width.Valid {
					t.Width = &width.Int32
				}
				if height.Valid {
					t.Height = &height.Int32
				}
				out[owner] = append(out[owner], t)
			}
		}
		return rows.Err()
	})
	for _, thumbs := range out {
		slices.SortFunc(thumbs, func(a, b Thumbnail) int { return cmp.Compare(a.Position, b.Position) })
	}
	return out, versions, err
}
