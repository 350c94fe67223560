package db

import (
	"cmp"
	"context"
	"database/sql"
	"slices"

	"github.com/uptrace/bun"
)

// Aliases returns the aliases of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Aliases(ctx context.Context, pornstarIDs []int64) (map[int64][]Alias, error) {
	out, _, err := s.loadAliases(ctx, s.db.R, pornstarIDs)
	return out, s.fail("load aliases", err)
}

// Thumbnails returns the thumbnails of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Thumbnails(ctx context.Context, pornstarIDs []int64) (map[int64][]Thumbnail, error) {
	out, _, err := s.loadThumbnails(ctx, s.db.R, pornstarIDs)
	return out, s.fail("load thumbnails", err)
}

// ImagesForPornstars returns the image rows of every thumbnail of many
// performers in one query, keyed by URL hash. A thumbnail whose hash is
// missing from the map is pending.
func (s *Store) ImagesForPornstars(ctx context.Context, pornstarIDs []int64) (map[string]Image, error) {
	out := make(map[string]Image)
	err := chunks(pornstarIDs, func(part []int64) error {
		var rows []Image
		sub := s.db.R.NewSelect().Model((*Thumbnail)(nil)).Column("url_hash").Where("pornstar_id IN (?)", bun.List(part))
		if err := s.db.R.NewSelect().Model(&rows).Where("i.url_hash IN (?)", sub).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.URLHash] = r
		}
		return nil
	})
	return out, s.fail("load images", err)
}

// Images returns the image rows of these URL hashes, keyed by hash; missing
// hashes are pending.
func (s *Store) Images(ctx context.Context, urlHashes []string) (map[string]Image, error) {
	out := make(map[string]Image, len(urlHashes))
	err := chunks(urlHashes, func(part []string) error {
		var rows []Image
		if err := s.db.R.NewSelect().Model(&rows).Where("i.url_hash IN (?)", bun.List(part)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.URLHash] = r
		}
		return nil
	})
	return out, s.fail("load images", err)
}

// loadAliases reads the aliases of performers in one query per 500, keyed
// by performer id, in feed order, with each performer's version read in the
// same statement (what the children cache keeps them under): a performer
// without aliases is one row with only its id and version. Sorted here rather than in SQL, where ordering
// the join costs MariaDB a temporary table; scanned by hand, as bun's reflection was most of the Go side
// of a page's relations.
func (s *Store) loadAliases(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Alias, map[int64]int64, error) {
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

// loadThumbnails reads the thumbnails of performers like loadAliases.
func (s *Store) loadThumbnails(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Thumbnail, map[int64]int64, error) {
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
