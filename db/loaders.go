package db

import (
	"context"

	"github.com/uptrace/bun"
)

// Aliases returns the aliases of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Aliases(ctx context.Context, pornstarIDs []int64) (map[int64][]Alias, error) {
	out, err := s.loadAliases(ctx, s.db.R, pornstarIDs)
	return out, s.fail("load aliases", err)
}

// Thumbnails returns the thumbnails of many performers in one query (per 500
// performers), in their feed order, keyed by performer id.
func (s *Store) Thumbnails(ctx context.Context, pornstarIDs []int64) (map[int64][]Thumbnail, error) {
	out, err := s.loadThumbnails(ctx, s.db.R, pornstarIDs)
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

func (s *Store) loadAliases(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Alias, error) {
	out := make(map[int64][]Alias, len(ids))
	err := chunks(ids, func(part []int64) error {
		var rows []Alias
		if err := idb.NewSelect().Model(&rows).Where("a.pornstar_id IN (?)", bun.List(part)).
			Order("a.pornstar_id", "a.position").Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.PornstarID] = append(out[r.PornstarID], r)
		}
		return nil
	})
	return out, err
}

func (s *Store) loadThumbnails(ctx context.Context, idb bun.IDB, ids []int64) (map[int64][]Thumbnail, error) {
	out := make(map[int64][]Thumbnail, len(ids))
	err := chunks(ids, func(part []int64) error {
		var rows []Thumbnail
		if err := idb.NewSelect().Model(&rows).Where("t.pornstar_id IN (?)", bun.List(part)).
			Order("t.pornstar_id", "t.position").Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.PornstarID] = append(out[r.PornstarID], r)
		}
		return nil
	})
	return out, err
}
