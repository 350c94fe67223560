package db

import "context"

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
