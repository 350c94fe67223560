package db

import (
	"context"
	"database/sql"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// FeedRecord is a feed-managed performer as the database holds it, rebuilt as
// the Profile that would produce it, for comparing the database with a feed.
type FeedRecord struct {
	Profile Profile
	Removed bool
}

// EachFeedRecord calls fn for every feed-managed performer (removed ones
// included), in feed id order, reading 500 at a time from the primary.
func (s *Store) EachFeedRecord(ctx context.Context, fn func(FeedRecord) error) error {
	const op = "export feed records"
	var after int64
	for {
		var rows []Pornstar
		err := s.db.W.NewSelect().Model(&rows).Where("p.external_id > ?", after).
			OrderExpr("p.external_id ASC").Limit(batchRows).Scan(ctx)
		if err != nil {
			return s.fail(op, err)
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]int64, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		aliases, _, err := s.loadAliases(ctx, s.db.W, ids)
		if err != nil {
			return s.fail(op, err)
		}
		thumbs, _, err := s.loadThumbnails(ctx, s.db.W, ids)
		if err != nil {
			return s.fail(op, err)
		}
		for _, r := range rows {
			p := Profile{
				SchemaVersion:  ProfileSchemaVersion,
				FeedID:         *r.ExternalID,
				PornstarFields: r.PornstarFields,
				Aliases:        aliasStrings(aliases[r.ID]),
				Thumbnails:     profileThumbnails(thumbs[r.ID]),
			}
			if err := fn(FeedRecord{Profile: p, Removed: r.RemovedAt != nil}); err != nil {
				return err
			}
		}
		after = *rows[len(rows)-1].ExternalID
	}
}

// ExportBatchRows is how many performers one batch of Export holds: what
// bounds the memory of an export, whatever the number of rows it streams.
const ExportBatchRows = batchRows

// ExportBatch is one batch of Export: performers in id order, with their
// aliases and thumbnails (in feed order, keyed by performer id) and the
// image rows of those thumbnails (keyed by URL hash; a hash missing from
// Images is pending), all read in the export's snapshot.
type ExportBatch struct {
	Items      []Pornstar
	Aliases    map[int64][]Alias
	Thumbnails map[int64][]Thumbnail
	Images     map[string]Image
}

// Export calls fn with every performer matching f, in id order, in batches
// of at most ExportBatchRows, and returns fn's first error. Every batch is
// read from the read handle in one read-only transaction (REPEATABLE READ on
// MySQL), so the whole export is the snapshot of the database at its first
// read: writes made while it runs neither repeat nor drop a row, and show in
// no batch. A filter the store refuses is ErrInvalid before fn is called.
// The transaction stays open until Export returns: fn should not dawdle
// (on SQLite, a long read holds back the checkpoints of the write-ahead log).
func (s *Store) Export(ctx context.Context, f Filter, fn func(*ExportBatch) error) error {
	const op = "export pornstars"
	if err := validateFilter(&f); err != nil {
		return s.fail(op, err)
	}
	opts := &sql.TxOptions{}
	if s.db.Dialect == dialect.MySQL {
		// Consistent reads of one REPEATABLE READ transaction see one snapshot.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.db.R.BeginTx(ctx, opts)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback() // read-only: ending it keeps and loses nothing
	var after int64
	for {
		batch, err := s.exportBatch(ctx, tx, &f, after)
		if err != nil {
			return s.fail(op, err)
		}
		if len(batch.Items) == 0 {
			return nil
		}
		if err := fn(batch); err != nil {
			return err
		}
		if len(batch.Items) < ExportBatchRows {
			return nil
		}
		after = batch.Items[len(batch.Items)-1].ID
	}
}

// exportBatch reads the next batch of Export: the performers after the id
// after, and their children.
func (s *Store) exportBatch(ctx context.Context, tx bun.Tx, f *Filter, after int64) (*ExportBatch, error) {
	batch := &ExportBatch{}
	q := tx.NewSelect().Model(&batch.Items)
	applyFilter(q, f)
	if err := q.Where("p.id > ?", after).OrderExpr("p.id ASC").Limit(ExportBatchRows).Scan(ctx); err != nil {
		return nil, err
	}
	if len(batch.Items) == 0 {
		return batch, nil
	}
	ids := make([]int64, len(batch.Items))
	for i := range batch.Items {
		ids[i] = batch.Items[i].ID
	}
	var err error
	if batch.Aliases, _, err = s.loadAliases(ctx, tx, ids); err != nil {
		return nil, err
	}
	if batch.Thumbnails, _, err = s.loadThumbnails(ctx, tx, ids); err != nil {
		return nil, err
	}
	var hashes []string
	seen := map[string]bool{}
	for _, id := range ids {
		for _, t := range batch.Thumbnails[id] {
			if !seen[t.URLHash] {
				seen[t.URLHash] = true
				hashes = append(hashes, t.URLHash)
			}
		}
	}
	if batch.Images, err = loadImages(ctx, tx, hashes); err != nil {
		return nil, err
	}
	return batch, nil
}
