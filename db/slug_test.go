package db_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// linked is a feed profile whose link ends in segment.
func linked(feedID int64, name, segment string) db.Profile {
	p := bareProfile(feedID, name)
	p.Link = ptr("https://www.pornhub.com/pornstar/" + segment)
	return p
}

// slugOf returns the stored slug of the performer with this feed id.
func slugOf(t testing.TB, s *db.Store, feedID int64) string {
	t.Helper()
	return mustGetByFeedID(t, s, feedID).Slug
}

// TestSlugs: a performer's slug comes from its link, else its name; a
// clash takes the smallest free suffix from -2 in creation order, within a
// batch and across batches; and a slug never changes while its performer
// exists.
func TestSlugs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s,
			linked(1, "Aaliyah Jolie", "aaliyah-jolie"),
			linked(2, "Someone Else", "Aaliyah-Jolie"),
			bareProfile(3, "Aaliyah Jolie"),
			bareProfile(4, "葵つかさ"),
			bareProfile(5, "Performer"),
			linked(6, "Mia Two", "mia-2"),
			linked(7, "Zoë", "zo%C3%AB"),
		)
		mustUpsert(t, s,
			bareProfile(8, "Mia"),
			linked(9, "Mia Again", "mia"),
			linked(10, "Mia Third", "MIA"),
			linked(11, "Aaliyah", "aaliyah-jolie"),
			bareProfile(12, "さくら"),
		)
		api := mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Aaliyah Jolie"}})
		// A record made through the API is named by its name, whatever link it has.
		apiLinked := mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Sora", Link: ptr("https://example.test/pornstar/other")}})

		want := map[int64]string{
			1: "aaliyah-jolie", 2: "aaliyah-jolie-2", 3: "aaliyah-jolie-3", 4: "performer", 5: "performer-2",
			6: "mia-2", 7: "zoe", 8: "mia", 9: "mia-3", 10: "mia-4", 11: "aaliyah-jolie-4", 12: "performer-3",
		}
		check := func(t *testing.T) {
			t.Helper()
			for feedID, slug := range want {
				if got := slugOf(t, s, feedID); got != slug {
					t.Errorf("feed id %d: slug %q, want %q", feedID, got, slug)
				}
			}
			for id, slug := range map[int64]string{api.ID: "aaliyah-jolie-5", apiLinked.ID: "sora"} {
				p, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if p.Slug != slug {
					t.Errorf("API record %d: slug %q, want %q", id, p.Slug, slug)
				}
			}
		}
		t.Run("given at creation", check)
		if api.Slug != "aaliyah-jolie-5" {
			t.Errorf("Create answers slug %q, want aaliyah-jolie-5", api.Slug)
		}

		// Changes of link and name, removal and return, API edits: no slug moves.
		renamed := linked(1, "Aaliyah Renamed", "aaliyah-renamed")
		renamed.Age = ptr(int32(30))
		mustUpsert(t, s, renamed, linked(3, "New Name", "new-name"))
		if _, err := s.MarkRemoved(ctx, []int64{2, 6}); err != nil {
			t.Fatal(err)
		}
		mustUpsert(t, s, linked(6, "Mia Two Back", "mia-two-back"))
		for _, id := range []int64{api.ID, mustGetByFeedID(t, s, 5).ID} {
			if _, err := s.Update(ctx, id, db.PornstarPatch{Name: db.Some("Renamed Through The API"), Link: db.Some(ptr("https://example.test/x"))}, nil); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("unchanged by feed changes, removal, return and API edits", check)

		// The renamed performer still holds its slug: a newcomer asking for
		// it gets the next free one.
		mustUpsert(t, s, linked(13, "Newcomer", "aaliyah-jolie"), linked(14, "New Name Too", "new-name"))
		t.Run("a freed name is still taken", func(t *testing.T) {
			if got := slugOf(t, s, 13); got != "aaliyah-jolie-6" {
				t.Errorf("newcomer's slug %q, want aaliyah-jolie-6", got)
			}
			if got := slugOf(t, s, 14); got != "new-name" {
				t.Errorf("slug %q, want new-name: performer 3 kept aaliyah-jolie-3", got)
			}
		})

		// A deleted API record's row stays as a tombstone for sync walks,
		// and its slug with it: an old URL never names another performer.
		t.Run("a deleted API record's slug stays taken", func(t *testing.T) {
			if err := s.Delete(ctx, apiLinked.ID, nil); err != nil {
				t.Fatal(err)
			}
			again := mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Sora"}})
			if again.Slug != "sora-2" {
				t.Errorf("slug %q, want sora-2", again.Slug)
			}
		})
	})
}

func TestGetBySlug(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, linked(1, "Aaliyah Jolie", "aaliyah-jolie"), linked(2, "Gone", "gone"))
		if _, err := s.MarkRemoved(ctx, []int64{2}); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name   string
			slug   string
			feedID int64 // 0: not found
		}{
			{"a slug", "aaliyah-jolie", 1},
			{"a removed performer, as by id", "gone", 2},
			{"no such slug", "nobody", 0},
			{"upper case: not a slug", "Aaliyah-Jolie", 0},
			{"empty", "", 0},
			{"SQL metacharacters", "' OR 1=1 --", 0},
			{"too long", strings.Repeat("a", 129), 0},
			{"not UTF-8", "a\xff", 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := s.GetBySlug(ctx, tt.slug)
				if tt.feedID == 0 {
					if !errors.Is(err, db.ErrNotFound) {
						t.Errorf("GetBySlug(%q) = %+v, %v; want ErrNotFound", tt.slug, p, err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if byID := mustGetByFeedID(t, s, tt.feedID); p.ID != byID.ID || p.Version != byID.Version || p.Name != byID.Name {
					t.Errorf("GetBySlug(%q) = %+v, want %+v", tt.slug, p, byID)
				}
			})
		}
	})
}

// TestMigrateBackfillsSlugs: rows without a slug (a database from before
// slugs) get the slugs they would have had, in creation order, and the
// others keep theirs.
func TestMigrateBackfillsSlugs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		var profiles []db.Profile
		for i := range int64(1200) { // more than one backfill batch
			profiles = append(profiles, linked(i+1, fmt.Sprintf("P %d", i), fmt.Sprintf("p-%d", i%7)))
		}
		profiles = append(profiles, bareProfile(2000, "Ünal"), bareProfile(2001, "ÜNAL"))
		mustUpsert(t, s, profiles...)
		mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "p 3"}})
		before := allSlugs(t, s)
		if _, err := s.DB().W.NewUpdate().Model((*db.Pornstar)(nil)).Set("slug = NULL").Where("id % 3 <> 1").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB().Migrate(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		after := allSlugs(t, s)
		if !maps.Equal(before, after) {
			for id, slug := range before {
				if after[id] != slug {
					t.Errorf("id %d: slug %q after the backfill, %q before", id, after[id], slug)
				}
			}
		}
		if before[mustGetByFeedID(t, s, 2001).ID] != "unal-2" {
			t.Errorf("the second Ünal has %q", before[mustGetByFeedID(t, s, 2001).ID])
		}
	})
}

// allSlugs maps every performer's id to its slug.
func allSlugs(t *testing.T, s *db.Store) map[int64]string {
	t.Helper()
	var rows []db.Pornstar
	if err := s.DB().W.NewSelect().Model(&rows).Column("id", "slug").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := make(map[int64]string, len(rows))
	for _, r := range rows {
		out[r.ID] = r.Slug
	}
	return out
}

// TestSlugsConcurrentWriters: two stores (two loaders, or a loader and the
// API) create performers asking for the same slugs at once. Every write
// succeeds and every performer has its own slug: the unique index refuses
// a slug both claimed, and the loser writes again with the winner's in
// view.
func TestSlugsConcurrentWriters(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			url := b.URL(t)
			stores := []*db.Store{testkit.OpenStore(t, url), testkit.OpenStore(t, url)}
			const batches, perBatch, families = 8, 25, 4
			var wg sync.WaitGroup
			errs := make(chan error, len(stores)*batches*2)
			for w, s := range stores {
				wg.Go(func() {
					for batch := range batches {
						var profiles []db.Profile
						for i := range perBatch {
							feedID := int64(w*100_000 + batch*1000 + i + 1)
							profiles = append(profiles, linked(feedID, fmt.Sprintf("P %d", feedID), fmt.Sprintf("same-%d", i%families)))
						}
						if _, err := s.UpsertProfiles(context.Background(), profiles); err != nil {
							errs <- fmt.Errorf("writer %d, batch %d: %w", w, batch, err)
						}
						in := db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Same 0"}}
						if _, err := s.Create(context.Background(), in); err != nil {
							errs <- fmt.Errorf("writer %d, create %d: %w", w, batch, err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			slugs := slices.Collect(maps.Values(allSlugs(t, stores[0])))
			if want := len(stores) * batches * (perBatch + 1); len(slugs) != want {
				t.Fatalf("%d performers, want %d", len(slugs), want)
			}
			// Each family is its base and every suffix from -2 up, once.
			slices.Sort(slugs)
			count := map[string]int{}
			for _, slug := range slugs {
				base, _, _ := strings.Cut(strings.TrimPrefix(slug, "same-"), "-")
				count["same-"+base]++
			}
			for base, n := range count {
				var want []string
				for i := 1; i <= n; i++ {
					if i == 1 {
						want = append(want, base)
					} else {
						want = append(want, fmt.Sprintf("%s-%d", base, i))
					}
				}
				var got []string
				for _, slug := range slugs {
					if slug == base || strings.HasPrefix(slug, base+"-") {
						got = append(got, slug)
					}
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("family %s: %v, want %v", base, got, want)
				}
			}
		})
	}
}
