package db_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"marquee/db"
)

// fieldsDiff describes how got differs from want, field by field; "" when equal.
func fieldsDiff(want, got db.PornstarFields) string {
	var diffs []string
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range wv.NumField() {
		if !reflect.DeepEqual(wv.Field(i).Interface(), gv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: got %s, want %s", wv.Type().Field(i).Name, show(gv.Field(i)), show(wv.Field(i))))
		}
	}
	return strings.Join(diffs, "; ")
}

func show(v reflect.Value) string {
	switch {
	case v.Kind() == reflect.Pointer && v.IsNil(), v.Kind() == reflect.Slice && v.IsNil():
		return "nil"
	case v.Kind() == reflect.Pointer:
		return fmt.Sprintf("&%#v", v.Elem().Interface())
	}
	return fmt.Sprintf("%#v", v.Interface())
}

// checkUTC fails when a stored time is not in UTC.
func checkUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s = %v is in location %q, want UTC", what, tm, tm.Location())
	}
}

func withName(p db.Profile, name string) db.Profile {
	p.Name = name
	return p
}

// nullableColumns are the pornstars columns that hold NULL when unknown.
var nullableColumns = []string{
	"license", "wl_status", "link", "hair_colors", "ethnicities", "tattoos", "piercings", "breast_size",
	"breast_type", "gender", "orientation", "age", "subscriptions", "monthly_searches", "views", "videos_count",
	"premium_videos_count", "white_label_video_count", "rank", "rank_premium", "rank_wl",
}

// TestUnknownIsNull looks at the columns themselves: an unknown field is
// NULL, never false, 0 or an empty string or list.
func TestUnknownIsNull(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, bareProfile(1, "Unknown"), fullProfile(2))
		api := mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Unknown Too"}})
		for _, col := range nullableColumns {
			var ids []int64
			err := s.DB().R.NewSelect().Model((*db.Pornstar)(nil)).Column("id").Where("? IS NULL", bun.Ident("p."+col)).Order("id").Scan(ctx, &ids)
			if err != nil {
				t.Fatalf("%s: %v", col, err)
			}
			if feed := mustGetByFeedID(t, s, 1); !slices.Equal(ids, []int64{feed.ID, api.ID}) {
				t.Errorf("rows with %s NULL: %v, want the unknown ones %v", col, ids, []int64{feed.ID, api.ID})
			}
		}
	})
}

// roundTripCases are profiles whose every field must come back as written.
func roundTripCases() []struct {
	name    string
	profile db.Profile
} {
	zeros := db.Profile{
		SchemaVersion: db.ProfileSchemaVersion,
		FeedID:        3,
		PornstarFields: db.PornstarFields{
			Name: "Zero", License: ptr(""), WLStatus: ptr(false), Link: ptr(""),
			HairColors: db.StringList{}, Ethnicities: db.StringList{},
			Tattoos: ptr(false), Piercings: ptr(false), BreastSize: ptr(int32(0)), BreastType: ptr(""),
			Gender: ptr(""), Orientation: ptr(""), Age: ptr(int32(0)),
			Subscriptions: ptr(int64(0)), MonthlySearches: ptr(int64(0)), Views: ptr(int64(0)),
			VideosCount: ptr(int64(0)), PremiumVideosCount: ptr(int64(0)), WhiteLabelVideoCount: ptr(int64(0)),
			Rank: ptr(int64(0)), RankPremium: ptr(int64(0)), RankWL: ptr(int64(0)),
		},
		Aliases:    []string{},
		Thumbnails: []db.ProfileThumbnail{},
	}

	big := bareProfile(4, "Big Numbers")
	big.MonthlySearches = ptr(int64(4_200_000_000))
	big.Views = ptr(int64(1 << 62))
	big.Subscriptions = ptr(int64(1<<62 + 1))
	big.VideosCount = ptr(int64(1<<62 - 1))
	big.PremiumVideosCount = ptr(int64(1<<53 + 1))
	big.WhiteLabelVideoCount = ptr(int64(math.MaxInt64))
	big.Rank = ptr(int64(math.MaxInt64 - 1))
	big.RankPremium = ptr(int64(1<<32 + 1))
	big.RankWL = ptr(int64(1<<62 + 7))
	big.Age = ptr(int32(math.MaxInt32))
	big.BreastSize = ptr(int32(math.MaxInt32 - 1))

	unicode := fullProfile(5)
	unicode.Name = "Zoë\u00a0Ünal 😍"
	unicode.Aliases = []string{"Zoë", "😍 Kiss", "Ana\u00a0Maria", "Алина", "Élodie", "美咲", "Zoe\u0308 (decomposed)"}
	unicode.HairColors = db.StringList{"Châtain", "Blonde"}
	unicode.Ethnicities = db.StringList{"Middle Eastern"}
	unicode.BreastType = ptr("DDD")
	unicode.Link = ptr("https://www.pornhub.com/pornstar/zo%C3%AB-%C3%BCnal")

	punctuation := fullProfile(6)
	punctuation.Name = "alexa 18"
	punctuation.Aliases = []string{"J.Lo", "O'Hara", "Mr. 100% _real_", `back\slash`, "Alana(als)", `"quoted"`, "a;b--c"}
	punctuation.Gender = ptr("Couple")

	urls := fullProfile(7)
	urls.Thumbnails = []db.ProfileThumbnail{
		{Type: "pc", Width: ptr(int32(234)), Height: ptr(int32(344)), URL: designVectorURL, URLHash: designVectorHash},
		{Type: "pc", Width: ptr(int32(234)), Height: ptr(int32(344)), URL: "https://ei.phncdn.com/pics/(m=eaAaGwObaaaa)(mh=x_Y-z=)thumb_1.jpg?a=(1)&b=2"},
		{Type: "mobile", URL: "https://di.phncdn.com/pics/pornstars/000/000/002/(m=lciuhScOb_c)(mh=5Lb6oqzf58Pdh9Wc)thumb_22561.jpg"},
		{Type: "tablet", Width: ptr(int32(0)), Height: nil, URL: designVectorURL},
	}

	return []struct {
		name    string
		profile db.Profile
	}{
		{"every field known", fullProfile(1)},
		{"every field unknown", bareProfile(2, "Nameless")},
		{"known zeros, false and empty stay known", zeros},
		{"64-bit stats", big},
		{"non-ASCII name, aliases and hair colours", unicode},
		{"punctuation and digits", punctuation},
		{"name with apostrophes", withName(bareProfile(8, "D'Arcy O'Neil"), "D'Arcy O'Neil")},
		{"name with dots and digits", withName(bareProfile(9, "x"), "Mr. J.Lo 2.0")},
		{"thumbnail URLs with parentheses and equals signs", urls},
	}
}

func TestUpsertProfilesRoundTrip(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		for _, tt := range roundTripCases() {
			t.Run(tt.name, func(t *testing.T) {
				before := time.Now().UTC().Truncate(time.Microsecond)
				res := mustUpsert(t, s, tt.profile)
				after := time.Now().UTC()
				if res != (db.UpsertResult{Inserted: 1}) {
					t.Errorf("UpsertProfiles = %+v, want 1 inserted", res)
				}
				got := mustGetByFeedID(t, s, tt.profile.FeedID)
				if diff := fieldsDiff(tt.profile.PornstarFields, got.PornstarFields); diff != "" {
					t.Errorf("stored fields differ: %s", diff)
				}
				if got.ExternalID == nil || *got.ExternalID != tt.profile.FeedID {
					t.Errorf("ExternalID = %v, want %d", show(reflect.ValueOf(got.ExternalID)), tt.profile.FeedID)
				}
				wantHash := mustContentHash(t, tt.profile)
				if got.ContentHash == nil || *got.ContentHash != wantHash {
					t.Errorf("ContentHash = %v, want %s", show(reflect.ValueOf(got.ContentHash)), wantHash)
				}
				if got.Version != 1 || got.RemovedAt != nil {
					t.Errorf("Version = %d, RemovedAt = %v; want 1 and nil", got.Version, got.RemovedAt)
				}
				for what, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt} {
					checkUTC(t, what, tm)
					if tm.Before(before) || tm.After(after) {
						t.Errorf("%s = %v, want between %v and %v", what, tm, before, after)
					}
				}
				if gotAliases := aliasesOf(t, s, got.ID); !slices.Equal(gotAliases, tt.profile.Aliases) {
					t.Errorf("aliases = %q, want %q", gotAliases, tt.profile.Aliases)
				}
				if gotThumbs, want := thumbnailsOf(t, s, got.ID), withHashes(tt.profile.Thumbnails); !reflect.DeepEqual(gotThumbs, want) {
					t.Errorf("thumbnails = %+v, want %+v", gotThumbs, want)
				}
				byID, err := s.Get(ctx, got.ID)
				if err != nil {
					t.Fatalf("Get(%d): %v", got.ID, err)
				}
				if !reflect.DeepEqual(byID, got) {
					t.Errorf("Get = %+v, GetByFeedID = %+v", byID, got)
				}
			})
		}
	})
}

func TestCreateRoundTrip(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		for _, tt := range roundTripCases() {
			t.Run(tt.name, func(t *testing.T) {
				in := db.PornstarInput{PornstarFields: tt.profile.PornstarFields, Aliases: tt.profile.Aliases, Thumbnails: tt.profile.Thumbnails}
				created, err := s.Create(ctx, in)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				got, err := s.Get(ctx, created.ID)
				if err != nil {
					t.Fatalf("Get(%d): %v", created.ID, err)
				}
				if diff := fieldsDiff(in.PornstarFields, got.PornstarFields); diff != "" {
					t.Errorf("stored fields differ: %s", diff)
				}
				if diff := fieldsDiff(in.PornstarFields, created.PornstarFields); diff != "" {
					t.Errorf("returned fields differ: %s", diff)
				}
				if got.ExternalID != nil || got.ContentHash != nil || got.Version != 1 || got.RemovedAt != nil {
					t.Errorf("ExternalID, ContentHash, Version, RemovedAt = %v, %v, %d, %v; want nil, nil, 1, nil",
						got.ExternalID, got.ContentHash, got.Version, got.RemovedAt)
				}
				checkUTC(t, "CreatedAt", got.CreatedAt)
				checkUTC(t, "UpdatedAt", got.UpdatedAt)
				if !got.CreatedAt.Equal(created.CreatedAt) || got.Version != created.Version {
					t.Errorf("Create returned CreatedAt %v version %d, stored %v version %d",
						created.CreatedAt, created.Version, got.CreatedAt, got.Version)
				}
				if gotAliases := aliasesOf(t, s, got.ID); !slices.Equal(gotAliases, in.Aliases) {
					t.Errorf("aliases = %q, want %q", gotAliases, in.Aliases)
				}
				if gotThumbs, want := thumbnailsOf(t, s, got.ID), withHashes(in.Thumbnails); !reflect.DeepEqual(gotThumbs, want) {
					t.Errorf("thumbnails = %+v, want %+v", gotThumbs, want)
				}
			})
		}
	})
}

// TestLongestValidInput writes every text at its longest allowed length, in
// multi-byte characters: the columns must hold what validation lets through.
func TestLongestValidInput(t *testing.T) {
	t.Parallel()
	p := fullProfile(1)
	p.Name = strings.Repeat("ë", 255)
	p.Aliases = []string{strings.Repeat("😍", 255), strings.Repeat("Ж", 255)}
	p.License = ptr(strings.Repeat("ß", 32))
	p.Gender = ptr(strings.Repeat("é", 32))
	p.Orientation = ptr(strings.Repeat("ø", 32))
	p.BreastType = ptr(strings.Repeat("Ü", 16))
	p.Link = ptr("https://www.pornhub.com/pornstar/" + strings.Repeat("ä", 1024-33))
	p.HairColors = db.StringList{strings.Repeat("ç", 128)}
	p.Thumbnails = []db.ProfileThumbnail{{Type: strings.Repeat("t", 32), URL: "https://ei.phncdn.com/" + strings.Repeat("p", 2048-22)}}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, p)
		got := mustGetByFeedID(t, s, 1)
		if diff := fieldsDiff(p.PornstarFields, got.PornstarFields); diff != "" {
			t.Errorf("stored fields differ: %s", diff)
		}
		if gotAliases := aliasesOf(t, s, got.ID); !slices.Equal(gotAliases, p.Aliases) {
			t.Errorf("aliases differ: got %d, want %d", len(gotAliases), len(p.Aliases))
		}
		if gotThumbs := thumbnailsOf(t, s, got.ID); !reflect.DeepEqual(gotThumbs, withHashes(p.Thumbnails)) {
			t.Errorf("thumbnails differ")
		}
		created, err := s.Create(ctx, db.PornstarInput{PornstarFields: p.PornstarFields, Aliases: p.Aliases, Thumbnails: p.Thumbnails})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if diff := fieldsDiff(p.PornstarFields, created.PornstarFields); diff != "" {
			t.Errorf("created fields differ: %s", diff)
		}
	})
}

// TestUpsertProfilesIdempotent replays a large batch: the replay must cost no
// write at all, and a change to a few profiles must write exactly those.
func TestUpsertProfilesIdempotent(t *testing.T) {
	t.Parallel()
	const n = 1000
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles := generatedProfiles(1, n)
		if res := mustUpsert(t, s, profiles...); res != (db.UpsertResult{Inserted: n}) {
			t.Fatalf("first upsert = %+v, want %d inserted", res, n)
		}
		stored := listByFeedID(t, s)
		if len(stored) != n {
			t.Fatalf("%d performers stored, want %d", len(stored), n)
		}

		log := logStatements(t, s)
		if res := mustUpsert(t, s, generatedProfiles(1, n)...); res != (db.UpsertResult{Unchanged: n}) {
			t.Errorf("replay = %+v, want %d unchanged", res, n)
		}
		if w := log.writes(); len(w) != 0 {
			t.Errorf("replay issued %d statements other than SELECT, want none: %q", len(w), shorten(w))
		}

		// Change one stat of ten profiles, spread over the batch.
		changed := map[int64]bool{}
		for i := 0; i < n; i += n / 10 {
			p := &profiles[i+7]
			p.Views = ptr(*p.Views + 1)
			changed[p.FeedID] = true
		}
		log.Reset()
		if res := mustUpsert(t, s, profiles...); res != (db.UpsertResult{Updated: 10, Unchanged: n - 10}) {
			t.Errorf("upsert with 10 changes = %+v, want 10 updated, %d unchanged", res, n-10)
		}
		if len(log.dml()) == 0 {
			t.Error("upsert with 10 changes issued no INSERT or UPDATE")
		}
		after := listByFeedID(t, s)
		for i, p := range profiles {
			before, now := stored[p.FeedID], after[p.FeedID]
			wantVersion := before.Version
			if changed[p.FeedID] {
				wantVersion++
			}
			if now.Version != wantVersion {
				t.Errorf("feed id %d: version %d -> %d, want %d (changed: %v)", p.FeedID, before.Version, now.Version, wantVersion, changed[p.FeedID])
			}
			if *now.Views != *profiles[i].Views {
				t.Errorf("feed id %d: views = %d, want %d", p.FeedID, *now.Views, *profiles[i].Views)
			}
			if !now.CreatedAt.Equal(before.CreatedAt) {
				t.Errorf("feed id %d: created_at changed from %v to %v", p.FeedID, before.CreatedAt, now.CreatedAt)
			}
			if !changed[p.FeedID] && !now.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("feed id %d is unchanged but its updated_at moved from %v to %v", p.FeedID, before.UpdatedAt, now.UpdatedAt)
			}
		}
		// The children of the 1,000 are intact.
		ids := make([]int64, 0, n)
		for _, p := range after {
			ids = append(ids, p.ID)
		}
		aliases, err := s.Aliases(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		thumbs, err := s.Thumbnails(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range profiles {
			id := after[p.FeedID].ID
			if got := len(aliases[id]); got != 3 {
				t.Errorf("feed id %d has %d aliases, want 3", p.FeedID, got)
			}
			if got := len(thumbs[id]); got != 3 {
				t.Errorf("feed id %d has %d thumbnails, want 3", p.FeedID, got)
			}
		}
	})
}

// listByFeedID returns every performer (removed ones included), by feed id,
// read through Get.
func listByFeedID(t *testing.T, s *db.Store) map[int64]db.Pornstar {
	t.Helper()
	out := map[int64]db.Pornstar{}
	var after string
	for {
		page, err := s.List(context.Background(), db.Filter{Removed: db.RemovedAny}, []db.OrderKey{{Field: db.OrderName}},
			db.Page{First: db.MaxPageSize, After: after})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, p := range page.Items {
			if p.ExternalID != nil {
				out[*p.ExternalID] = p
			}
		}
		if !page.HasNextPage {
			return out
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
}

// TestUpsertProfilesReplacesChildren writes a profile, then another version
// of it: afterwards the aliases, thumbnails and multi-valued attributes in
// the database equal the second version, and the filters follow.
func TestUpsertProfilesReplacesChildren(t *testing.T) {
	t.Parallel()
	const (
		amber = "Amber Alpha"
		bella = "Bella Beta"
		cora  = "Cora Gamma"
	)
	otherURL := imageURL("di.phncdn.com", 424242)
	tests := []struct {
		name        string
		first, then func(p *db.Profile)
		// wantAliases defaults to the aliases of then.
		wantAliases []string
		// found and notFound are filters that must and must not find the
		// performer afterwards.
		found, notFound []db.Filter
	}{
		{name: "alias added",
			first: func(p *db.Profile) { p.Aliases = []string{amber, bella} },
			then:  func(p *db.Profile) { p.Aliases = []string{amber, bella, cora} },
			found: []db.Filter{{Q: "gamma"}, {Q: "alpha"}}},
		{name: "alias removed",
			first:    func(p *db.Profile) { p.Aliases = []string{amber, bella, cora} },
			then:     func(p *db.Profile) { p.Aliases = []string{amber, cora} },
			found:    []db.Filter{{Q: "gamma"}},
			notFound: []db.Filter{{Q: "beta"}}},
		{name: "aliases reordered",
			first: func(p *db.Profile) { p.Aliases = []string{amber, bella, cora} },
			then:  func(p *db.Profile) { p.Aliases = []string{cora, amber, bella} }},
		{name: "aliases moved by one",
			first: func(p *db.Profile) { p.Aliases = []string{amber, bella, cora} },
			then:  func(p *db.Profile) { p.Aliases = []string{bella, cora} }},
		{name: "case duplicates keep the first spelling",
			first:       func(p *db.Profile) { p.Aliases = []string{amber} },
			then:        func(p *db.Profile) { p.Aliases = []string{"Kim Kay", "KIM KAY", bella, "kim kay"} },
			wantAliases: []string{"Kim Kay", bella}},
		{name: "exact duplicates kept once",
			first:       func(p *db.Profile) { p.Aliases = nil },
			then:        func(p *db.Profile) { p.Aliases = []string{bella, bella, amber, bella} },
			wantAliases: []string{bella, amber}},
		{name: "alias respelled in another case",
			first: func(p *db.Profile) { p.Aliases = []string{"kim kay", amber} },
			then:  func(p *db.Profile) { p.Aliases = []string{"Kim Kay", amber} }},
		{name: "non-ASCII case duplicates",
			first:       func(p *db.Profile) { p.Aliases = []string{amber} },
			then:        func(p *db.Profile) { p.Aliases = []string{"Zoë Ünal", "ZOË ÜNAL", "zoë ünal"} },
			wantAliases: []string{"Zoë Ünal"},
			found:       []db.Filter{{Q: "ZOË"}, {Q: "ünal"}},
			notFound:    []db.Filter{{Q: "amber"}}},
		{name: "empty and blank aliases dropped",
			first:       func(p *db.Profile) { p.Aliases = []string{cora} },
			then:        func(p *db.Profile) { p.Aliases = []string{"", amber, " ", "\u00a0", bella, ""} },
			wantAliases: []string{amber, bella}},
		{name: "every alias removed",
			first:       func(p *db.Profile) { p.Aliases = []string{amber, bella} },
			then:        func(p *db.Profile) { p.Aliases = nil },
			wantAliases: nil,
			notFound:    []db.Filter{{Q: "alpha"}, {Q: "beta"}}},
		{name: "name changed",
			first:    func(p *db.Profile) { p.Name = "Old Name Here" },
			then:     func(p *db.Profile) { p.Name = "Brand New Name" },
			found:    []db.Filter{{Q: "brand new"}},
			notFound: []db.Filter{{Q: "old name"}}},
		{name: "thumbnail removed",
			first: func(*db.Profile) {},
			then:  func(p *db.Profile) { p.Thumbnails = p.Thumbnails[:2] }},
		{name: "first thumbnail removed",
			first: func(*db.Profile) {},
			then:  func(p *db.Profile) { p.Thumbnails = p.Thumbnails[1:] }},
		{name: "thumbnail URL replaced",
			first: func(*db.Profile) {},
			then:  func(p *db.Profile) { p.Thumbnails[1].URL = otherURL }},
		{name: "image host changed on every thumbnail",
			first: func(*db.Profile) {},
			then: func(p *db.Profile) {
				p.Thumbnails = feedThumbnails(strings.Replace(p.Thumbnails[0].URL, "ei.phncdn", "di.phncdn", 1))
			}},
		{name: "thumbnail size changed",
			first: func(*db.Profile) {},
			then:  func(p *db.Profile) { p.Thumbnails[2].Width, p.Thumbnails[2].Height = ptr(int32(468)), nil }},
		{name: "thumbnails emptied",
			first: func(*db.Profile) {},
			then:  func(p *db.Profile) { p.Thumbnails = nil }},
		{name: "thumbnail entry with several URLs added",
			first: func(*db.Profile) {},
			then: func(p *db.Profile) {
				p.Thumbnails = append(p.Thumbnails,
					db.ProfileThumbnail{Type: "pc", URL: otherURL}, db.ProfileThumbnail{Type: "pc", URL: designVectorURL})
			}},
		{name: "hair colour changed",
			first:    func(p *db.Profile) { p.HairColors = db.StringList{"Blonde"} },
			then:     func(p *db.Profile) { p.HairColors = db.StringList{"Brunette"} },
			found:    []db.Filter{{HairColors: []string{"brunette"}}},
			notFound: []db.Filter{{HairColors: []string{"blonde"}}}},
		{name: "hair colour added",
			first: func(p *db.Profile) { p.HairColors = db.StringList{"Blonde"} },
			then:  func(p *db.Profile) { p.HairColors = db.StringList{"Blonde", "Red"} },
			found: []db.Filter{{HairColors: []string{"red"}}, {HairColors: []string{"Blonde"}}}},
		{name: "hair colour became unknown",
			first:    func(p *db.Profile) { p.HairColors = db.StringList{"Blonde", "Red"} },
			then:     func(p *db.Profile) { p.HairColors = nil },
			notFound: []db.Filter{{HairColors: []string{"blonde", "red"}}}},
		{name: "ethnicity changed",
			first:    func(p *db.Profile) { p.Ethnicities = db.StringList{"White"} },
			then:     func(p *db.Profile) { p.Ethnicities = db.StringList{"Middle Eastern"} },
			found:    []db.Filter{{Ethnicities: []string{"middle eastern"}}},
			notFound: []db.Filter{{Ethnicities: []string{"white"}}}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				feedID := int64(100 + i)
				first := generatedProfile(feedID)
				tt.first(&first)
				mustUpsert(t, s, first)
				stored := mustGetByFeedID(t, s, feedID)

				then := generatedProfile(feedID)
				tt.first(&then)
				tt.then(&then)
				if res := mustUpsert(t, s, then); res != (db.UpsertResult{Updated: 1}) {
					t.Errorf("second upsert = %+v, want 1 updated", res)
				}
				got := mustGetByFeedID(t, s, feedID)
				if got.ID != stored.ID || got.Version != stored.Version+1 {
					t.Errorf("id %d version %d -> id %d version %d, want the same id and version+1", stored.ID, stored.Version, got.ID, got.Version)
				}
				if diff := fieldsDiff(then.PornstarFields, got.PornstarFields); diff != "" {
					t.Errorf("stored fields differ: %s", diff)
				}
				wantAliases := then.Aliases
				if tt.wantAliases != nil {
					wantAliases = tt.wantAliases
				}
				if gotAliases := aliasesOf(t, s, got.ID); !slices.Equal(gotAliases, wantAliases) {
					t.Errorf("aliases = %q, want %q", gotAliases, wantAliases)
				}
				if gotThumbs, want := thumbnailsOf(t, s, got.ID), withHashes(then.Thumbnails); !reflect.DeepEqual(gotThumbs, want) {
					t.Errorf("thumbnails = %+v, want %+v", gotThumbs, want)
				}
				for _, f := range tt.found {
					if !filterFinds(t, s, f, got.ID) {
						t.Errorf("filter %+v does not find the performer", f)
					}
				}
				for _, f := range tt.notFound {
					if filterFinds(t, s, f, got.ID) {
						t.Errorf("filter %+v still finds the performer", f)
					}
				}
				if res := mustUpsert(t, s, then); res != (db.UpsertResult{Unchanged: 1}) {
					t.Errorf("replay = %+v, want 1 unchanged", res)
				}
			})
		}
	})
}

// filterFinds reports whether List with f returns the performer id.
func filterFinds(t *testing.T, s *db.Store, f db.Filter, id int64) bool {
	t.Helper()
	var after string
	for {
		page, err := s.List(context.Background(), f, nil, db.Page{First: db.MaxPageSize, After: after})
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		for _, p := range page.Items {
			if p.ID == id {
				return true
			}
		}
		if !page.HasNextPage {
			return false
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
}

func TestUpsertProfilesRepeatedFeedIDLastWins(t *testing.T) {
	t.Parallel()
	named := func(feedID int64, name string, aliases ...string) db.Profile {
		p := generatedProfile(feedID)
		p.Name, p.Aliases = name, aliases
		return p
	}
	tests := []struct {
		name     string
		existing []db.Profile
		batch    []db.Profile
		want     db.UpsertResult
		wantName string
		aliases  []string
	}{
		{name: "new performer",
			batch:    []db.Profile{named(1, "First", "a1"), named(2, "Other"), named(1, "Second", "b1", "b2")},
			want:     db.UpsertResult{Inserted: 2},
			wantName: "Second", aliases: []string{"b1", "b2"}},
		{name: "existing performer, last differs",
			existing: []db.Profile{named(1, "Stored", "s")},
			batch:    []db.Profile{named(1, "Stored", "s"), named(1, "Changed", "c")},
			want:     db.UpsertResult{Updated: 1},
			wantName: "Changed", aliases: []string{"c"}},
		{name: "existing performer, last equals stored",
			existing: []db.Profile{named(1, "Stored", "s")},
			batch:    []db.Profile{named(1, "Changed", "c"), named(1, "Stored", "s")},
			want:     db.UpsertResult{Unchanged: 1},
			wantName: "Stored", aliases: []string{"s"}},
		{name: "three times in one batch",
			batch:    []db.Profile{named(1, "One"), named(1, "Two"), named(1, "Three", "t")},
			want:     db.UpsertResult{Inserted: 1},
			wantName: "Three", aliases: []string{"t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, s *db.Store) {
				if len(tt.existing) > 0 {
					mustUpsert(t, s, tt.existing...)
				}
				if res := mustUpsert(t, s, tt.batch...); res != tt.want {
					t.Errorf("UpsertProfiles = %+v, want %+v", res, tt.want)
				}
				got := mustGetByFeedID(t, s, 1)
				if got.Name != tt.wantName {
					t.Errorf("name = %q, want %q", got.Name, tt.wantName)
				}
				if a := aliasesOf(t, s, got.ID); !slices.Equal(a, tt.aliases) {
					t.Errorf("aliases = %q, want %q", a, tt.aliases)
				}
			})
		})
	}
}

func TestMarkRemovedAndReturn(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		profiles := generatedProfiles(1, 3) // feed ids 1, 2, 3
		mustUpsert(t, s, profiles...)
		api, err := s.Create(ctx, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Made Through The API"}})
		if err != nil {
			t.Fatal(err)
		}
		stored := mustGetByFeedID(t, s, 2)

		marked, err := s.MarkRemoved(ctx, []int64{2, 999, api.ID})
		if err != nil || marked != 1 {
			t.Fatalf("MarkRemoved([2 999 %d]) = %d, %v; want 1 (the unknown feed id and the API record are not marked)", api.ID, marked, err)
		}
		removed := mustGetByFeedID(t, s, 2)
		if removed.RemovedAt == nil || removed.Version != stored.Version+1 {
			t.Fatalf("after MarkRemoved: removed_at %v, version %d; want set and %d", removed.RemovedAt, removed.Version, stored.Version+1)
		}
		checkUTC(t, "RemovedAt", *removed.RemovedAt)
		if got, _ := s.Get(ctx, api.ID); got == nil || got.RemovedAt != nil || got.Version != 1 {
			t.Errorf("the API record was touched by MarkRemoved: %+v", got)
		}

		for _, tt := range []struct {
			removed db.Removed
			want    []string
		}{
			{"", []string{"Made Through The API", "performer 00001", "performer 00003"}},
			{db.RemovedExclude, []string{"Made Through The API", "performer 00001", "performer 00003"}},
			{db.RemovedOnly, []string{"performer 00002"}},
			{db.RemovedAny, []string{"Made Through The API", "performer 00001", "performer 00002", "performer 00003"}},
		} {
			if got := namesOf(listAll(t, s, db.Filter{Removed: tt.removed}, nil)); !slices.Equal(got, tt.want) {
				t.Errorf("removed=%q lists %q, want %q", tt.removed, got, tt.want)
			}
		}

		again, err := s.MarkRemoved(ctx, []int64{2})
		if err != nil || again != 0 {
			t.Errorf("second MarkRemoved = %d, %v; want 0", again, err)
		}
		if got := mustGetByFeedID(t, s, 2); got.Version != removed.Version || !got.RemovedAt.Equal(*removed.RemovedAt) {
			t.Errorf("second MarkRemoved changed the row: version %d -> %d, removed_at %v -> %v",
				removed.Version, got.Version, removed.RemovedAt, got.RemovedAt)
		}
		if n, err := s.MarkRemoved(ctx, nil); err != nil || n != 0 {
			t.Errorf("MarkRemoved(nil) = %d, %v; want 0, nil", n, err)
		}

		// The performer returns with exactly the content it had.
		if res := mustUpsert(t, s, profiles[1]); res != (db.UpsertResult{Updated: 1, Restored: 1}) {
			t.Errorf("return = %+v, want 1 updated and restored", res)
		}
		back := mustGetByFeedID(t, s, 2)
		if back.RemovedAt != nil || back.Version != removed.Version+1 || back.ID != stored.ID {
			t.Errorf("after return: removed_at %v, version %d, id %d; want nil, %d, %d", back.RemovedAt, back.Version, back.ID, removed.Version+1, stored.ID)
		}
		if *back.ContentHash != *stored.ContentHash {
			t.Errorf("content hash changed on return")
		}
		if a := aliasesOf(t, s, back.ID); !slices.Equal(a, profiles[1].Aliases) {
			t.Errorf("aliases after return = %q, want %q", a, profiles[1].Aliases)
		}
		if res := mustUpsert(t, s, profiles[1]); res != (db.UpsertResult{Unchanged: 1}) {
			t.Errorf("replay after return = %+v, want 1 unchanged", res)
		}

		// A performer that returns changed is restored and updated.
		if _, err := s.MarkRemoved(ctx, []int64{3}); err != nil {
			t.Fatal(err)
		}
		changed := profiles[2]
		changed.Age = ptr(*changed.Age + 1)
		if res := mustUpsert(t, s, profiles[0], changed); res != (db.UpsertResult{Updated: 1, Restored: 1, Unchanged: 1}) {
			t.Errorf("changed return = %+v, want 1 updated and restored, 1 unchanged", res)
		}
		if got := mustGetByFeedID(t, s, 3); got.RemovedAt != nil || *got.Age != *changed.Age {
			t.Errorf("after changed return: removed_at %v, age %d", got.RemovedAt, *got.Age)
		}
	})
}

func TestGetNotFound(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, generatedProfile(5))
		api, err := s.Create(ctx, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Api"}})
		if err != nil {
			t.Fatal(err)
		}
		if feed := mustGetByFeedID(t, s, 5); feed.ID == api.ID || api.ID == 5 {
			t.Fatalf("ids overlap: feed record %d, API record %d", feed.ID, api.ID)
		}
		tests := []struct {
			name string
			get  func() (*db.Pornstar, error)
		}{
			{"Get of an unknown id", func() (*db.Pornstar, error) { return s.Get(ctx, 999_999) }},
			{"Get of id 0", func() (*db.Pornstar, error) { return s.Get(ctx, 0) }},
			{"GetPrimary of an unknown id", func() (*db.Pornstar, error) { return s.GetPrimary(ctx, 999_999) }},
			{"GetByFeedID of an unknown feed id", func() (*db.Pornstar, error) { return s.GetByFeedID(ctx, 6) }},
			// The API record's database id is no feed id.
			{"GetByFeedID with the id of an API record", func() (*db.Pornstar, error) { return s.GetByFeedID(ctx, api.ID) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p, err := tt.get()
				if !errors.Is(err, db.ErrNotFound) || p != nil {
					t.Errorf("got %+v, %v; want nil, ErrNotFound", p, err)
				}
			})
		}
	})
}

// apiInput is the input of a fully described API record.
func apiInput(name string) db.PornstarInput {
	p := fullProfile(1)
	p.Name = name
	return db.PornstarInput{PornstarFields: p.PornstarFields, Aliases: []string{"First Alias", "Second Alias"}, Thumbnails: p.Thumbnails}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	other := apiInput("Completely Other")
	other.Age, other.License, other.HairColors = nil, ptr("REGULAR"), db.StringList{"Red"}
	other.Aliases = []string{"Other Alias"}
	other.Thumbnails = feedThumbnails(imageURL("di.phncdn.com", 77))

	tests := []struct {
		name      string
		patch     db.PornstarPatch
		ifVersion func(current int64) *int64
		// want changes the created input into what must be stored.
		want      func(in *db.PornstarInput)
		wantErr   error
		wantField string
		// found and notFound are filters that must and must not find the
		// record afterwards.
		found, notFound []db.Filter
	}{
		{name: "name only: every other field stays",
			patch:    db.PornstarPatch{Name: db.Some("Renamed Person")},
			want:     func(in *db.PornstarInput) { in.Name = "Renamed Person" },
			found:    []db.Filter{{Q: "renamed"}, {Q: "first alias"}},
			notFound: []db.Filter{{Q: "original"}}},
		{name: "Some(nil) clears nullable fields",
			patch: db.PornstarPatch{
				License: db.Some[*string](nil), Age: db.Some[*int32](nil), WLStatus: db.Some[*bool](nil),
				HairColors: db.Some[db.StringList](nil), Views: db.Some[*int64](nil), RankWL: db.Some[*int64](nil),
			},
			want: func(in *db.PornstarInput) {
				in.License, in.Age, in.WLStatus, in.HairColors, in.Views, in.RankWL = nil, nil, nil, nil, nil, nil
			},
			notFound: []db.Filter{{HairColors: []string{"blonde"}}, {Licenses: []string{"PREMIUM"}}}},
		{name: "zero values are set, not cleared",
			patch: db.PornstarPatch{Age: db.Some(ptr(int32(0))), Tattoos: db.Some(ptr(false)), Subscriptions: db.Some(ptr(int64(0)))},
			want: func(in *db.PornstarInput) {
				in.Age, in.Tattoos, in.Subscriptions = ptr(int32(0)), ptr(false), ptr(int64(0))
			},
			found: []db.Filter{{Tattoos: ptr(false)}}},
		{name: "64-bit stat",
			patch: db.PornstarPatch{Views: db.Some(ptr(int64(1<<62 + 5))), MonthlySearches: db.Some(ptr(int64(4_200_000_001)))},
			want: func(in *db.PornstarInput) {
				in.Views, in.MonthlySearches = ptr(int64(1<<62+5)), ptr(int64(4_200_000_001))
			}},
		{name: "hair colours replaced",
			patch:    db.PornstarPatch{HairColors: db.Some(db.StringList{"Red", "Black"})},
			want:     func(in *db.PornstarInput) { in.HairColors = db.StringList{"Red", "Black"} },
			found:    []db.Filter{{HairColors: []string{"black"}}},
			notFound: []db.Filter{{HairColors: []string{"blonde", "brunette"}}}},
		{name: "aliases replaced when set",
			patch:    db.PornstarPatch{Aliases: db.Some([]string{"New One", "NEW ONE", "", "New Two"})},
			want:     func(in *db.PornstarInput) { in.Aliases = []string{"New One", "New Two"} },
			found:    []db.Filter{{Q: "new two"}},
			notFound: []db.Filter{{Q: "first alias"}}},
		{name: "aliases cleared",
			patch:    db.PornstarPatch{Aliases: db.Some([]string{})},
			want:     func(in *db.PornstarInput) { in.Aliases = nil },
			notFound: []db.Filter{{Q: "second alias"}}},
		{name: "thumbnails replaced, aliases kept",
			patch: db.PornstarPatch{Thumbnails: db.Some(feedThumbnails(imageURL("di.phncdn.com", 5))[:1])},
			want:  func(in *db.PornstarInput) { in.Thumbnails = feedThumbnails(imageURL("di.phncdn.com", 5))[:1] },
			found: []db.Filter{{Q: "second alias"}}},
		{name: "full replace",
			patch: db.ReplaceAll(other),
			want:  func(in *db.PornstarInput) { *in = other }},
		{name: "matching ifVersion",
			patch:     db.PornstarPatch{Name: db.Some("Checked")},
			ifVersion: func(current int64) *int64 { return &current },
			want:      func(in *db.PornstarInput) { in.Name = "Checked" }},
		{name: "stale ifVersion",
			patch:     db.PornstarPatch{Name: db.Some("Lost Update")},
			ifVersion: func(current int64) *int64 { return ptr(current + 1) },
			wantErr:   db.ErrVersionMismatch},
		{name: "empty name",
			patch:   db.PornstarPatch{Name: db.Some("")},
			wantErr: db.ErrInvalid, wantField: "name"},
		{name: "invalid alias",
			patch:   db.PornstarPatch{Aliases: db.Some([]string{"fine", "bad \xff"})},
			wantErr: db.ErrInvalid, wantField: "aliases/1"},
		{name: "empty hair colour",
			patch:   db.PornstarPatch{HairColors: db.Some(db.StringList{"Blonde", ""})},
			wantErr: db.ErrInvalid, wantField: "hair_colors/1"},
		{name: "thumbnail without URL",
			patch:   db.PornstarPatch{Thumbnails: db.Some([]db.ProfileThumbnail{{Type: "pc"}})},
			wantErr: db.ErrInvalid, wantField: "thumbnails/0/url"},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := apiInput("Original Person")
				created, err := s.Create(ctx, in)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				var ifVersion *int64
				if tt.ifVersion != nil {
					ifVersion = tt.ifVersion(created.Version)
				}
				updated, err := s.Update(ctx, created.ID, tt.patch, ifVersion)
				want := in
				want.Aliases = slices.Clone(in.Aliases)
				wantVersion := created.Version
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Update = %v, want %v", err, tt.wantErr)
					}
					checkFieldError(t, err, tt.wantField)
				} else {
					if err != nil {
						t.Fatalf("Update: %v", err)
					}
					tt.want(&want)
					wantVersion++
					if updated.Version != wantVersion {
						t.Errorf("Update returned version %d, want %d", updated.Version, wantVersion)
					}
					if diff := fieldsDiff(want.PornstarFields, updated.PornstarFields); diff != "" {
						t.Errorf("Update returned fields that differ: %s", diff)
					}
				}
				got, err := s.Get(ctx, created.ID)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if diff := fieldsDiff(want.PornstarFields, got.PornstarFields); diff != "" {
					t.Errorf("stored fields differ: %s", diff)
				}
				if got.Version != wantVersion {
					t.Errorf("version = %d, want %d", got.Version, wantVersion)
				}
				if got.ExternalID != nil || got.ContentHash != nil || !got.CreatedAt.Equal(created.CreatedAt) {
					t.Errorf("external id %v, content hash %v, created_at %v -> %v: want nil, nil and unchanged",
						got.ExternalID, got.ContentHash, created.CreatedAt, got.CreatedAt)
				}
				if tt.wantErr == nil && (got.UpdatedAt.Before(created.UpdatedAt) || !got.UpdatedAt.Equal(updated.UpdatedAt)) {
					t.Errorf("updated_at: created %v, returned by Update %v, stored %v", created.UpdatedAt, updated.UpdatedAt, got.UpdatedAt)
				}
				if a := aliasesOf(t, s, got.ID); !slices.Equal(a, want.Aliases) {
					t.Errorf("aliases = %q, want %q", a, want.Aliases)
				}
				if th := thumbnailsOf(t, s, got.ID); !reflect.DeepEqual(th, withHashes(want.Thumbnails)) {
					t.Errorf("thumbnails = %+v, want %+v", th, withHashes(want.Thumbnails))
				}
				for _, f := range tt.found {
					if !filterFinds(t, s, f, got.ID) {
						t.Errorf("filter %+v does not find the record", f)
					}
				}
				for _, f := range tt.notFound {
					if filterFinds(t, s, f, got.ID) {
						t.Errorf("filter %+v still finds the record", f)
					}
				}
			})
		}
		t.Run("unknown id", func(t *testing.T) {
			if _, err := s.Update(ctx, 999_999, db.PornstarPatch{Name: db.Some("X")}, nil); !errors.Is(err, db.ErrNotFound) {
				t.Errorf("Update(unknown) = %v, want ErrNotFound", err)
			}
		})
	})
}

// checkFieldError checks that err carries a *db.FieldError naming field
// (when field is not empty).
func checkFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		return
	}
	var fe *db.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %v carries no *db.FieldError", err)
		return
	}
	if fe.Field != field {
		t.Errorf("FieldError.Field = %q, want %q (%v)", fe.Field, field, err)
	}
	if !errors.Is(err, db.ErrInvalid) {
		t.Errorf("error %v is not ErrInvalid", err)
	}
}

// TestUpdateFeedRecord edits a feed-managed performer: the edit is kept until
// the feed changes that performer, and then the feed wins.
func TestUpdateFeedRecord(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		p := generatedProfile(9)
		mustUpsert(t, s, p)
		stored := mustGetByFeedID(t, s, 9)

		edited, err := s.Update(ctx, stored.ID, db.PornstarPatch{Name: db.Some("Edited Name"), Aliases: db.Some([]string{"Edited Alias"})}, &stored.Version)
		if err != nil {
			t.Fatalf("Update of a feed record: %v", err)
		}
		if edited.Version != stored.Version+1 || edited.ExternalID == nil || *edited.ExternalID != 9 {
			t.Errorf("after edit: version %d, external id %v; want %d and 9", edited.Version, edited.ExternalID, stored.Version+1)
		}
		got := mustGetByFeedID(t, s, 9)
		if got.Name != "Edited Name" || *got.ContentHash != *stored.ContentHash {
			t.Errorf("after edit: name %q, content hash %s; want the edit and the feed's hash %s", got.Name, *got.ContentHash, *stored.ContentHash)
		}

		// The same feed profile again is no change: the edit stays.
		if res := mustUpsert(t, s, p); res != (db.UpsertResult{Unchanged: 1}) {
			t.Errorf("replay after edit = %+v, want 1 unchanged", res)
		}
		if got := mustGetByFeedID(t, s, 9); got.Name != "Edited Name" {
			t.Errorf("an unchanged feed profile overwrote the edit: name %q", got.Name)
		}

		// A feed change overwrites the edit, aliases included.
		p.Views = ptr(*p.Views + 1)
		if res := mustUpsert(t, s, p); res != (db.UpsertResult{Updated: 1}) {
			t.Errorf("feed change after edit = %+v, want 1 updated", res)
		}
		got = mustGetByFeedID(t, s, 9)
		if diff := fieldsDiff(p.PornstarFields, got.PornstarFields); diff != "" {
			t.Errorf("feed change did not overwrite the edit: %s", diff)
		}
		if got.Version != edited.Version+1 {
			t.Errorf("version = %d, want %d", got.Version, edited.Version+1)
		}
		if a := aliasesOf(t, s, got.ID); !slices.Equal(a, p.Aliases) {
			t.Errorf("aliases = %q, want the feed's %q", a, p.Aliases)
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, generatedProfile(3))
		feedRecord := mustGetByFeedID(t, s, 3)
		tests := []struct {
			name string
			// target returns the id to delete and the ifVersion to send.
			target  func(t *testing.T) (int64, *int64)
			wantErr []error
			// gone says the record must have disappeared.
			gone bool
		}{
			{name: "API record",
				target: func(t *testing.T) (int64, *int64) { return mustCreate(t, s, apiInput("Deleted Person")).ID, nil },
				gone:   true},
			{name: "API record with its version",
				target: func(t *testing.T) (int64, *int64) {
					p := mustCreate(t, s, apiInput("Deleted Person Two"))
					return p.ID, &p.Version
				},
				gone: true},
			{name: "API record with a stale version",
				target: func(t *testing.T) (int64, *int64) {
					p := mustCreate(t, s, apiInput("Kept Person"))
					return p.ID, ptr(p.Version + 1)
				},
				wantErr: []error{db.ErrVersionMismatch}},
			{name: "feed record",
				target:  func(*testing.T) (int64, *int64) { return feedRecord.ID, nil },
				wantErr: []error{db.ErrFeedManaged, db.ErrConflict}},
			{name: "removed feed record",
				target: func(t *testing.T) (int64, *int64) {
					if _, err := s.MarkRemoved(ctx, []int64{3}); err != nil {
						t.Fatal(err)
					}
					return feedRecord.ID, nil
				},
				wantErr: []error{db.ErrFeedManaged, db.ErrConflict}},
			{name: "unknown id",
				target:  func(*testing.T) (int64, *int64) { return 999_999, nil },
				wantErr: []error{db.ErrNotFound}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				id, ifVersion := tt.target(t)
				err := s.Delete(ctx, id, ifVersion)
				for _, want := range tt.wantErr {
					if !errors.Is(err, want) {
						t.Errorf("Delete = %v, want errors.Is %v", err, want)
					}
				}
				if len(tt.wantErr) == 0 && err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if !tt.gone {
					return
				}
				if p, err := s.Get(ctx, id); !errors.Is(err, db.ErrNotFound) {
					t.Errorf("Get after Delete = %+v, %v; want ErrNotFound", p, err)
				}
				if a := aliasesOf(t, s, id); len(a) != 0 {
					t.Errorf("aliases left after Delete: %q", a)
				}
				if th := thumbnailsOf(t, s, id); len(th) != 0 {
					t.Errorf("thumbnails left after Delete: %+v", th)
				}
				if filterFinds(t, s, db.Filter{HairColors: []string{"blonde"}, Removed: db.RemovedAny}, id) {
					t.Error("the hair colour filter still finds the deleted record")
				}
				if err := s.Delete(ctx, id, nil); !errors.Is(err, db.ErrNotFound) {
					t.Errorf("second Delete = %v, want ErrNotFound", err)
				}
			})
		}
		if got, err := s.Get(ctx, feedRecord.ID); err != nil || got.Name != feedRecord.Name {
			t.Errorf("the feed record is gone after refused deletes: %+v, %v", got, err)
		}
	})
}

func mustCreate(t *testing.T, s *db.Store, in db.PornstarInput) *db.Pornstar {
	t.Helper()
	p, err := s.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return p
}

// invalidCase makes a valid profile invalid in one way; field is the
// FieldError's path.
type invalidCase struct {
	name   string
	change func(p *db.Profile)
	field  string
}

var invalidCases = []invalidCase{
	{"empty name", func(p *db.Profile) { p.Name = "" }, "name"},
	{"blank name", func(p *db.Profile) { p.Name = " \t " }, "name"},
	{"name over 255 characters", func(p *db.Profile) { p.Name = strings.Repeat("ë", 256) }, "name"},
	{"name not valid UTF-8", func(p *db.Profile) { p.Name = "Zo\xeb" }, "name"},
	{"NUL in name", func(p *db.Profile) { p.Name = "a\x00b" }, "name"},
	{"alias over 255 characters", func(p *db.Profile) { p.Aliases = []string{"ok", strings.Repeat("a", 256)} }, "aliases/1"},
	{"alias not valid UTF-8", func(p *db.Profile) { p.Aliases = []string{"\xf0\x9f\x98"} }, "aliases/0"},
	{"link over 1024 characters", func(p *db.Profile) { p.Link = ptr("https://x.example/" + strings.Repeat("a", 1024)) }, "link"},
	{"license over 32 characters", func(p *db.Profile) { p.License = ptr(strings.Repeat("L", 33)) }, "license"},
	{"breast type over 16 characters", func(p *db.Profile) { p.BreastType = ptr(strings.Repeat("D", 17)) }, "breast_type"},
	{"empty hair colour", func(p *db.Profile) { p.HairColors = db.StringList{"Blonde", " "} }, "hair_colors/1"},
	{"ethnicity not valid UTF-8", func(p *db.Profile) { p.Ethnicities = db.StringList{"\xff"} }, "ethnicities/0"},
	{"thumbnail without URL", func(p *db.Profile) { p.Thumbnails[0].URL = "" }, "thumbnails/0/url"},
	{"thumbnail URL over 2048 characters", func(p *db.Profile) {
		p.Thumbnails[2].URL = "https://ei.phncdn.com/" + strings.Repeat("p", 2048)
	}, "thumbnails/2/url"},
	{"thumbnail URL hash that does not match", func(p *db.Profile) { p.Thumbnails[1].URLHash = designVectorHash }, "thumbnails/1/url_hash"},
	{"thumbnail type over 32 characters", func(p *db.Profile) { p.Thumbnails[0].Type = strings.Repeat("t", 33) }, "thumbnails/0/type"},
	// Negative counts: no performer has them (db.ProfileRules).
	{"negative age", func(p *db.Profile) { p.Age = ptr(int32(-1)) }, "age"},
	{"negative breast size", func(p *db.Profile) { p.BreastSize = ptr(int32(-34)) }, "breast_size"},
	{"negative subscriptions", func(p *db.Profile) { p.Subscriptions = ptr(int64(-1)) }, "subscriptions"},
	{"negative monthly searches", func(p *db.Profile) { p.MonthlySearches = ptr(int64(-1)) }, "monthly_searches"},
	{"negative views", func(p *db.Profile) { p.Views = ptr(int64(math.MinInt64)) }, "views"},
	{"negative videos count", func(p *db.Profile) { p.VideosCount = ptr(int64(-1)) }, "videos_count"},
	{"negative premium videos count", func(p *db.Profile) { p.PremiumVideosCount = ptr(int64(-1)) }, "premium_videos_count"},
	{"negative white-label video count", func(p *db.Profile) { p.WhiteLabelVideoCount = ptr(int64(-1)) }, "white_label_video_count"},
	{"negative rank", func(p *db.Profile) { p.Rank = ptr(int64(-1)) }, "rank"},
	{"negative premium rank", func(p *db.Profile) { p.RankPremium = ptr(int64(-1)) }, "rank_premium"},
	{"negative white-label rank", func(p *db.Profile) { p.RankWL = ptr(int64(-1)) }, "rank_wl"},
	{"negative thumbnail width", func(p *db.Profile) { p.Thumbnails[1].Width = ptr(int32(-1)) }, "thumbnails/1/width"},
	{"negative thumbnail height", func(p *db.Profile) { p.Thumbnails[2].Height = ptr(int32(-344)) }, "thumbnails/2/height"},
}

func TestInvalidInputIsRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		existing := generatedProfiles(1, 2)
		mustUpsert(t, s, existing...)
		apiRecord := mustCreate(t, s, apiInput("Api Record"))
		before := listByFeedID(t, s)

		cases := slices.Clone(invalidCases)
		cases = append(cases,
			invalidCase{"feed id 0 (upsert only)", func(p *db.Profile) { p.FeedID = 0 }, "feed_id"},
			invalidCase{"malformed content hash (upsert only)", func(p *db.Profile) { p.ContentHash = "abc" }, "content_hash"},
		)
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				bad := generatedProfile(50)
				tt.change(&bad)
				upsertOnly := strings.Contains(tt.name, "upsert only")

				t.Run("UpsertProfiles", func(t *testing.T) {
					changed := existing[0]
					changed.Views = ptr(*changed.Views + 1)
					batch := []db.Profile{changed, generatedProfile(40), bad, generatedProfile(41)}
					res, err := s.UpsertProfiles(ctx, batch)
					var pe *db.ProfileError
					if !errors.As(err, &pe) {
						t.Fatalf("UpsertProfiles = %+v, %v; want a *db.ProfileError", res, err)
					}
					if pe.Index != 2 || pe.FeedID != bad.FeedID {
						t.Errorf("ProfileError names index %d, feed id %d; want 2 and %d", pe.Index, pe.FeedID, bad.FeedID)
					}
					checkFieldError(t, err, tt.field)
					if res != (db.UpsertResult{}) {
						t.Errorf("result of a refused batch = %+v, want zero", res)
					}
					after := listByFeedID(t, s)
					if len(after) != len(before) {
						t.Errorf("a refused batch wrote performers: %d before, %d after", len(before), len(after))
					}
					if got := after[changed.FeedID]; got.Version != before[changed.FeedID].Version || *got.Views != *existing[0].Views {
						t.Errorf("a refused batch updated feed id %d: version %d, views %d", changed.FeedID, got.Version, *got.Views)
					}
				})
				if upsertOnly {
					return
				}
				in := db.PornstarInput{PornstarFields: bad.PornstarFields, Aliases: bad.Aliases, Thumbnails: bad.Thumbnails}
				t.Run("Create", func(t *testing.T) {
					p, err := s.Create(ctx, in)
					if !errors.Is(err, db.ErrInvalid) || p != nil {
						t.Fatalf("Create = %+v, %v; want ErrInvalid", p, err)
					}
					checkFieldError(t, err, tt.field)
					if n, err := s.Count(ctx, db.Filter{Removed: db.RemovedAny}); err != nil || n != int64(len(before)+1) {
						t.Errorf("Count = %d, %v; want %d", n, err, len(before)+1)
					}
				})
				t.Run("Update", func(t *testing.T) {
					p, err := s.Update(ctx, apiRecord.ID, db.ReplaceAll(in), nil)
					if !errors.Is(err, db.ErrInvalid) || p != nil {
						t.Fatalf("Update = %+v, %v; want ErrInvalid", p, err)
					}
					checkFieldError(t, err, tt.field)
					if got, err := s.Get(ctx, apiRecord.ID); err != nil || got.Version != apiRecord.Version || got.Name != apiRecord.Name {
						t.Errorf("a refused update changed the record: %+v, %v", got, err)
					}
				})
			})
		}
	})
}

// TestConcurrentReadsDuringUpserts reads while a writer upserts: no call may
// fail ("database is locked" on SQLite). Bounded by iterations, not time.
func TestConcurrentReadsDuringUpserts(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		const (
			performers = 300
			batches    = 12
			batchSize  = 100
			readers    = 4
			reads      = 30
		)
		mustUpsert(t, s, generatedProfiles(1, performers)...)
		ids := idsOf(listAll(t, s, db.Filter{FeedIDs: []int64{1, 2, 3}}, nil))

		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			failed []error
		)
		fail := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, err)
		}
		wg.Go(func() {
			for b := range batches {
				first := int64(1 + b*batchSize/2%performers)
				profiles := generatedProfiles(first, batchSize)
				for i := range profiles {
					profiles[i].Views = ptr(*profiles[i].Views + int64(b))
				}
				if _, err := s.UpsertProfiles(ctx, profiles); err != nil {
					fail(fmt.Errorf("batch %d: %w", b, err))
				}
				if _, err := s.MarkRemoved(ctx, []int64{first}); err != nil {
					fail(fmt.Errorf("mark removed %d: %w", b, err))
				}
			}
		})
		filters := []db.Filter{{}, {Q: "performer 001"}, {HairColors: []string{"blonde"}}, {Removed: db.RemovedAny}}
		orders := [][]db.OrderKey{nil, {{Field: db.OrderViews, Desc: true}}, {{Field: db.OrderUpdatedAt}}}
		for r := range readers {
			wg.Go(func() {
				for i := range reads {
					f, o := filters[(r+i)%len(filters)], orders[i%len(orders)]
					page, err := s.List(ctx, f, o, db.Page{First: 20, WithTotal: true})
					if err != nil {
						fail(fmt.Errorf("reader %d: List: %w", r, err))
						continue
					}
					if len(page.Cursors) > 0 {
						if _, err := s.List(ctx, f, o, db.Page{First: 20, After: page.Cursors[len(page.Cursors)-1]}); err != nil {
							fail(fmt.Errorf("reader %d: List next page: %w", r, err))
						}
					}
					if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
						fail(fmt.Errorf("reader %d: Get: %w", r, err))
					}
					if _, err := s.Aliases(ctx, idsOf(page.Items)); err != nil {
						fail(fmt.Errorf("reader %d: Aliases: %w", r, err))
					}
				}
			})
		}
		wg.Wait()
		for _, err := range failed {
			if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "sqlite 5") {
				t.Errorf("database is locked: %v", err)
			} else {
				t.Error(err)
			}
		}
	})
}

// sqlWords must never appear in an error: errors reach API clients and logs
// that are not meant to show queries.
var sqlWords = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "FROM", "WHERE"}

func checkNoSQL(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want a database error", what)
		return
	}
	if errors.Is(err, db.ErrNotFound) || errors.Is(err, db.ErrInvalid) {
		t.Errorf("%s = %v: a broken database is reported as a caller's mistake", what, err)
	}
	var de *db.DatabaseError
	if !errors.As(err, &de) {
		t.Errorf("%s = %v (%T), want a *db.DatabaseError", what, err, err)
	}
	for _, w := range sqlWords {
		if strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q contains SQL (%s)", what, err, w)
		}
	}
}

func TestErrorsCarryNoSQL(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, generatedProfiles(1, 3)...)
		run, err := s.QueueRun(ctx, db.RequestedByCLI, false)
		if err != nil {
			t.Fatal(err)
		}
		ids := idsOf(listAll(t, s, db.Filter{}, nil))
		hash := db.URLHash(imageURL("ei.phncdn.com", 1))

		for _, table := range []string{"feed_run_rejects", "images", "thumbnails"} {
			if _, err := s.DB().W.ExecContext(ctx, "DROP TABLE "+table); err != nil {
				t.Fatalf("drop %s: %v", table, err)
			}
		}
		droppedTable := []struct {
			name string
			call func() error
		}{
			{"AddRejects without its table", func() error {
				_, err := s.AddRejects(ctx, run.ID, []db.FeedRunReject{{ItemIndex: 1, Reason: "bad"}})
				return err
			}},
			{"Rejects without its table", func() error { _, err := s.Rejects(ctx, run.ID, 10); return err }},
			{"UpsertImages without its table", func() error {
				return s.UpsertImages(ctx, []db.ImageState{{URLHash: hash, URL: "https://x", Status: db.ImageFailed}})
			}},
			{"Image without its table", func() error { _, err := s.Image(ctx, hash); return err }},
			{"Thumbnails without its table", func() error { _, err := s.Thumbnails(ctx, ids); return err }},
			{"List by has_image without its tables", func() error {
				_, err := s.List(ctx, db.Filter{HasImage: ptr(true)}, nil, db.Page{})
				return err
			}},
			{"UpsertProfiles without thumbnails", func() error {
				_, err := s.UpsertProfiles(ctx, []db.Profile{generatedProfile(10)})
				return err
			}},
		}
		for _, tt := range droppedTable {
			t.Run(tt.name, func(t *testing.T) { checkNoSQL(t, tt.name, tt.call()) })
		}

		if err := s.DB().Close(); err != nil {
			t.Fatal(err)
		}
		closed := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := s.Get(ctx, ids[0]); return err }},
			{"GetByFeedID", func() error { _, err := s.GetByFeedID(ctx, 1); return err }},
			{"List", func() error { _, err := s.List(ctx, db.Filter{Q: "x"}, nil, db.Page{WithTotal: true}); return err }},
			{"Count", func() error { _, err := s.Count(ctx, db.Filter{}); return err }},
			{"UpsertProfiles", func() error { _, err := s.UpsertProfiles(ctx, generatedProfiles(1, 2)); return err }},
			{"MarkRemoved", func() error { _, err := s.MarkRemoved(ctx, []int64{1}); return err }},
			{"Create", func() error { _, err := s.Create(ctx, apiInput("X")); return err }},
			{"Update", func() error { _, err := s.Update(ctx, ids[0], db.PornstarPatch{Name: db.Some("Y")}, nil); return err }},
			{"Delete", func() error { return s.Delete(ctx, ids[0], nil) }},
			{"Aliases", func() error { _, err := s.Aliases(ctx, ids); return err }},
			{"ImagesForPornstars", func() error { _, err := s.ImagesForPornstars(ctx, ids); return err }},
			{"Images", func() error { _, err := s.Images(ctx, []string{hash}); return err }},
			{"QueueRun", func() error { _, err := s.QueueRun(ctx, db.RequestedByAPI, false); return err }},
			{"ClaimRun", func() error { _, err := s.ClaimRun(ctx); return err }},
			{"FinishRun", func() error { _, err := s.FinishRun(ctx, run.ID, db.RunFailed, db.FeedRunResult{}); return err }},
			{"GetRun", func() error { _, err := s.GetRun(ctx, run.ID); return err }},
			{"ActiveRun", func() error { _, err := s.ActiveRun(ctx); return err }},
			{"ListRuns", func() error { _, err := s.ListRuns(ctx, 10, ""); return err }},
			{"LastCompletedRun", func() error { _, err := s.LastCompletedRun(ctx); return err }},
		}
		for _, tt := range closed {
			t.Run("closed database/"+tt.name, func(t *testing.T) { checkNoSQL(t, tt.name, tt.call()) })
		}
	})
}
