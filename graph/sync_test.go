package graph_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"marquee/db"
	"marquee/graph"
)

const updatedSinceQuery = `query($since: DateTime, $after: String) {
	pornstars(first: 2, after: $after, filter: {updatedSince: $since, removed: ANY}, orderBy: [{field: UPDATED_AT}]) {
		nodes { databaseId feedId version updatedAt removedAt deletedAt aliases }
		pageInfo { hasNextPage endCursor }
	}
}`

type syncPage struct {
	Pornstars struct {
		Nodes []struct {
			ID        int64      `json:"databaseId"`
			FeedID    int64      `json:"feedId"`
			Version   int64      `json:"version"`
			UpdatedAt time.Time  `json:"updatedAt"`
			RemovedAt *time.Time `json:"removedAt"`
			DeletedAt *time.Time `json:"deletedAt"`
			Aliases   []string   `json:"aliases"`
		} `json:"nodes"`
		PageInfo struct {
			HasNextPage bool   `json:"hasNextPage"`
			EndCursor   string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"pornstars"`
}

// TestUpdatedSince: updatedSince with removed: ANY, walked in updatedAt
// order page by page, finds the performers written since, the removed one
// and the deleted one included, and as REST's updated_since does.
func TestUpdatedSince(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		golf := loadFixture(t, s)
		e := newEnv(t, s, graph.Options{})
		var lastSeen time.Time
		var deleted []int64
		walk := func(since time.Time) []int64 {
			var feedIDs []int64
			after := any(nil)
			for range 100 {
				page := decode[syncPage](t, e.query(t, updatedSinceQuery, map[string]any{"since": since.Format(time.RFC3339Nano), "after": after}))
				for _, n := range page.Pornstars.Nodes {
					if n.UpdatedAt.Before(since) {
						t.Errorf("feed id %d updated at %s, before %s", n.FeedID, n.UpdatedAt, since)
					}
					feedIDs = append(feedIDs, n.FeedID)
					if n.DeletedAt != nil {
						if n.RemovedAt == nil || len(n.Aliases) != 0 {
							t.Errorf("deleted performer %d: removedAt %v, aliases %v; want set and none", n.ID, n.RemovedAt, n.Aliases)
						}
						deleted = append(deleted, n.ID)
					}
					if n.UpdatedAt.After(lastSeen) {
						lastSeen = n.UpdatedAt
					}
				}
				if !page.Pornstars.PageInfo.HasNextPage {
					return feedIDs
				}
				after = page.Pornstars.PageInfo.EndCursor
			}
			t.Fatal("more than 100 pages")
			return nil
		}
		all := walk(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
		if len(all) != len(fixtureProfiles())+1 { // and Golf, made through the API
			t.Fatalf("every performer since 2000: %v", all)
		}
		// Three performers written later, after every row seen: one changed,
		// one removed, and Golf deleted through the API.
		since := lastSeen.Add(time.Microsecond)
		changed := fixtureProfiles()[0]
		changed.Views = ptr(int64(123_456))
		if _, err := s.UpsertProfiles(context.Background(), []db.Profile{changed}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkRemoved(context.Background(), []int64{2}); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(context.Background(), golf, nil); err != nil {
			t.Fatal(err)
		}
		got := walk(since)
		slices.Sort(got)
		if !slices.Equal(got, []int64{0, 1, 2}) {
			t.Errorf("since the writes: feed ids %v, want [0 1 2] (0: Golf, who has none)", got)
		}
		if want := []int64{golf}; !slices.Equal(deleted, want) {
			t.Errorf("deleted performers %v, want %v", deleted, want)
		}
	})
}

// TestUpdatedSinceBadInput: a value that is no RFC 3339 time, or one no
// row holds, is BAD_USER_INPUT.
func TestUpdatedSinceBadInput(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		e := newEnv(t, s, graph.Options{})
		for _, tc := range []struct{ name, since string }{
			{"not a time", "yesterday"},
			{"a date alone", "2024-05-01"},
			{"no offset", "2024-05-01T12:00:00"},
			{"before any time stored", "0999-12-31T23:59:59Z"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.do(t, request{query: updatedSinceQuery, variables: map[string]any{"since": tc.since}})
				if len(res.Errors) != 1 || res.Errors[0].code() != "BAD_USER_INPUT" || res.Status == http.StatusInternalServerError {
					t.Errorf("updatedSince %q: %d %s", tc.since, res.Status, res.Raw)
				}
			})
		}
	})
}
