package db

import (
	"context"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// imageGCMark is one row of image_gc_marks: the image collector's own
// evidence of when the stored bytes with one content hash were last used.
type imageGCMark struct {
	bun.BaseModel `bun:"table:image_gc_marks,alias:igm"`

	ContentSHA256 string    `bun:"content_sha256,pk"`
	SeenUsedAt    time.Time `bun:"seen_used_at"`
}

// ContentUse is how the stored bytes with one content hash are used, as the
// image garbage collector judges them.
type ContentUse struct {
	// Recorded: an images or image_fetches row names these bytes.
	Recorded bool
	// Active: a thumbnail of a performer that is neither removed nor
	// deleted has a URL hash whose record names these bytes.
	Active bool
	// Referenced: a thumbnail of a removed performer does.
	Referenced bool
	// LastUsed, when not Active, is the latest sign of use: a removed
	// performer's removed_at, a record's updated_at (fetching or loading
	// the bytes is a use), the collector's mark. Zero when none exists.
	LastUsed time.Time
	// Marked: the collector has evidence of its own (NoteContentUse).
	Marked bool
	// URLHashes are the URL hashes whose records name these bytes.
	URLHashes []string
}

// contentUseRow is one (record, thumbnail, performer) combination of a
// content hash.
type contentUseRow struct {
	ContentSHA256 string     `bun:"content_sha256"`
	URLHash       string     `bun:"url_hash"`
	UpdatedAt     time.Time  `bun:"updated_at"`
	PornstarID    *int64     `bun:"pornstar_id"`
	RemovedAt     *time.Time `bun:"removed_at"`
	DeletedAt     *time.Time `bun:"deleted_at"`
}

// ContentUses returns how the bytes with each of these content hashes are
// used, read from the primary; a hash no record names is absent.
func (s *Store) ContentUses(ctx context.Context, contents []string) (map[string]ContentUse, error) {
	out, err := contentUses(ctx, s.db.W, contents)
	return out, s.fail("load image content uses", err)
}

func contentUses(ctx context.Context, idb bun.IDB, contents []string) (map[string]ContentUse, error) {
	out := make(map[string]ContentUse, len(contents))
	err := chunks(contents, func(part []string) error {
		for _, table := range []string{"images", "image_fetches"} {
			var rows []contentUseRow
			err := idb.NewSelect().TableExpr("? AS r", bun.Ident(table)).
				ColumnExpr("r.content_sha256, r.url_hash, r.updated_at, p.id AS pornstar_id, p.removed_at, p.deleted_at").
				Join("LEFT JOIN thumbnails AS t ON t.url_hash = r.url_hash").
				Join("LEFT JOIN pornstars AS p ON p.id = t.pornstar_id").
				Where("r.content_sha256 IN (?)", bun.List(part)).Scan(ctx, &rows)
			if err != nil {
				return err
			}
			for _, r := range rows {
				use := out[r.ContentSHA256]
				use.Recorded = true
				if !slices.Contains(use.URLHashes, r.URLHash) {
					use.URLHashes = append(use.URLHashes, r.URLHash)
				}
				use.LastUsed = later(use.LastUsed, r.UpdatedAt)
				switch {
				case r.PornstarID == nil || r.DeletedAt != nil:
				case r.RemovedAt == nil:
					use.Active = true
				default:
					use.Referenced = true
					use.LastUsed = later(use.LastUsed, *r.RemovedAt)
				}
				out[r.ContentSHA256] = use
			}
		}
		var marks []imageGCMark
		if err := idb.NewSelect().Model(&marks).Where("igm.content_sha256 IN (?)", bun.List(part)).Scan(ctx); err != nil {
			return err
		}
		for _, m := range marks {
			if use, ok := out[m.ContentSHA256]; ok {
				use.Marked = true
				use.LastUsed = later(use.LastUsed, m.SeenUsedAt)
				out[m.ContentSHA256] = use
			}
		}
		return nil
	})
	for hash, use := range out {
		if use.Active {
			use.LastUsed = time.Time{}
			out[hash] = use
		}
	}
	return out, err
}

// NoteContentUse records the collector's evidence at the time at: the bytes
// of active are in use now; those of unknown are unused, with no other sign
// of when they were last used, so their clock starts at at unless it
// started before.
func (s *Store) NoteContentUse(ctx context.Context, at time.Time, active, unknown []string) error {
	const op = "note image content use"
	at = at.UTC().Truncate(time.Microsecond)
	rows := func(hashes []string) ([]imageGCMark, error) {
		out := make([]imageGCMark, len(hashes))
		for i, h := range hashes {
			if !IsSHA256Hex(h) {
				return nil, fieldError("content_sha256", "must be 64 lowercase hex digits")
			}
			out[i] = imageGCMark{ContentSHA256: h, SeenUsedAt: at}
		}
		return out, nil
	}
	used, err := rows(active)
	if err != nil {
		return s.fail(op, err)
	}
	fresh, err := rows(unknown)
	if err != nil {
		return s.fail(op, err)
	}
	return s.inLedgerTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		err := chunks(used, func(part []imageGCMark) error {
			_, err := s.upsert(tx.NewInsert().Model(&part), "igm", "content_sha256", []string{"seen_used_at"}, false).Exec(ctx)
			return err
		})
		if err != nil {
			return err
		}
		return chunks(fresh, func(part []imageGCMark) error {
			_, err := s.insertSkippingConflicts(tx.NewInsert().Model(&part), "content_sha256").Exec(ctx)
			return err
		})
	})
}

// OpenImageClaims returns the URL hashes that a compactor is fetching now
// (a claim whose lease has not ended at now): each may yet record any bytes.
func (s *Store) OpenImageClaims(ctx context.Context, now time.Time) (map[string]bool, error) {
	var hashes []string
	err := s.db.W.NewSelect().Model((*ImageFetch)(nil)).Column("url_hash").
		Where("status = ?", FetchClaimed).Where("lease_until > ?", now.UTC().Truncate(time.Microsecond)).Scan(ctx, &hashes)
	if err != nil {
		return nil, s.fail("load open image claims", err)
	}
	out := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		out[h] = true
	}
	return out, nil
}

// ForgetContent deletes every record of the bytes with this content hash
// (their images and image_fetches rows, and the collector's mark), so that
// the next feed run that carries one of their URLs requests it again, when,
// checked in the same transaction, no active performer uses them and their
// last use is before unusedBefore. It reports whether the bytes are left
// without a record (also when they had none), and touches the performers
// whose thumbnails show the images, as every change of an image state does.
func (s *Store) ForgetContent(ctx context.Context, contentSHA256 string, unusedBefore time.Time) (forgotten bool, err error) {
	const op = "forget image content"
	if !IsSHA256Hex(contentSHA256) {
		return false, s.fail(op, fieldError("content_sha256", "must be 64 lowercase hex digits"))
	}
	err = s.inTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		forgotten = false
		// Lock the records (MySQL): a loader or compactor writing one of
		// them now waits for the decision, and then writes it again.
		for _, table := range []string{"images", "image_fetches"} {
			var locked []string
			q := tx.NewSelect().TableExpr("?", bun.Ident(table)).Column("url_hash").Where("content_sha256 = ?", contentSHA256)
			if err := s.forUpdate(q).Scan(ctx, &locked); err != nil {
				return err
			}
		}
		uses, err := contentUses(ctx, tx, []string{contentSHA256})
		if err != nil {
			return err
		}
		use, recorded := uses[contentSHA256]
		if recorded && (use.Active || !use.LastUsed.Before(unusedBefore)) {
			return nil
		}
		forgotten = true
		if !recorded {
			return nil
		}
		now := s.now()
		var shown []Image
		for _, h := range use.URLHashes {
			shown = append(shown, Image{ImageState: ImageState{URLHash: h}})
		}
		if err := s.touchPornstarsOfImages(ctx, tx, shown, now); err != nil {
			return err
		}
		for _, model := range []any{(*Image)(nil), (*ImageFetch)(nil)} {
			if _, err := tx.NewDelete().Model(model).Where("content_sha256 = ?", contentSHA256).Exec(ctx); err != nil {
				return err
			}
		}
		_, err = tx.NewDelete().Model((*imageGCMark)(nil)).Where("content_sha256 = ?", contentSHA256).Exec(ctx)
		return err
	})
	return forgotten, err
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
