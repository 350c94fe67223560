package db_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"marquee/db"
)

func TestPublishedHashes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		hash := func(c string) string { return strings.Repeat(c, 64) }

		got, err := s.PublishedHashes(ctx)
		if err != nil || len(got) != 0 {
			t.Fatalf("empty store: got %v, %v", got, err)
		}
		steps := []struct {
			name    string
			publish []db.Published
			want    map[int64]string
		}{
			{"first publication", []db.Published{{FeedID: 1, ContentHash: hash("a")}, {FeedID: 2, ContentHash: hash("b")}},
				map[int64]string{1: hash("a"), 2: hash("b")}},
			{"a changed profile replaces its hash", []db.Published{{FeedID: 2, ContentHash: hash("c")}},
				map[int64]string{1: hash("a"), 2: hash("c")}},
			{"a tombstone leaves the performer out", []db.Published{{FeedID: 1}},
				map[int64]string{2: hash("c")}},
			{"a returning performer is back", []db.Published{{FeedID: 1, ContentHash: hash("a")}, {FeedID: 3, ContentHash: hash("d")}},
				map[int64]string{1: hash("a"), 2: hash("c"), 3: hash("d")}},
			{"nothing published changes nothing", nil,
				map[int64]string{1: hash("a"), 2: hash("c"), 3: hash("d")}},
		}
		for _, step := range steps {
			if err := s.RecordPublished(ctx, step.publish); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			got, err := s.PublishedHashes(ctx)
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if !maps.Equal(got, step.want) {
				t.Fatalf("%s: got %v, want %v", step.name, got, step.want)
			}
		}
	})
}
