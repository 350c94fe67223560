package rest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"

	"marquee/db"
	"marquee/internal/testkit"
)

// TestListPornstarsFilters checks each filter and ordering of GET
// /pornstars against the same predicate evaluated over the head fixture.
func TestListPornstarsFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		// One performer leaves the feed; one image is cached.
		removed := profiles[10]
		if _, err := api.store.MarkRemoved(context.Background(), []int64{removed.FeedID}); err != nil {
			t.Fatal(err)
		}
		cachedOwner := profiles[0]
		api.setImage(cachedOwner.Thumbnails[0].URL, db.ImageCached)
		inFeed := func(p db.Profile) bool { return p.FeedID != removed.FeedID }
		hasTag := func(list []string, want string) bool {
			return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, want) })
		}
		breastType := profiles[slices.IndexFunc(profiles, func(p db.Profile) bool { return p.BreastType != nil })]
		plain := slices.DeleteFunc(slugLinked(profiles), func(p db.Profile) bool { return p.FeedID == removed.FeedID })
		aliasPrefix := strings.ToLower(strings.Fields(profiles[3].Aliases[0])[0])[:3]

		for _, tc := range []struct {
			query string
			want  func(p db.Profile) bool
		}{
			{"", inFeed},
			{"gender=male", func(p db.Profile) bool { return inFeed(p) && p.Gender != nil && *p.Gender == "male" }},
			{"gender=male,female", func(p db.Profile) bool {
				return inFeed(p) && p.Gender != nil && (*p.Gender == "male" || *p.Gender == "female")
			}},
			{"license=PREMIUM", func(p db.Profile) bool { return inFeed(p) && *p.License == "PREMIUM" }},
			{"orientation=straight", func(p db.Profile) bool { return inFeed(p) && *p.Orientation == "straight" }},
			{"hair_color=red", func(p db.Profile) bool { return inFeed(p) && hasTag(p.HairColors, "red") }},
			{"hair_color=Red&hair_color=black", func(p db.Profile) bool {
				return inFeed(p) && (hasTag(p.HairColors, "red") || hasTag(p.HairColors, "black"))
			}},
			{"ethnicity=asian", func(p db.Profile) bool { return inFeed(p) && hasTag(p.Ethnicities, "asian") }},
			{"wl_status=false", func(p db.Profile) bool { return inFeed(p) && p.WLStatus != nil && !*p.WLStatus }},
			{"tattoos=true&piercings=false", func(p db.Profile) bool { return inFeed(p) && *p.Tattoos && !*p.Piercings }},
			{"age_min=30&age_max=40", func(p db.Profile) bool { return inFeed(p) && p.Age != nil && *p.Age >= 30 && *p.Age <= 40 }},
			{"rank_max=60", func(p db.Profile) bool { return inFeed(p) && *p.Rank <= 60 }},
			{"views_min=1000000", func(p db.Profile) bool { return inFeed(p) && *p.Views >= 1000000 }},
			{"breast_size_min=40", func(p db.Profile) bool { return inFeed(p) && p.BreastSize != nil && *p.BreastSize >= 40 }},
			// A word prefix of an alias, upper-cased: every name or alias
			// with a word that starts with it.
			{"q=" + url.QueryEscape(strings.ToUpper(aliasPrefix)), func(p db.Profile) bool {
				matches := func(s string) bool {
					words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
					return slices.ContainsFunc(words, func(w string) bool { return strings.HasPrefix(w, aliasPrefix) })
				}
				return inFeed(p) && (matches(p.Name) || slices.ContainsFunc(p.Aliases, matches))
			}},
			{"has_image=true", func(p db.Profile) bool { return p.FeedID == cachedOwner.FeedID }},
			{"has_image=false", func(p db.Profile) bool { return inFeed(p) && p.FeedID != cachedOwner.FeedID }},
			{"removed=true", func(p db.Profile) bool { return !inFeed(p) }},
			{"removed=any", func(db.Profile) bool { return true }},
			{fmt.Sprintf("feed_id=%d", profiles[5].FeedID), func(p db.Profile) bool { return p.FeedID == profiles[5].FeedID }},
			// The lookup by feed id finds a performer that left the feed.
			{fmt.Sprintf("feed_id=%d", removed.FeedID), func(p db.Profile) bool { return !inFeed(p) }},
			{fmt.Sprintf("feed_id=%d&removed=false", removed.FeedID), func(db.Profile) bool { return false }},
			{fmt.Sprintf("feed_id=%d,%d&feed_id=%d", profiles[1].FeedID, profiles[2].FeedID, profiles[3].FeedID), func(p db.Profile) bool {
				return p.FeedID == profiles[1].FeedID || p.FeedID == profiles[2].FeedID || p.FeedID == profiles[3].FeedID
			}},
			{"feed_id=999999999", func(db.Profile) bool { return false }},
			{"breast_type=" + *breastType.BreastType, func(p db.Profile) bool {
				return inFeed(p) && p.BreastType != nil && *p.BreastType == *breastType.BreastType
			}},
			{"breast_type=" + *breastType.BreastType + ",none-such", func(p db.Profile) bool {
				return inFeed(p) && p.BreastType != nil && *p.BreastType == *breastType.BreastType
			}},
			{"breast_type=none-such", func(db.Profile) bool { return false }},
			// The real sample's links end in lower-case slugs.
			{"slug=" + linkSlug(plain[0]) + "," + linkSlug(plain[1]), func(p db.Profile) bool {
				return p.FeedID == plain[0].FeedID || p.FeedID == plain[1].FeedID
			}},
			{"slug=" + linkSlug(plain[2]) + "&slug=no-such-slug", func(p db.Profile) bool { return p.FeedID == plain[2].FeedID }},
			{"created_since=2000-01-01T00:00:00Z", inFeed},
			{"created_since=9999-01-01T00:00:00Z", func(db.Profile) bool { return false }},
		} {
			t.Run(tc.query, func(t *testing.T) {
				var want []int64
				for _, p := range profiles {
					if tc.want(p) {
						want = append(want, p.FeedID)
					}
				}
				got := api.walk(t, "/api/v1/pornstars?limit=100&"+tc.query)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("feed ids %v, want %v", got, want)
				}
			})
		}
	})
}

// linkSlug is the last segment of a profile's link: its slug, for links
// that are slug-shaped already.
func linkSlug(p db.Profile) string {
	return (*p.Link)[strings.LastIndexByte(*p.Link, '/')+1:]
}

// wantLinkSlug is the slug of a feed performer whose link's last segment
// is lower-case Latin letters, digits and hyphens: the segment with its
// letters' accents removed.
func wantLinkSlug(p db.Profile) string {
	return strings.NewReplacer("à", "a", "á", "a", "â", "a", "ä", "a", "ã", "a", "å", "a", "ç", "c", "è", "e", "é", "e",
		"ê", "e", "ë", "e", "ì", "i", "í", "i", "î", "i", "ï", "i", "ñ", "n", "ò", "o", "ó", "o", "ô", "o", "ö", "o",
		"ø", "o", "ù", "u", "ú", "u", "û", "u", "ü", "u", "ý", "y", "ÿ", "y").Replace(linkSlug(p))
}

// slugLinked returns the profiles whose link ends in a slug as it is.
func slugLinked(profiles []db.Profile) []db.Profile {
	var out []db.Profile
	for _, p := range profiles {
		if db.IsSlug(linkSlug(p)) {
			out = append(out, p)
		}
	}
	return out
}

// walk follows next_cursor from path to the last page, checking that total
// is stable and equals the number of items, and returns the feed ids seen.
func (api *testAPI) walk(t *testing.T, path string) []int64 {
	t.Helper()
	var ids []int64
	seen := map[int64]bool{}
	total := int64(-1)
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("more than 200 pages")
		}
		r := api.get(path).wantStatus(t, http.StatusOK)
		var page pornstarPageDoc
		r.json(t, &page)
		if total >= 0 && page.Total != total {
			t.Fatalf("total changed from %d to %d", total, page.Total)
		}
		total = page.Total
		for _, p := range page.Data {
			if seen[p.ID] {
				t.Fatalf("performer %d on two pages", p.ID)
			}
			seen[p.ID] = true
			if p.FeedID != nil {
				ids = append(ids, *p.FeedID)
			}
		}
		link := r.header.Get("Link")
		if page.NextCursor == nil {
			if link != "" {
				t.Errorf("last page has Link %q", link)
			}
			break
		}
		if !strings.HasPrefix(link, "</api/v1/pornstars?") || !strings.HasSuffix(link, `>; rel="next"`) {
			t.Fatalf("Link %q", link)
		}
		path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		if u, _ := url.Parse(path); u.Query().Get("cursor") != *page.NextCursor {
			t.Fatalf("Link cursor differs from next_cursor")
		}
	}
	if int64(len(seen)) != total {
		t.Errorf("walked %d performers, total says %d", len(seen), total)
	}
	return ids
}

// TestListPornstarsPagesAndOrder checks page sizes, the default order,
// sort keys and the cursors of GET /pornstars.
func TestListPornstarsPagesAndOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		byFeedID := map[int64]db.Profile{}
		for _, p := range profiles {
			byFeedID[p.FeedID] = p
		}

		var page pornstarPageDoc
		first := api.get("/api/v1/pornstars").wantStatus(t, http.StatusOK)
		first.json(t, &page)
		api.do(req{method: http.MethodGet, path: "/api/v1/pornstars", headers: map[string]string{"If-None-Match": first.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)
		if len(page.Data) != db.DefaultPageSize || page.Total != int64(len(profiles)) || page.NextCursor == nil {
			t.Fatalf("default page: %d items, total %d, next %v", len(page.Data), page.Total, page.NextCursor)
		}
		for i := 1; i < len(page.Data); i++ {
			if *page.Data[i-1].Rank > *page.Data[i].Rank {
				t.Fatalf("default order is not rank ascending: %d before %d", *page.Data[i-1].Rank, *page.Data[i].Rank)
			}
		}

		for _, tc := range []struct {
			sort string
			less func(a, b pornstarDoc) bool // a must not come after b
		}{
			{"-views", func(a, b pornstarDoc) bool { return *a.Views >= *b.Views }},
			{"name", func(a, b pornstarDoc) bool { return strings.ToLower(a.Name) <= strings.ToLower(b.Name) }},
			{"-rank", func(a, b pornstarDoc) bool { return *a.Rank >= *b.Rank }},
			// Unknown ages sort last in both directions.
			{"age,-views", func(a, b pornstarDoc) bool { return b.Age == nil || a.Age != nil && *a.Age <= *b.Age }},
			{"-age", func(a, b pornstarDoc) bool { return b.Age == nil || a.Age != nil && *a.Age >= *b.Age }},
			{"-monthly_searches", func(a, b pornstarDoc) bool { return b.Monthly == nil || a.Monthly != nil && *a.Monthly >= *b.Monthly }},
			{"videos_count,name", func(a, b pornstarDoc) bool {
				return b.VideosCount == nil || a.VideosCount != nil && *a.VideosCount <= *b.VideosCount
			}},
			{"rank_premium", func(a, b pornstarDoc) bool {
				return b.RankPremium == nil || a.RankPremium != nil && *a.RankPremium <= *b.RankPremium
			}},
			{"-breast_size", func(a, b pornstarDoc) bool {
				return b.BreastSize == nil || a.BreastSize != nil && *a.BreastSize >= *b.BreastSize
			}},
			{"created_at", func(a, b pornstarDoc) bool { return !a.CreatedAt.After(b.CreatedAt) }},
		} {
			t.Run(tc.sort, func(t *testing.T) {
				var all []pornstarDoc
				path := "/api/v1/pornstars?limit=7&sort=" + tc.sort
				for path != "" {
					var page pornstarPageDoc
					r := api.get(path).wantStatus(t, http.StatusOK)
					r.json(t, &page)
					all = append(all, page.Data...)
					path = ""
					if page.NextCursor != nil {
						path = "/api/v1/pornstars?limit=7&sort=" + tc.sort + "&cursor=" + url.QueryEscape(*page.NextCursor)
					}
				}
				if len(all) != len(profiles) {
					t.Fatalf("%d performers, want %d", len(all), len(profiles))
				}
				for i := 1; i < len(all); i++ {
					if !tc.less(all[i-1], all[i]) {
						t.Fatalf("position %d: %s before %s", i, all[i-1].Name, all[i].Name)
					}
				}
			})
		}

		// Every member of the representation is what the feed said.
		var one pornstarPageDoc
		api.get(fmt.Sprintf("/api/v1/pornstars?feed_id=%d", profiles[0].FeedID)).wantStatus(t, http.StatusOK).json(t, &one)
		if len(one.Data) != 1 || one.NextCursor != nil || one.Total != 1 {
			t.Fatalf("feed id lookup: %+v", one)
		}
		got, want := one.Data[0], profiles[0]
		if got.Name != want.Name || !slices.Equal(got.Aliases, dedupe(want.Aliases)) || *got.Rank != *want.Rank ||
			*got.Views != *want.Views || len(got.Thumbnails) != len(want.Thumbnails) || got.Version != 1 || got.RemovedAt != nil {
			t.Errorf("performer %+v\nfeed %+v", got, want)
		}
		if got.Thumbnails[0].Image.Status != db.ImagePending || got.Thumbnails[0].Image.URL != nil {
			t.Errorf("image %+v, want pending without url", got.Thumbnails[0].Image)
		}
	})
}

// dedupe drops the aliases the store drops: blanks and case-insensitive
// repeats (ignoring trailing spaces).
func dedupe(aliases []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, a := range aliases {
		key := strings.ToLower(strings.TrimRight(a, " "))
		if strings.TrimSpace(a) == "" || seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, a)
	}
	return out
}

// TestListPornstarsBadParameters checks that every bad query is a 400
// naming the parameter.
func TestListPornstarsBadParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.seedHead()
		var page pornstarPageDoc
		api.get("/api/v1/pornstars?limit=2&sort=-views").wantStatus(t, http.StatusOK).json(t, &page)
		cursor := url.QueryEscape(*page.NextCursor)

		for _, tc := range []struct{ query, parameter string }{
			{"limit=0", "limit"},
			{"limit=101", "limit"},
			{"limit=ten", "limit"},
			{"limit=1&limit=2", "limit"},
			{"limit=", "limit"},
			{"sort=", "sort"},
			{"sort=height", "sort"},
			{"sort=rank,-rank", "sort"},
			{"sort=rank,name,views,subscriptions,age,updated_at,rank", "sort"},
			{"cursor=", "cursor"},
			{"cursor=!!notbase64!!", "cursor"},
			{"cursor=eyJzIjoieCIsImlkIjoxfQ", "cursor"},
			// A cursor only works with the filter and order it came from.
			{"sort=-views&gender=female&cursor=" + cursor, "cursor"},
			{"sort=views&cursor=" + cursor, "cursor"},
			{"colour=red", "colour"},
			{"wl_status=1", "wl_status"},
			{"tattoos=yes", "tattoos"},
			{"has_image=", "has_image"},
			{"removed=maybe", "removed"},
			{"age_min=old", "age_min"},
			{"age_min=50&age_max=40", "age_min"},
			{"views_max=1e6", "views_max"},
			{"views_max=99999999999999999999", "views_max"},
			{"height_min=1", "height_min"},
			{"feed_id=0", "feed_id"},
			{"feed_id=abc", "feed_id"},
			{"feed_id=1,,2", "feed_id"},
			{"hair_color=", "hair_color"},
			{"gender=" + strings.Repeat("x", 200), "gender"},
			{"q=" + strings.Repeat("q", 256), "q"},
			{"q=%FF", "q"},
			{"q=%00", "q"},
			{"q=a&q=b", "q"},
			{"sort=relevance", "sort"},
			{"sort=-relevance&q=%20", "sort"},
		} {
			t.Run(tc.query, func(t *testing.T) {
				api.get("/api/v1/pornstars?"+tc.query).wantParameter(t, tc.parameter)
			})
		}
		t.Run("malformed query", func(t *testing.T) {
			r := api.get("/api/v1/pornstars?limit=%zz")
			r.wantProblem(t, http.StatusBadRequest, "invalid-parameter")
		})
	})
}

// TestListPornstarsForgedCursor checks that a cursor forged to hold what no
// row holds is a 400 naming the cursor, not a database error.
func TestListPornstarsForgedCursor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		api.seedHead()
		cursorOf := func(sort string) string {
			var page pornstarPageDoc
			api.get("/api/v1/pornstars?limit=1&sort="+sort).wantStatus(t, http.StatusOK).json(t, &page)
			return *page.NextCursor
		}
		byName, byUpdate, byAge := cursorOf("name"), cursorOf("-updated_at"), cursorOf("age")
		for _, tc := range []struct{ name, sort, like, body string }{
			{"a NUL in a name", "name", byName, `{"s":SCOPE,"v":["a\u0000b"],"id":1}`},
			{"invalid UTF-8 in a name", "name", byName, "{\"s\":SCOPE,\"v\":[\"\xff\"],\"id\":1}"},
			{"a name longer than any", "name", byName, `{"s":SCOPE,"v":["` + strings.Repeat("n", 256) + `"],"id":1}`},
			{"a time before year 1000", "-updated_at", byUpdate, `{"s":SCOPE,"v":["0001-01-01T00:00:00Z"],"id":1}`},
			{"an age beyond INT", "age", byAge, `{"s":SCOPE,"v":[4294967296],"id":1}`},
			{"a string for an age", "age", byAge, `{"s":SCOPE,"v":["30"],"id":1}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				forged := testkit.ForgeCursor(t, tc.like, tc.body)
				api.get("/api/v1/pornstars?sort="+tc.sort+"&cursor="+url.QueryEscape(forged)).wantParameter(t, "cursor")
			})
		}
		t.Run("feed runs: a run cursor holding values", func(t *testing.T) {
			forged := testkit.ForgeCursor(t, db.RunCursor(1), `{"s":SCOPE,"v":["a\u0000b"],"id":1}`)
			api.get("/api/v1/feed-runs?cursor="+url.QueryEscape(forged)).wantParameter(t, "cursor")
		})
		if logs := api.logs.String(); strings.Contains(logs, "request failed") {
			t.Errorf("a forged cursor was logged as a failure:\n%s", logs)
		}
	})
}

// TestGetPornstar checks GET /pornstars/{id}, its sub-collections, ETags
// and conditional requests.
func TestGetPornstar(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		var page pornstarPageDoc
		api.get(fmt.Sprintf("/api/v1/pornstars?feed_id=%d", profiles[0].FeedID)).wantStatus(t, http.StatusOK).json(t, &page)
		id := page.Data[0].ID
		path := fmt.Sprintf("/api/v1/pornstars/%d", id)

		r := api.get(path).wantStatus(t, http.StatusOK)
		var p pornstarDoc
		r.json(t, &p)
		if p.ID != id || *p.FeedID != profiles[0].FeedID || p.Name != profiles[0].Name {
			t.Fatalf("got %+v", p)
		}
		etag := r.header.Get("ETag")
		if !strings.HasPrefix(etag, `"1-`) {
			t.Errorf("ETag %q, want one starting with the version", etag)
		}
		if r.header.Get("Cache-Control") != "no-cache" {
			t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
		}

		for _, tc := range []struct {
			ifNoneMatch string
			want        int
		}{
			{etag, http.StatusNotModified},
			{"W/" + etag, http.StatusNotModified},
			{`"nope", ` + etag, http.StatusNotModified},
			{"*", http.StatusNotModified},
			{`"1-000000000000"`, http.StatusOK},
		} {
			got := api.do(req{method: http.MethodGet, path: path, headers: map[string]string{"If-None-Match": tc.ifNoneMatch}})
			got.wantStatus(t, tc.want)
			if tc.want == http.StatusNotModified && (len(got.body) != 0 || got.header.Get("ETag") != etag) {
				t.Errorf("304 with body %q, ETag %q", got.body, got.header.Get("ETag"))
			}
		}

		// An image's state is part of the performer: caching it changes the
		// ETag although the performer's version stays.
		api.setImage(profiles[0].Thumbnails[0].URL, db.ImageCached)
		r = api.do(req{method: http.MethodGet, path: path, headers: map[string]string{"If-None-Match": etag}}).wantStatus(t, http.StatusOK)
		r.json(t, &p)
		if newTag := r.header.Get("ETag"); newTag == etag || !strings.HasPrefix(newTag, `"1-`) {
			t.Errorf("ETag after caching an image: %q (was %q)", newTag, etag)
		}
		img := p.Thumbnails[0].Image
		if img.Status != db.ImageCached || img.URL == nil || *img.URL != "/images/"+profiles[0].Thumbnails[0].URLHash {
			t.Errorf("cached image %+v", img)
		}

		// HEAD is GET without the body.
		head := api.do(req{method: http.MethodHead, path: path}).wantStatus(t, http.StatusOK)
		if len(head.body) != 0 || head.header.Get("ETag") == "" {
			t.Errorf("HEAD: body %q, ETag %q", head.body, head.header.Get("ETag"))
		}

		// Sub-collections.
		var aliases struct{ Data []string }
		ar := api.get(path+"/aliases").wantStatus(t, http.StatusOK)
		ar.json(t, &aliases)
		if !slices.Equal(aliases.Data, dedupe(profiles[0].Aliases)) {
			t.Errorf("aliases %q", aliases.Data)
		}
		api.do(req{method: http.MethodGet, path: path + "/aliases", headers: map[string]string{"If-None-Match": ar.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)
		var thumbs struct {
			Data []struct {
				Type  string
				Image struct{ Status string }
			}
		}
		tr := api.get(path+"/thumbnails").wantStatus(t, http.StatusOK)
		tr.json(t, &thumbs)
		if len(thumbs.Data) != 3 || thumbs.Data[0].Type != "pc" || thumbs.Data[0].Image.Status != db.ImageCached {
			t.Errorf("thumbnails %+v", thumbs.Data)
		}
		api.do(req{method: http.MethodGet, path: path + "/thumbnails", headers: map[string]string{"If-None-Match": tr.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)

		// Errors.
		for _, suffix := range []string{"", "/aliases", "/thumbnails"} {
			api.get("/api/v1/pornstars/999999"+suffix).wantProblem(t, http.StatusNotFound, "not-found")
			for _, bad := range []string{"abc", "0", "-1", "99999999999999999999", "1.5"} {
				api.get("/api/v1/pornstars/"+bad+suffix).wantParameter(t, "id")
			}
			api.get(path+suffix+"?expand=all").wantParameter(t, "expand")
		}
	})
}

// TestGetImage checks GET /images/{url_hash} for each image state.
func TestGetImage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		cached, failed, pending := profiles[0].Thumbnails[0], profiles[1].Thumbnails[0], profiles[2].Thumbnails[0]
		api.setImage(cached.URL, db.ImageCached)
		api.setImage(failed.URL, db.ImageFailed)

		type imageDoc struct {
			URLHash     string  `json:"url_hash"`
			Status      string  `json:"status"`
			URL         *string `json:"url"`
			SourceURL   string  `json:"source_url"`
			ContentType *string `json:"content_type"`
			Bytes       *int64  `json:"bytes"`
			Error       *string `json:"error"`
		}
		for _, tc := range []struct {
			thumb  db.ProfileThumbnail
			status string
		}{{cached, db.ImageCached}, {failed, db.ImageFailed}, {pending, db.ImagePending}} {
			t.Run(tc.status, func(t *testing.T) {
				r := api.get("/api/v1/images/"+tc.thumb.URLHash).wantStatus(t, http.StatusOK)
				var img imageDoc
				r.json(t, &img)
				if img.URLHash != tc.thumb.URLHash || img.Status != tc.status || img.SourceURL != tc.thumb.URL {
					t.Errorf("image %+v", img)
				}
				if (img.URL != nil) != (tc.status == db.ImageCached) || (img.Error != nil) != (tc.status == db.ImageFailed) {
					t.Errorf("image %+v", img)
				}
				if tc.status == db.ImageCached && (*img.URL != "/images/"+tc.thumb.URLHash || *img.ContentType != "image/jpeg" || *img.Bytes != 12345) {
					t.Errorf("cached image %+v", img)
				}
				api.do(req{method: http.MethodGet, path: "/api/v1/images/" + tc.thumb.URLHash, headers: map[string]string{"If-None-Match": r.header.Get("ETag")}}).
					wantStatus(t, http.StatusNotModified)
			})
		}
		api.get("/api/v1/images/"+strings.Repeat("0", 64)).wantProblem(t, http.StatusNotFound, "not-found")
		for _, bad := range []string{"abc", strings.ToUpper(cached.URLHash), cached.URLHash + "0", strings.Repeat("g", 64)} {
			api.get("/api/v1/images/"+bad).wantParameter(t, "url_hash")
		}
		api.get("/api/v1/images/"+cached.URLHash+"?size=big").wantParameter(t, "size")
	})
}

// TestQueryParamOf checks that every field a store list error can name is
// reported as the query parameter a client sent.
func TestQueryParamOf(t *testing.T) {
	for field, want := range map[string]string{
		"first":          paramLimit,
		"order/0/field":  paramSort,
		"cursor":         paramCursor,
		"after":          paramCursor,
		"q":              "q",
		"removed":        "removed",
		"hair_colors/1":  "hair_color",
		"ethnicities/0":  "ethnicity",
		"genders/0":      "gender",
		"orientations/0": "orientation",
		"licenses/0":     "license",
		"feed_ids/0":     "feed_id",
		"ranges/views":   "views_min",
	} {
		if got := queryParamOf(field); got != want {
			t.Errorf("queryParamOf(%q) = %q, want %q", field, got, want)
		}
	}
}

// TestPornstarBySlug: every performer has a unique slug, from its link for
// feed performers (the real sample's links end in one), from its name for
// those created through the API; GET /pornstars/by-slug/{slug} answers what
// GET /pornstars/{id} does, with the same ETag; a slug is read-only.
func TestPornstarBySlug(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		byFeedID := map[int64]db.Profile{}
		for _, p := range profiles {
			byFeedID[p.FeedID] = p
		}
		var page pornstarPageDoc
		api.get("/api/v1/pornstars?limit=100").wantStatus(t, http.StatusOK).json(t, &page)
		if len(page.Data) != len(profiles) {
			t.Fatalf("%d performers listed, want %d", len(page.Data), len(profiles))
		}
		seen := map[string]bool{}
		for _, p := range page.Data {
			if want := wantLinkSlug(byFeedID[*p.FeedID]); p.Slug != want {
				t.Errorf("performer %d (link %s): slug %q, want %q", p.ID, *p.Link, p.Slug, want)
			}
			if seen[p.Slug] {
				t.Errorf("slug %q twice", p.Slug)
			}
			seen[p.Slug] = true
		}

		one := page.Data[4]
		byID := api.get(fmt.Sprintf("/api/v1/pornstars/%d", one.ID)).wantStatus(t, http.StatusOK)
		bySlug := api.get("/api/v1/pornstars/by-slug/"+one.Slug).wantStatus(t, http.StatusOK)
		if !bytes.Equal(bySlug.body, byID.body) || bySlug.header.Get("ETag") != byID.header.Get("ETag") {
			t.Errorf("by slug:\n%s %s\nby id:\n%s %s", bySlug.header.Get("ETag"), bySlug.body, byID.header.Get("ETag"), byID.body)
		}
		api.do(req{method: http.MethodGet, path: "/api/v1/pornstars/by-slug/" + one.Slug, headers: map[string]string{"If-None-Match": byID.header.Get("ETag")}}).
			wantStatus(t, http.StatusNotModified)
		if head := api.do(req{method: http.MethodHead, path: "/api/v1/pornstars/by-slug/" + one.Slug}).wantStatus(t, http.StatusOK); len(head.body) != 0 {
			t.Errorf("HEAD with a body")
		}

		// A performer created through the API is named by its name.
		var created pornstarDoc
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write", body: `{"name": "Zoë Ünal-Çelik", "link": "https://example.test/x"}`}).
			wantStatus(t, http.StatusCreated).json(t, &created)
		if created.Slug != "zoe-unal-celik" {
			t.Errorf("created performer's slug %q, want zoe-unal-celik", created.Slug)
		}
		var again pornstarDoc
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write", body: `{"name": "Zoe Unal Celik"}`}).
			wantStatus(t, http.StatusCreated).json(t, &again)
		if again.Slug != "zoe-unal-celik-2" {
			t.Errorf("second performer's slug %q, want zoe-unal-celik-2", again.Slug)
		}
		api.get("/api/v1/pornstars/by-slug/zoe-unal-celik-2").wantStatus(t, http.StatusOK).json(t, &again)
		if again.Name != "Zoe Unal Celik" {
			t.Errorf("by slug found %q", again.Name)
		}

		// Read-only: POST may not name it; PUT and PATCH may send it as stored.
		api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", token: "write", body: `{"name": "X", "slug": "x"}`}).
			wantStatus(t, http.StatusUnprocessableEntity)
		path := fmt.Sprintf("/api/v1/pornstars/%d", created.ID)
		api.do(req{method: http.MethodPatch, path: path, token: "write", body: `{"slug": "other"}`}).
			wantStatus(t, http.StatusUnprocessableEntity)
		var patched pornstarDoc
		api.do(req{method: http.MethodPatch, path: path, token: "write", body: `{"slug": "zoe-unal-celik", "name": "Renamed"}`}).
			wantStatus(t, http.StatusOK).json(t, &patched)
		if patched.Slug != "zoe-unal-celik" || patched.Name != "Renamed" {
			t.Errorf("after renaming: slug %q, name %q", patched.Slug, patched.Name)
		}

		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/api/v1/pornstars/by-slug/nobody-at-all", http.StatusNotFound},
			{"/api/v1/pornstars/by-slug/" + strings.ToUpper(one.Slug), http.StatusNotFound},
			{"/api/v1/pornstars/by-slug/%27%20OR%201%3D1", http.StatusNotFound},
			{"/api/v1/pornstars/by-slug/" + strings.Repeat("a", 300), http.StatusNotFound},
			// A slug named like a sub-collection is a slug.
			{"/api/v1/pornstars/by-slug/aliases", http.StatusNotFound},
			{"/api/v1/pornstars/by-slug/" + one.Slug + "?expand=all", http.StatusBadRequest},
		} {
			r := api.get(tc.path).wantStatus(t, tc.status)
			if tc.status == http.StatusNotFound {
				r.wantProblem(t, http.StatusNotFound, "not-found")
			}
		}
	})
}

// TestListPornstarsByRelevance: with q and no sort the list comes by
// relevance (exact name, exact alias, name prefix, alias prefix, other
// words; rank within each), page after page through next_cursor, and
// sort=relevance gives the same.
func TestListPornstarsByRelevance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		rank := func(v int64) *int64 { return &v }
		var profiles []db.Profile
		for i, p := range []struct {
			name    string
			aliases []string
		}{
			{"Aaliyah Jolie", []string{"Jolie Baby"}},
			{"Angelina Jolie", nil},
			{"Jolie", nil},
			{"Jolina Marie", []string{"Jolie"}},
			{"Jolene", nil},
		} {
			profiles = append(profiles, db.Profile{SchemaVersion: db.ProfileSchemaVersion, FeedID: int64(i + 1),
				PornstarFields: db.PornstarFields{Name: p.name, Rank: rank(int64(10 - i))}, Aliases: p.aliases})
		}
		if _, err := api.store.UpsertProfiles(context.Background(), profiles); err != nil {
			t.Fatal(err)
		}
		want := []int64{3, 4, 1, 2} // Jolie, Jolina Marie (alias), Aaliyah Jolie (alias prefix), Angelina Jolie
		for _, path := range []string{"/api/v1/pornstars?limit=1&q=J%C3%93LIE", "/api/v1/pornstars?limit=3&q=jolie&sort=relevance"} {
			if got := api.walk(t, path); !slices.Equal(got, want) {
				t.Errorf("%s: feed ids %v, want %v", path, got, want)
			}
		}
		if got := api.walk(t, "/api/v1/pornstars?limit=2&q=jolie%20aaliyah"); !slices.Equal(got, []int64{1}) {
			t.Errorf("words in another order: %v", got)
		}
	})
}
