package db

import "context"

// AliasesFromPrimary is Aliases read from the primary, for answering a write
// with what it wrote even where the read replica lags.
func (s *Store) AliasesFromPrimary(ctx context.Context, pornstarIDs []int64) (map[int64][]Alias, error) {
	out, _, err := s.loadAliases(ctx, s.db.W, pornstarIDs)
	return out, s.fail("load aliases", err)
}

// ThumbnailsFromPrimary is Thumbnails read from the primary, for answering a
// write with what it wrote even where the read replica lags.
func (s *Store) ThumbnailsFromPrimary(ctx context.Context, pornstarIDs []int64) (map[int64][]Thumbnail, error) {
	out, _, err := s.loadThumbnails(ctx, s.db.W, pornstarIDs)
	return out, s.fail("load thumbnails", err)
}

// ThumbnailURL returns the URL of a thumbnail whose URL hash is urlHash, or
// ErrNotFound when no performer has one: it tells a pending image (a
// thumbnail refers to it, Image has no row yet) from an unknown hash.
func (s *Store) ThumbnailURL(ctx context.Context, urlHash string) (string, error) {
	var url string
	err := s.db.R.NewSelect().Model((*Thumbnail)(nil)).Column("url").
		Where("t.url_hash = ?", urlHash).Order("t.id").Limit(1).Scan(ctx, &url)
	if err != nil {
		return "", s.fail("get thumbnail url", err)
	}
	return url, nil
}
