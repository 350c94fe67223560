package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/graph"
	"marquee/internal/testkit"
)

// TestQueryCount: a page of performers with their aliases, thumbnails and
// images costs the same number of SQL statements whatever its size: one
// for the page, one per relation (with the store's children cache off, so
// every page reads its relations).
func TestQueryCount(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		s.SetChildrenCacheEntries(0)
		loadRankedPerformers(t, s, 150)
		e := newEnv(t, s, graph.Options{})
		counter := testkit.LogStatements(s)
		shapes := []struct {
			name  string
			query string
			max   int
		}{
			{"aliases, thumbnails, images", `{ pornstars(first: %d) { edges { node { aliases thumbnails { image { status } } } } } }`, 4},
			{"with totalCount and pageInfo", `{ pornstars(first: %d) { totalCount pageInfo { hasNextPage } edges { cursor node { name aliases thumbnails { url image { status url } } } } } }`, 5},
			{"nodes and edges both", `{ pornstars(first: %d) { nodes { aliases } edges { node { aliases thumbnails { type } } } } }`, 3},
		}
		for _, shape := range shapes {
			t.Run(shape.name, func(t *testing.T) {
				var counts []int
				for _, size := range []int{1, 10, 100} {
					counter.Take()
					raw := e.query(t, fmt.Sprintf(shape.query, size), nil)
					statements := counter.Take()
					if got := strings.Count(string(raw), `"aliases":[`) + strings.Count(string(raw), `"url":"https`); got < size {
						t.Fatalf("size %d: the response lacks rows: %.300s", size, raw)
					}
					counts = append(counts, len(statements))
					if len(statements) > shape.max {
						t.Errorf("size %d: %d statements, want at most %d:\n%s", size, len(statements), shape.max, strings.Join(statements, "\n"))
					}
				}
				if counts[0] != counts[1] || counts[1] != counts[2] {
					t.Errorf("statements per page size 1, 10, 100: %v; the count must not grow", counts)
				}
				t.Logf("statements per page of 1, 10, 100: %v", counts)
			})
		}
	})
}

// TestQueryCountCached: with the store's children cache, a page whose
// performers' aliases and thumbnails were read before costs 2 statements:
// the page, and the image states, which are always read.
func TestQueryCountCached(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadRankedPerformers(t, s, 150)
		e := newEnv(t, s, graph.Options{})
		counter := testkit.LogStatements(s)
		const query = `{ pornstars(first: 100) { edges { node { aliases thumbnails { image { status } } } } } }`
		var counts []int
		for range 2 {
			counter.Take()
			e.query(t, query, nil)
			counts = append(counts, len(counter.Take()))
		}
		if counts[0] != 4 || counts[1] != 2 {
			t.Errorf("statements of the same page twice: %v, want [4 2]", counts)
		}
	})
}

// loadRankedPerformers writes n feed performers with ranks 1..n, three
// aliases and three thumbnails each (URLs of their own, every third image
// cached, every third failed).
func loadRankedPerformers(t testing.TB, s *db.Store, n int) {
	t.Helper()
	ctx := context.Background()
	profiles := make([]db.Profile, n)
	var images []db.ImageState
	now := time.Now().UTC()
	for i := range profiles {
		url := fmt.Sprintf("https://ei.phncdn.com/pics/pornstars/%06d/(m=x)thumb_%d.jpg", i, i)
		profiles[i] = db.Profile{
			FeedID:         int64(i + 1),
			PornstarFields: db.PornstarFields{Name: fmt.Sprintf("Performer %03d", i), Rank: ptr(int64(i + 1)), Views: ptr(int64(i * 7))},
			Aliases:        []string{fmt.Sprintf("P%d", i), fmt.Sprintf("Perf %d", i), fmt.Sprintf("p-%d", i)},
			Thumbnails:     thumbs(url),
		}
		switch i % 3 {
		case 0:
			images = append(images, db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached, Attempts: 1, FetchedAt: &now})
		case 1:
			images = append(images, db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageFailed, Attempts: 5, FetchedAt: &now})
		}
	}
	if _, err := s.UpsertProfiles(ctx, profiles); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertImages(ctx, images); err != nil {
		t.Fatal(err)
	}
}
