package db

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// ImageVariant is one row of image_variants: one rendered variant of a
// cached original, stored under Key in the variant store.
type ImageVariant struct {
	bun.BaseModel `bun:"table:image_variants,alias:iv"`

	Key           string `bun:"variant_key,pk"`
	ContentSHA256 string `bun:"content_sha256"`
	// VariantSHA256 is the SHA-256 of the variant's bytes: its ETag.
	VariantSHA256 string    `bun:"variant_sha256"`
	ContentType   string    `bun:"content_type"`
	Bytes         int64     `bun:"bytes"`
	Width         int32     `bun:"width"`
	Height        int32     `bun:"height"`
	CreatedAt     time.Time `bun:"created_at"`
	LastUsedAt    time.Time `bun:"last_used_at"`
}

// The variant index is the API's cache bookkeeping, not data: its reads go
// to the primary (the process that rendered a variant reads it back at once)
// and its writes do not bump the data version, so rendering a variant never
// invalidates cached API answers.

// ImageVariant returns the variant stored under key, or ErrNotFound.
func (s *Store) ImageVariant(ctx context.Context, key string) (*ImageVariant, error) {
	v := new(ImageVariant)
	err := s.db.W.NewSelect().Model(v).Where("iv.variant_key = ?", key).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, s.fail("get image variant", err)
	}
	return v, nil
}

// PutImageVariant records a stored variant, replacing the row of its key
// (two processes may render the same variant; the last one's row stays).
func (s *Store) PutImageVariant(ctx context.Context, v ImageVariant) error {
	v.CreatedAt = v.CreatedAt.UTC().Truncate(time.Microsecond)
	v.LastUsedAt = v.LastUsedAt.UTC().Truncate(time.Microsecond)
	q := s.upsert(s.db.W.NewInsert().Model(&v), "iv", "variant_key",
		[]string{"content_sha256", "variant_sha256", "content_type", "bytes", "width", "height", "created_at", "last_used_at"}, false)
	_, err := q.Exec(ctx)
	return s.fail("put image variant", err)
}

// TouchImageVariants marks these variants used at at (never moving a mark
// back), for the least-recently-used eviction.
func (s *Store) TouchImageVariants(ctx context.Context, keys []string, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	err := chunks(keys, func(part []string) error {
		_, err := s.db.W.NewUpdate().Model((*ImageVariant)(nil)).Set("last_used_at = ?", at).
			Where("variant_key IN (?)", bun.List(part)).Where("last_used_at < ?", at).Exec(ctx)
		return err
	})
	return s.fail("touch image variants", err)
}

// ImageVariantBytes is the sum of the bytes of every stored variant.
func (s *Store) ImageVariantBytes(ctx context.Context) (int64, error) {
	var total sql.NullInt64
	err := s.db.W.NewSelect().Model((*ImageVariant)(nil)).ColumnExpr("SUM(bytes)").Scan(ctx, &total)
	return total.Int64, s.fail("sum image variant bytes", err)
}

// LeastRecentlyUsedImageVariants returns up to limit variants, the least
// recently used first.
func (s *Store) LeastRecentlyUsedImageVariants(ctx context.Context, limit int) ([]ImageVariant, error) {
	var rows []ImageVariant
	err := s.db.W.NewSelect().Model(&rows).Order("iv.last_used_at ASC", "iv.variant_key ASC").Limit(int64(limit)).Scan(ctx)
	return rows, s.fail("list least recently used image variants", err)
}

// ImageVariantsOf returns every variant of the original with this content hash.
func (s *Store) ImageVariantsOf(ctx context.Context, contentSHA256 string) ([]ImageVariant, error) {
	var rows []ImageVariant
	err := s.db.W.NewSelect().Model(&rows).Where("iv.content_sha256 = ?", contentSHA256).Order("iv.variant_key").Scan(ctx)
	return rows, s.fail("list image variants", err)
}

// DeleteImageVariants forgets the variants stored under these keys; keys
// with no row are no error.
func (s *Store) DeleteImageVariants(ctx context.Context, keys []string) error {
	err := chunks(keys, func(part []string) error {
		_, err := s.db.W.NewDelete().Model((*ImageVariant)(nil)).Where("variant_key IN (?)", bun.List(part)).Exec(ctx)
		return err
	})
	return s.fail("delete image variants", err)
}
