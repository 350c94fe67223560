package db

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// publishedProfile is one row of published_profiles.
type publishedProfile struct {
	bun.BaseModel `bun:"table:published_profiles,alias:pp"`

	FeedID      int64     `bun:"feed_id,pk"`
	ContentHash *string   `bun:"content_hash"`
	PublishedAt time.Time `bun:"published_at"`
}

// Published is what ingest published for one performer: a profile with its
// content hash, or a tombstone (Removed).
type Published struct {
	FeedID      int64
	ContentHash string // empty for a tombstone
}

// PublishedHashes returns, from the primary, the content hash ingest last
// published for every performer that is in the feed (tombstoned ones are left
// out), keyed by feed id.
func (s *Store) PublishedHashes(ctx context.Context) (map[int64]string, error) {
	var rows []publishedProfile
	err := s.db.W.NewSelect().Model(&rows).Column("feed_id", "content_hash").Where("pp.content_hash IS NOT NULL").Scan(ctx)
	if err != nil {
		return nil, s.fail("load published hashes", err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.FeedID] = *r.ContentHash
	}
	return out, nil
}

// RecordPublished remembers what ingest published, once Kafka acknowledged it.
func (s *Store) RecordPublished(ctx context.Context, published []Published) error {
	if len(published) == 0 {
		return nil
	}
	now := s.now()
	rows := make([]publishedProfile, len(published))
	for i, p := range published {
		rows[i] = publishedProfile{FeedID: p.FeedID, PublishedAt: now}
		if p.ContentHash != "" {
			hash := p.ContentHash
			rows[i].ContentHash = &hash
		}
	}
	return s.inLedgerTx(ctx, "record published", func(ctx context.Context, tx bun.Tx) error {
		return chunks(rows, func(part []publishedProfile) error {
			q := s.upsert(tx.NewInsert().Model(&part), "pp", "feed_id", []string{"content_hash", "published_at"}, false)
			_, err := q.Exec(ctx)
			return err
		})
	})
}
