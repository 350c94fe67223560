package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Image returns the image row of one URL hash, ErrTakenDown when a takedown
// covers the hash, or ErrNotFound while the image is pending.
func (s *Store) Image(ctx context.Context, urlHash string) (*Image, error) {
	img := new(Image)
	err := s.db.R.NewSelect().Model(img).Where("i.url_hash = ?", urlHash).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		taken, terr := activeTakenDownHashes(ctx, s.db.R, []string{urlHash})
		switch {
		case terr != nil:
			err = terr
		case taken[urlHash]:
			err = ErrTakenDown
		}
	}
	if err != nil {
		return nil, s.fail("get image", err)
	}
	return img, nil
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
	out, err := loadImages(ctx, s.db.R, urlHashes)
	return out, s.fail("load images", err)
}

// loadImages reads the image rows of these URL hashes through idb, in one
// query per 500 hashes, keyed by hash.
func loadImages(ctx context.Context, idb bun.IDB, urlHashes []string) (map[string]Image, error) {
	out := make(map[string]Image, len(urlHashes))
	err := chunks(urlHashes, func(part []string) error {
		var rows []Image
		if err := idb.NewSelect().Model(&rows).Where("i.url_hash IN (?)", bun.List(part)).Scan(ctx); err != nil {
			return err
		}
		for _, r := range rows {
			out[r.URLHash] = r
		}
		return nil
	})
	return out, err
}

// UpsertImages records image outcomes from marquee.images. For each URL hash
// the outcome with the latest fetched_at wins, so replayed or reordered
// messages never undo a newer one; an identical outcome costs no write.
func (s *Store) UpsertImages(ctx context.Context, states []ImageState) error {
	const op = "upsert images"
	latest := make(map[string]ImageState, len(states))
	order := make([]string, 0, len(states))
	for i, st := range states {
		if err := ValidateImageState(&st); err != nil {
			return s.fail(op, fmt.Errorf("image %d: %w", i, err))
		}
		prev, seen := latest[st.URLHash]
		if !seen {
			order = append(order, st.URLHash)
		}
		if !seen || !fetchedAt(st).Before(fetchedAt(prev)) {
			latest[st.URLHash] = st
		}
	}
	if len(order) == 0 {
		return nil
	}
	return s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		var rows []Image
		err := chunks(order, func(part []string) error {
			var have []Image
			q := tx.NewSelect().Model(&have).Where("i.url_hash IN (?)", bun.List(part))
			if err := s.forUpdate(q).Scan(ctx); err != nil {
				return err
			}
			stored := make(map[string]Image, len(have))
			for _, h := range have {
				stored[h.URLHash] = h
			}
			takenDown, err := activeTakenDownHashes(ctx, tx, part)
			if err != nil {
				return err
			}
			for _, hash := range part {
				if takenDown[hash] {
					continue // a takedown keeps the hash without an outcome
				}
				st := latest[hash]
				if cur, ok := stored[hash]; ok && (fetchedAt(st).Before(fetchedAt(cur.ImageState)) || sameImageState(st, cur.ImageState)) {
					continue
				}
				rows = append(rows, Image{ImageState: st, Version: 1, CreatedAt: now, UpdatedAt: now})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := chunks(rows, func(part []Image) error { return s.upsertImageRows(ctx, tx, part) }); err != nil {
			return err
		}
		return s.touchPornstarsOfImages(ctx, tx, rows, now)
	})
}

// touchPornstarsOfImages sets updated_at of every performer with a thumbnail
// of these images: an image's state is part of the performer's
// representation, so a sync walk (updated_since) must see the change. The
// version stays: it counts writes to the performer, which If-Match guards.
// The thumbnails are read in the UPDATE itself, which on MySQL locks them: a
// profile load adding a thumbnail of one of these images waits for this
// transaction, so no performer reads pending after the image is cached
// without a later updated_at.
func (s *Store) touchPornstarsOfImages(ctx context.Context, tx bun.Tx, rows []Image, now time.Time) error {
	hashes := make([]string, len(rows))
	for i, r := range rows {
		hashes[i] = r.URLHash
	}
	return chunks(hashes, func(part []string) error {
		owners := tx.NewSelect().Model((*Thumbnail)(nil)).Column("pornstar_id").Where("url_hash IN (?)", bun.List(part))
		_, err := tx.NewUpdate().Model((*Pornstar)(nil)).Set("updated_at = ?", now).Where("id IN (?)", owners).Exec(ctx)
		return err
	})
}

var imageUpdateColumns = []string{
	"url", "status", "content_sha256", "content_type", "bytes", "width", "height", "attempts", "error", "fetched_at", "placeholder", "updated_at",
}

func (s *Store) upsertImageRows(ctx context.Context, tx bun.Tx, rows []Image) error {
	_, err := s.upsert(tx.NewInsert().Model(&rows), "i", "url_hash", imageUpdateColumns, true).Exec(ctx)
	return err
}

// maxPlaceholderLen is the longest placeholder stored: room for a BlurHash
// (4 + 2 characters per component) of far more components than a
// placeholder needs.
const maxPlaceholderLen = 128

// ValidateImageState reports what UpsertImages would refuse in st, as a
// *FieldError, and normalises fetched_at to UTC microseconds; the loader uses
// it to dead-letter one bad message instead of failing a batch.
func ValidateImageState(st *ImageState) error {
	if !IsSHA256Hex(st.URLHash) {
		return fieldError("url_hash", "must be 64 lowercase hex digits")
	}
	if st.Status != ImageCached && st.Status != ImageFailed {
		return fieldError("status", fmt.Sprintf("must be %q or %q", ImageCached, ImageFailed))
	}
	if err := checkText("url", st.URL, maxURLLen); err != nil {
		return err
	}
	if st.ContentSHA256 != nil && !IsSHA256Hex(*st.ContentSHA256) {
		return fieldError("content_sha256", "must be 64 lowercase hex digits")
	}
	if st.ContentType != nil {
		if err := checkText("content_type", *st.ContentType, 64); err != nil {
			return err
		}
	}
	if st.Placeholder != nil {
		if err := checkText("placeholder", *st.Placeholder, maxPlaceholderLen); err != nil {
			return err
		}
	}
	if st.Error != nil {
		// TEXT holds 64 KiB on MySQL: 16,000 characters of UTF-8 always fit.
		if err := checkText("error", *st.Error, 16000); err != nil {
			return err
		}
	}
	if st.FetchedAt != nil {
		t := st.FetchedAt.UTC().Truncate(time.Microsecond)
		st.FetchedAt = &t
	}
	return nil
}

func fetchedAt(st ImageState) time.Time {
	if st.FetchedAt == nil {
		return time.Time{}
	}
	return *st.FetchedAt
}

func sameImageState(a, b ImageState) bool {
	return a.URL == b.URL && a.Status == b.Status && eqPtr(a.ContentSHA256, b.ContentSHA256) &&
		eqPtr(a.ContentType, b.ContentType) && eqPtr(a.Bytes, b.Bytes) && eqPtr(a.Width, b.Width) &&
		eqPtr(a.Height, b.Height) && a.Attempts == b.Attempts && eqPtr(a.Error, b.Error) &&
		fetchedAt(a).Equal(fetchedAt(b)) && eqPtr(a.Placeholder, b.Placeholder)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// IsSHA256Hex reports whether s is 64 lowercase hex digits: a SHA-256 as
// Marquee writes it, URL hashes and content hashes alike.
func IsSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
