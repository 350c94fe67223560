package db_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"marquee/db"
)

// TestChildrenCacheFollowsWrites: AliasesOf and ThumbnailsOf answer the
// rows a read returned with what the database holds for them after every
// kind of write of a performer's aliases and thumbnails: a feed upsert, an
// API update and an API full replace.
func TestChildrenCacheFollowsWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		// read re-reads the performer and its relations through the cache,
		// twice: the second read is served from the cache.
		read := func(feedID int64) (aliases []string, urls []string) {
			t.Helper()
			for range 2 {
				p, err := s.GetByFeedID(ctx, feedID)
				if err != nil {
					t.Fatal(err)
				}
				al, err := s.AliasesOf(ctx, []*db.Pornstar{p})
				if err != nil {
					t.Fatal(err)
				}
				th, err := s.ThumbnailsOf(ctx, []*db.Pornstar{p})
				if err != nil {
					t.Fatal(err)
				}
				// Row for row what the plain loaders read.
				plainAliases, err1 := s.Aliases(ctx, []int64{p.ID})
				plainThumbs, err2 := s.Thumbnails(ctx, []int64{p.ID})
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				if !reflect.DeepEqual(al[p.ID], plainAliases[p.ID]) || !reflect.DeepEqual(th[p.ID], plainThumbs[p.ID]) {
					t.Errorf("through the cache %+v %+v, plain %+v %+v", al[p.ID], th[p.ID], plainAliases[p.ID], plainThumbs[p.ID])
				}
				aliases, urls = nil, nil
				for _, a := range al[p.ID] {
					aliases = append(aliases, a.Alias)
				}
				for _, x := range th[p.ID] {
					urls = append(urls, x.URL)
				}
			}
			return aliases, urls
		}
		check := func(when string, wantAliases, wantURLs []string) {
			t.Helper()
			if aliases, urls := read(7); !slices.Equal(aliases, wantAliases) || !slices.Equal(urls, wantURLs) {
				t.Errorf("%s: aliases %q, thumbnails %q; want %q, %q", when, aliases, urls, wantAliases, wantURLs)
			}
		}
		w, h := int32(234), int32(344)
		profile := func(aliases []string, url string) db.Profile {
			return db.Profile{FeedID: 7, PornstarFields: db.PornstarFields{Name: "Seven"}, Aliases: aliases,
				Thumbnails: []db.ProfileThumbnail{{Type: "pc", Width: &w, Height: &h, URL: url}, {Type: "mobile", URL: url}}}
		}
		if _, err := s.UpsertProfiles(ctx, []db.Profile{profile([]string{"A"}, "https://img.test/1.jpg")}); err != nil {
			t.Fatal(err)
		}
		check("after the first load", []string{"A"}, []string{"https://img.test/1.jpg", "https://img.test/1.jpg"})

		if _, err := s.UpsertProfiles(ctx, []db.Profile{profile([]string{"B", "C"}, "https://img.test/2.jpg")}); err != nil {
			t.Fatal(err)
		}
		check("after a feed change", []string{"B", "C"}, []string{"https://img.test/2.jpg", "https://img.test/2.jpg"})

		p, err := s.GetByFeedID(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, p.ID, db.PornstarPatch{Aliases: db.Some([]string{"D"})}, nil); err != nil {
			t.Fatal(err)
		}
		check("after an API update", []string{"D"}, []string{"https://img.test/2.jpg", "https://img.test/2.jpg"})

		in := db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Seven"},
			Thumbnails: []db.ProfileThumbnail{{Type: "mobile", URL: "https://img.test/3.jpg"}}}
		if _, err := s.Update(ctx, p.ID, db.ReplaceAll(in), nil); err != nil {
			t.Fatal(err)
		}
		check("after an API replace", nil, []string{"https://img.test/3.jpg"})
	})
}
