package db_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"marquee/db"
)

// filterData is the performers the filter tests search, by name. Every
// filter case lists the names it must find.
type filterData struct {
	profiles []db.Profile
	// images are the outcomes recorded for some thumbnail URLs.
	images []db.ImageState
}

func newFilterData() filterData {
	cachedURL := imageURL("ei.phncdn.com", 1)
	failedURL := imageURL("ei.phncdn.com", 2)
	pendingURL := imageURL("ei.phncdn.com", 3)

	anna := bareProfile(1, "Anna Blonde")
	anna.HairColors, anna.Ethnicities = db.StringList{"Blonde"}, db.StringList{"White"}
	anna.Gender, anna.Orientation, anna.License = ptr("female"), ptr("straight"), ptr("REGULAR")
	anna.WLStatus, anna.Tattoos, anna.Piercings = ptr(false), ptr(true), ptr(false)
	anna.Aliases = []string{"Annie B"}
	anna.Link, anna.BreastType = ptr("https://www.pornhub.com/pornstar/anna-b"), ptr("Natural")
	anna.Thumbnails = feedThumbnails(cachedURL)

	bella := bareProfile(2, "Bella Both")
	bella.HairColors, bella.Ethnicities = db.StringList{"Blonde", "Brunette"}, db.StringList{"Latina"}
	bella.Gender, bella.Orientation, bella.License = ptr("female"), ptr("straight"), ptr("PREMIUM")
	bella.WLStatus, bella.Tattoos, bella.Piercings = ptr(true), ptr(false), ptr(true)
	bella.Aliases = []string{"Birds of Paradise"}
	bella.BreastType = ptr("Fake")
	bella.Thumbnails = feedThumbnails(failedURL)

	zoe := bareProfile(3, "Zoë Ünal")
	zoe.HairColors, zoe.Ethnicities = db.StringList{"Red"}, db.StringList{"Middle Eastern"}
	zoe.Gender, zoe.Orientation, zoe.License = ptr("female"), ptr("gay"), ptr("REGULAR")
	zoe.WLStatus, zoe.Tattoos, zoe.Piercings = ptr(true), ptr(true), ptr(true)
	zoe.Aliases = []string{"ÉLODIE", "Ana\u00a0Maria"}
	zoe.Thumbnails = feedThumbnails(pendingURL)

	max := bareProfile(4, "Max 100% Real")
	max.HairColors, max.Ethnicities = db.StringList{"brunette"}, db.StringList{"White", "Asian"}
	max.Gender, max.Orientation, max.License = ptr("male"), ptr("straight"), ptr("PREMIUM")
	max.WLStatus, max.Tattoos, max.Piercings = ptr(false), ptr(false), ptr(false)
	max.Aliases = []string{"Maxi"}
	max.BreastType = ptr("natural")

	under := bareProfile(5, "under_score")
	under.HairColors = db.StringList{"BLACK"}
	under.Gender, under.Orientation = ptr("male"), ptr("gay")
	under.Aliases = []string{"O'Hara"}
	under.Thumbnails = []db.ProfileThumbnail{{Type: "pc", URL: failedURL}, {Type: "mobile", URL: cachedURL}}

	bang := bareProfile(6, "Bang!")
	bang.Gender = ptr("Couple")
	bang.Aliases = []string{`back\slash`}

	nameless := bareProfile(7, "Nameless")

	gone := bareProfile(8, "Gone Blonde")
	gone.HairColors, gone.Gender = db.StringList{"Blonde"}, ptr("female")
	gone.WLStatus, gone.Tattoos = ptr(false), ptr(true)

	fetched := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return filterData{
		profiles: []db.Profile{anna, bella, zoe, max, under, bang, nameless, gone},
		images: []db.ImageState{
			{URLHash: db.URLHash(cachedURL), URL: cachedURL, Status: db.ImageCached, ContentSHA256: ptr(strings.Repeat("a", 64)),
				ContentType: ptr("image/jpeg"), Bytes: ptr(int64(1234)), Width: ptr(int32(234)), Height: ptr(int32(344)), Attempts: 1, FetchedAt: &fetched},
			{URLHash: db.URLHash(failedURL), URL: failedURL, Status: db.ImageFailed, Attempts: 5, Error: ptr("HTTP 404"), FetchedAt: &fetched},
		},
	}
}

// seedFilterData writes newFilterData: the feed performers, "Gone Blonde"
// removed, the image outcomes, and "Api Made", a record made through the API.
func seedFilterData(t *testing.T, s *db.Store) {
	t.Helper()
	ctx := context.Background()
	data := newFilterData()
	mustUpsert(t, s, data.profiles...)
	if _, err := s.MarkRemoved(ctx, []int64{8}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertImages(ctx, data.images); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{
		Name: "Api Made", HairColors: db.StringList{"Black"}, Ethnicities: db.StringList{"Asian"}, Gender: ptr("female"),
	}})
}

func TestListFilters(t *testing.T) {
	t.Parallel()
	const (
		anna     = "Anna Blonde"
		bella    = "Bella Both"
		zoe      = "Zoë Ünal"
		max      = "Max 100% Real"
		under    = "under_score"
		bang     = "Bang!"
		nameless = "Nameless"
		gone     = "Gone Blonde"
		api      = "Api Made"
	)
	tests := []struct {
		name   string
		filter db.Filter
		want   []string
	}{
		{"no filter: every performer in the feed and the API record", db.Filter{}, []string{anna, bella, zoe, max, under, bang, nameless, api}},

		{"q: word prefixes of a name", db.Filter{Q: "ann bl"}, []string{anna}},
		{"q: inside a word is not a match", db.Filter{Q: "nna"}, nil},
		{"q: prefix of an alias", db.Filter{Q: "annie"}, []string{anna}},
		{"q: whole alias", db.Filter{Q: "Birds of Paradise"}, []string{bella}},
		{"q: case-insensitive", db.Filter{Q: "ANNA BLONDE"}, []string{anna}},
		{"q: accents ignored in q", db.Filter{Q: "ZOË ÜN"}, []string{zoe}},
		{"q: accents ignored in the alias", db.Filter{Q: "elodie"}, []string{zoe}},
		{"q: no-break space inside an alias", db.Filter{Q: "ana\u00a0mar"}, []string{zoe}},
		{"q: percent sign alone matches nobody", db.Filter{Q: "%"}, nil},
		{"q: percent sign after a word", db.Filter{Q: "100% r"}, []string{max}},
		{"q: percent sign is no wildcard", db.Filter{Q: "m%l"}, nil},
		{"q: underscore separates words", db.Filter{Q: "under_sc"}, []string{under}},
		{"q: underscore is no wildcard", db.Filter{Q: "a_na"}, nil},
		{"q: lone underscore matches nobody", db.Filter{Q: "_"}, nil},
		{"q: exclamation mark", db.Filter{Q: "bang!"}, []string{bang}},
		{"q: backslash separates words", db.Filter{Q: `back\sl`}, []string{bang}},
		{"q: apostrophe", db.Filter{Q: "o'h"}, []string{under}},
		{"q: no match", db.Filter{Q: "nobody at all"}, nil},
		{"q: a removed performer is not found", db.Filter{Q: "gone"}, nil},
		{"q: a removed performer with removed=any", db.Filter{Q: "gone", Removed: db.RemovedAny}, []string{gone}},
		{"q: matches names, not hair colours", db.Filter{Q: "blonde"}, []string{anna}},

		{"hair colour", db.Filter{HairColors: []string{"blonde"}}, []string{anna, bella}},
		{"hair colour, case-insensitive", db.Filter{HairColors: []string{"BRUNETTE"}}, []string{bella, max}},
		{"hair colours: any of a list", db.Filter{HairColors: []string{"Blonde", "Brunette"}}, []string{anna, bella, max}},
		{"hair colours: stored upper-case, API record", db.Filter{HairColors: []string{"red", "black"}}, []string{zoe, under, api}},
		{"hair colour nobody has", db.Filter{HairColors: []string{"green"}}, nil},
		{"ethnicity", db.Filter{Ethnicities: []string{"middle eastern"}}, []string{zoe}},
		{"ethnicity of a multi-valued performer", db.Filter{Ethnicities: []string{"ASIAN"}}, []string{max, api}},
		{"ethnicities: any of a list", db.Filter{Ethnicities: []string{"White", "latina"}}, []string{anna, bella, max}},

		{"gender", db.Filter{Genders: []string{"male"}}, []string{max, under}},
		{"genders: any of a list", db.Filter{Genders: []string{"female", "Couple"}}, []string{anna, bella, zoe, api, bang}},
		{"orientation", db.Filter{Orientations: []string{"gay"}}, []string{zoe, under}},
		{"orientations: any of a list", db.Filter{Orientations: []string{"gay", "straight"}}, []string{anna, bella, zoe, max, under}},
		{"license", db.Filter{Licenses: []string{"PREMIUM"}}, []string{bella, max}},
		{"licenses: any of a list", db.Filter{Licenses: []string{"REGULAR", "PREMIUM"}}, []string{anna, bella, zoe, max}},
		{"wl_status true", db.Filter{WLStatus: ptr(true)}, []string{bella, zoe}},
		{"wl_status false: unknown is not false", db.Filter{WLStatus: ptr(false)}, []string{anna, max}},
		{"tattoos true", db.Filter{Tattoos: ptr(true)}, []string{anna, zoe}},
		{"tattoos false", db.Filter{Tattoos: ptr(false)}, []string{bella, max}},
		{"piercings true", db.Filter{Piercings: ptr(true)}, []string{bella, zoe}},
		{"piercings false", db.Filter{Piercings: ptr(false)}, []string{anna, max}},

		{"has_image true: a cached image", db.Filter{HasImage: ptr(true)}, []string{anna, under}},
		{"has_image false: failed, pending or no thumbnails", db.Filter{HasImage: ptr(false)}, []string{bella, zoe, max, bang, nameless, api}},

		{"removed false (default)", db.Filter{Removed: db.RemovedExclude}, []string{anna, bella, zoe, max, under, bang, nameless, api}},
		{"removed true", db.Filter{Removed: db.RemovedOnly}, []string{gone}},
		{"removed any", db.Filter{Removed: db.RemovedAny}, []string{anna, bella, zoe, max, under, bang, nameless, gone, api}},

		{"breast type", db.Filter{BreastTypes: []string{"Natural"}}, []string{anna}},
		{"breast types: any of a list", db.Filter{BreastTypes: []string{"Natural", "Fake", "natural"}}, []string{anna, bella, max}},
		{"breast type nobody has", db.Filter{BreastTypes: []string{"other"}}, nil},

		{"slug from the link", db.Filter{Slugs: []string{"anna-b"}}, []string{anna}},
		{"slug from a name with accents", db.Filter{Slugs: []string{"zoe-unal"}}, []string{zoe}},
		{"slug of the API record, from its name", db.Filter{Slugs: []string{"api-made"}}, []string{api}},
		{"slugs: any of a list", db.Filter{Slugs: []string{"bella-both", "max-100-real", "nobody"}}, []string{bella, max}},
		{"slug: exact, so upper case finds nobody", db.Filter{Slugs: []string{"ANNA-B"}}, nil},
		{"slug: the name of a performer with a link is not its slug", db.Filter{Slugs: []string{"anna-blonde"}}, nil},
		{"slug of a removed performer", db.Filter{Slugs: []string{"gone-blonde"}}, nil},
		{"slug of a removed performer, removed any", db.Filter{Slugs: []string{"gone-blonde"}, Removed: db.RemovedAny}, []string{gone}},

		{"feed ids", db.Filter{FeedIDs: []int64{1, 3, 99_999}}, []string{anna, zoe}},
		{"feed id of a removed performer", db.Filter{FeedIDs: []int64{8}}, nil},
		{"feed id of a removed performer, removed any", db.Filter{FeedIDs: []int64{8, 2}, Removed: db.RemovedAny}, []string{bella, gone}},

		{"hair colour and tattoos", db.Filter{HairColors: []string{"blonde"}, Tattoos: ptr(true)}, []string{anna}},
		{"hair colour and removed any", db.Filter{HairColors: []string{"blonde"}, Removed: db.RemovedAny}, []string{anna, bella, gone}},
		{"q, gender and orientation", db.Filter{Q: "o", Genders: []string{"male"}, Orientations: []string{"gay"}}, []string{under}},
		{"hair colour and ethnicity", db.Filter{HairColors: []string{"brunette"}, Ethnicities: []string{"white"}}, []string{max}},
		{"has_image and gender", db.Filter{HasImage: ptr(true), Genders: []string{"female"}}, []string{anna}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		seedFilterData(t, s)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkFilter(t, s, tt.filter, tt.want)
			})
		}
	})
}

// checkFilter checks that List finds exactly the performers named want, and
// that Count and the page's Total agree with it.
func checkFilter(t *testing.T, s *db.Store, f db.Filter, want []string) {
	t.Helper()
	ctx := context.Background()
	page, err := s.List(ctx, f, nil, db.Page{First: db.MaxPageSize, WithTotal: true})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want = slices.Clone(want)
	slices.Sort(want)
	if got := namesOf(page.Items); !slices.Equal(got, want) {
		t.Errorf("List finds %q, want %q", got, want)
	}
	if page.Total != int64(len(page.Items)) {
		t.Errorf("Total = %d, want %d", page.Total, len(page.Items))
	}
	n, err := s.Count(ctx, f)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if n != int64(len(page.Items)) {
		t.Errorf("Count = %d, List returns %d rows", n, len(page.Items))
	}
}

// setRangeField sets the field named like db.RangeFields.
func setRangeField(t testing.TB, f *db.PornstarFields, field string, v *int64) {
	t.Helper()
	var small *int32
	if v != nil {
		small = ptr(int32(*v))
	}
	switch field {
	case "age":
		f.Age = small
	case "breast_size":
		f.BreastSize = small
	case "subscriptions":
		f.Subscriptions = v
	case "monthly_searches":
		f.MonthlySearches = v
	case "views":
		f.Views = v
	case "videos_count":
		f.VideosCount = v
	case "premium_videos_count":
		f.PremiumVideosCount = v
	case "white_label_video_count":
		f.WhiteLabelVideoCount = v
	case "rank":
		f.Rank = v
	case "rank_premium":
		f.RankPremium = v
	case "rank_wl":
		f.RankWL = v
	default:
		t.Fatalf("no test setter for range field %q", field)
	}
}

// rangeBase gives every range field its own band of values, so a filter
// that reads the wrong column finds the wrong performers. Stats sit above
// 2^62: a bound that passed through float64 would be off.
func rangeBase(index int, field string) int64 {
	if field == "age" || field == "breast_size" {
		return int64(100 * index)
	}
	return 1<<62 + int64(100*index)
}

// TestListRangeFilters: performers R1, R2, R3 hold base+10, base+20 and
// base+30 in every range field, R0 holds NULL in all of them.
func TestListRangeFilters(t *testing.T) {
	t.Parallel()
	var profiles []db.Profile
	for j := range 4 {
		p := bareProfile(int64(j+1), fmt.Sprintf("R%d", j))
		for k, field := range db.RangeFields {
			var v *int64
			if j > 0 {
				v = ptr(rangeBase(k, field) + int64(10*j))
			}
			setRangeField(t, &p.PornstarFields, field, v)
		}
		profiles = append(profiles, p)
	}

	type rangeCase struct {
		name   string
		ranges func(base int64) db.Range
		want   []string
	}
	cases := []rangeCase{
		{"min only, inclusive", func(b int64) db.Range { return db.Range{Min: ptr(b + 20)} }, []string{"R2", "R3"}},
		{"max only, inclusive", func(b int64) db.Range { return db.Range{Max: ptr(b + 20)} }, []string{"R1", "R2"}},
		{"min and max equal", func(b int64) db.Range { return db.Range{Min: ptr(b + 20), Max: ptr(b + 20)} }, []string{"R2"}},
		{"min and max between values", func(b int64) db.Range { return db.Range{Min: ptr(b + 11), Max: ptr(b + 29)} }, []string{"R2"}},
		{"min and max around every value", func(b int64) db.Range { return db.Range{Min: ptr(b + 10), Max: ptr(b + 30)} }, []string{"R1", "R2", "R3"}},
		{"min one above a value", func(b int64) db.Range { return db.Range{Min: ptr(b + 21)} }, []string{"R3"}},
		{"max one below a value", func(b int64) db.Range { return db.Range{Max: ptr(b + 19)} }, []string{"R1"}},
		{"min above every value", func(b int64) db.Range { return db.Range{Min: ptr(b + 31)} }, nil},
		{"open range: unknown values are still excluded", func(int64) db.Range { return db.Range{Min: ptr(int64(-1 << 62))} }, []string{"R1", "R2", "R3"}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		mustUpsert(t, s, profiles...)
		for k, field := range db.RangeFields {
			for _, c := range cases {
				t.Run(field+"/"+c.name, func(t *testing.T) {
					checkFilter(t, s, db.Filter{Ranges: map[string]db.Range{field: c.ranges(rangeBase(k, field))}}, c.want)
				})
			}
		}
		t.Run("two fields", func(t *testing.T) {
			ageIndex, viewsIndex := slices.Index(db.RangeFields, "age"), slices.Index(db.RangeFields, "views")
			checkFilter(t, s, db.Filter{Ranges: map[string]db.Range{
				"age":   {Min: ptr(rangeBase(ageIndex, "age") + 20)},
				"views": {Max: ptr(rangeBase(viewsIndex, "views") + 20)},
			}}, []string{"R2"})
		})
	})
}

func TestListInvalidFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter db.Filter
		field  string
	}{
		{"unknown removed value", db.Filter{Removed: "maybe"}, "removed"},
		{"unknown range field", db.Filter{Ranges: map[string]db.Range{"name": {Min: ptr(int64(1))}}}, "ranges/name"},
		{"q not valid UTF-8", db.Filter{Q: "zo\xeb"}, "q"},
		{"q over 255 characters", db.Filter{Q: strings.Repeat("q", 256)}, "q"},
		{"q with a NUL", db.Filter{Q: "a\x00b"}, "q"},
		{"hair colour not valid UTF-8", db.Filter{HairColors: []string{"red", "\xff"}}, "hair_colors/1"},
		{"hair colour with a NUL", db.Filter{HairColors: []string{"\x00"}}, "hair_colors/0"},
		{"ethnicity with a NUL", db.Filter{Ethnicities: []string{"\x00"}}, "ethnicities/0"},
		{"gender with a NUL", db.Filter{Genders: []string{"female\x00"}}, "genders/0"},
		{"orientation with a NUL", db.Filter{Orientations: []string{"\x00"}}, "orientations/0"},
		{"license with a NUL", db.Filter{Licenses: []string{"REGULAR", "\x00"}}, "licenses/1"},
		{"license over 128 characters", db.Filter{Licenses: []string{strings.Repeat("l", 129)}}, "licenses/0"},
		{"updated_since before any stored time", db.Filter{UpdatedSince: ptr(time.Date(999, 12, 31, 0, 0, 0, 0, time.UTC))}, "updated_since"},
		{"updated_since after any stored time", db.Filter{UpdatedSince: ptr(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))}, "updated_since"},
		{"created_since before any stored time", db.Filter{CreatedSince: ptr(time.Date(999, 12, 31, 0, 0, 0, 0, time.UTC))}, "created_since"},
		{"breast type with a NUL", db.Filter{BreastTypes: []string{"\x00"}}, "breast_types/0"},
		{"slug over 128 characters", db.Filter{Slugs: []string{"a", strings.Repeat("s", 129)}}, "slugs/1"},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := s.List(ctx, tt.filter, nil, db.Page{})
				if !errors.Is(err, db.ErrInvalid) || page != nil {
					t.Errorf("List = %+v, %v; want ErrInvalid", page, err)
				}
				checkFieldError(t, err, tt.field)
				if _, err := s.Count(ctx, tt.filter); !errors.Is(err, db.ErrInvalid) {
					t.Errorf("Count = %v, want ErrInvalid", err)
				}
			})
		}
	})
}

// orderNames has exact duplicates, names equal but for case, non-ASCII
// letters and punctuation.
var orderNames = []string{"anna", "Anna", "ANNA", "bella", "Zoë", "élodie", "alexa 18", "O'Hara", "J.Lo", "zed", "Ärger", "mia"}

// orderProfile is performer i of the ordering data: every ordering field has
// ties, and every nullable one has NULLs.
func orderProfile(i int64) db.Profile {
	p := bareProfile(1000+i, orderNames[i%int64(len(orderNames))])
	if i%7 != 3 {
		p.Rank = ptr((i * 13) % 17)
	}
	if i%5 != 1 {
		p.Views = ptr(1<<62 + (i*7)%11)
	}
	if i%6 != 0 {
		p.Subscriptions = ptr((i % 4) * 1000)
	}
	if i%4 != 2 {
		p.Age = ptr(int32(25 + i%9))
	}
	// The other stats: ties, unknowns, and values that order the rows
	// differently from one stat to the next.
	f := &p.PornstarFields
	for j, stat := range []**int64{&f.MonthlySearches, &f.VideosCount, &f.PremiumVideosCount, &f.WhiteLabelVideoCount, &f.RankPremium, &f.RankWL} {
		m := int64(j + 3)
		if i%m != 1 {
			*stat = ptr((i*(m+4) + m) % (m + 5))
		}
	}
	if i%3 != 2 {
		p.BreastSize = ptr(int32(30 + i%5))
	}
	return p
}

// orderUpdatedAt gives row i an updated_at with ties, whole seconds and
// fractions of several lengths.
func orderUpdatedAt(i int) time.Time {
	fractions := []time.Duration{0, 100 * time.Millisecond, 150 * time.Millisecond, 999_999 * time.Microsecond}
	return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i%6)*time.Second + fractions[i%4])
}

// seedOrderData writes 40 feed performers, one removed performer and one API
// record, with updated_at set to orderUpdatedAt, and returns the ids of the
// rows the default filter lists.
func seedOrderData(t *testing.T, s *db.Store) []int64 {
	t.Helper()
	ctx := context.Background()
	var profiles []db.Profile
	for i := range int64(41) {
		profiles = append(profiles, orderProfile(i))
	}
	mustUpsert(t, s, profiles...)
	if _, err := s.MarkRemoved(ctx, []int64{1040}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "api person", Views: ptr(int64(1 << 62))}})
	rows := listAll(t, s, db.Filter{}, nil)
	if len(rows) != 41 {
		t.Fatalf("%d rows listed, want 41", len(rows))
	}
	ids := idsOf(rows)
	slices.Sort(ids)
	for i, id := range ids {
		setUpdatedAt(t, s, id, orderUpdatedAt(i))
		setTime(t, s, id, "created_at", orderUpdatedAt(len(ids)-i))
	}
	return ids
}

// setUpdatedAt writes updated_at of one row directly, for ordering tests.
func setUpdatedAt(t *testing.T, s *db.Store, id int64, at time.Time) {
	t.Helper()
	setTime(t, s, id, "updated_at", at)
}

// setTime writes a time column of one row directly, for ordering tests.
func setTime(t *testing.T, s *db.Store, id int64, column string, at time.Time) {
	t.Helper()
	_, err := s.DB().W.NewUpdate().Model((*db.Pornstar)(nil)).Set("? = ?", bun.Ident(column), at).Where("id = ?", id).Exec(context.Background())
	if err != nil {
		t.Fatalf("set %s: %v", column, err)
	}
}

// sortValue is the value of an ordering field in Go: nil when unknown.
func sortValue(p *db.Pornstar, field string) any {
	deref := func(v *int64) any {
		if v == nil {
			return nil
		}
		return *v
	}
	switch field {
	case db.OrderRank:
		return deref(p.Rank)
	case db.OrderName:
		return strings.ToLower(p.Name)
	case db.OrderViews:
		return deref(p.Views)
	case db.OrderSubscriptions:
		return deref(p.Subscriptions)
	case db.OrderAge:
		if p.Age == nil {
			return nil
		}
		return int64(*p.Age)
	case db.OrderBreastSize:
		if p.BreastSize == nil {
			return nil
		}
		return int64(*p.BreastSize)
	case db.OrderUpdatedAt:
		return p.UpdatedAt
	case db.OrderCreatedAt:
		return p.CreatedAt
	case db.OrderMonthlySearches:
		return deref(p.MonthlySearches)
	case db.OrderVideosCount:
		return deref(p.VideosCount)
	case db.OrderPremiumVideosCount:
		return deref(p.PremiumVideosCount)
	case db.OrderWhiteLabelVideoCount:
		return deref(p.WhiteLabelVideoCount)
	case db.OrderRankPremium:
		return deref(p.RankPremium)
	case db.OrderRankWL:
		return deref(p.RankWL)
	}
	panic("unknown order field " + field)
}

// compareRows is the documented order in Go: each key in its direction,
// unknown values last in both directions, ties broken by id in the
// direction of the first key; no keys means rank ascending.
func compareRows(a, b *db.Pornstar, order []db.OrderKey) int {
	if len(order) == 0 {
		order = []db.OrderKey{{Field: db.OrderRank}}
	}
	for _, k := range order {
		av, bv := sortValue(a, k.Field), sortValue(b, k.Field)
		switch {
		case av == nil && bv == nil:
			continue
		case av == nil:
			return 1
		case bv == nil:
			return -1
		}
		var c int
		switch av := av.(type) {
		case int64:
			c = cmp.Compare(av, bv.(int64))
		case string:
			c = strings.Compare(av, bv.(string))
		case time.Time:
			c = av.Compare(bv.(time.Time))
		}
		if k.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	c := cmp.Compare(a.ID, b.ID)
	if order[0].Desc {
		c = -c
	}
	return c
}

// sortedIDs returns the ids of rows in the documented order.
func sortedIDs(rows []db.Pornstar, order []db.OrderKey) []int64 {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b db.Pornstar) int { return compareRows(&a, &b, order) })
	return idsOf(rows)
}

type namedOrder struct {
	name  string
	order []db.OrderKey
}

// testOrders are every ordering field in both directions, the default, and
// orders of several keys (nullable keys after the first included).
func testOrders() []namedOrder {
	out := []namedOrder{{"default", nil}}
	for _, f := range db.OrderFields {
		if f == db.OrderRelevance {
			continue // needs a q: TestSearchOrder
		}
		out = append(out,
			namedOrder{f + " asc", []db.OrderKey{{Field: f}}},
			namedOrder{f + " desc", []db.OrderKey{{Field: f, Desc: true}}})
	}
	return append(out,
		namedOrder{"views desc, name asc", []db.OrderKey{{Field: db.OrderViews, Desc: true}, {Field: db.OrderName}}},
		namedOrder{"name asc, age desc", []db.OrderKey{{Field: db.OrderName}, {Field: db.OrderAge, Desc: true}}},
		namedOrder{"age asc, rank desc", []db.OrderKey{{Field: db.OrderAge}, {Field: db.OrderRank, Desc: true}}},
		namedOrder{"subscriptions desc, age asc, updated_at desc", []db.OrderKey{
			{Field: db.OrderSubscriptions, Desc: true}, {Field: db.OrderAge}, {Field: db.OrderUpdatedAt, Desc: true}}},
		namedOrder{"updated_at asc, views asc", []db.OrderKey{{Field: db.OrderUpdatedAt}, {Field: db.OrderViews}}},
	)
}

func TestListOrder(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		seedOrderData(t, s)
		rows := listAll(t, s, db.Filter{}, []db.OrderKey{{Field: db.OrderName}})
		for _, o := range testOrders() {
			t.Run(o.name, func(t *testing.T) {
				got := idsOf(listAll(t, s, db.Filter{}, o.order))
				if want := sortedIDs(rows, o.order); !slices.Equal(got, want) {
					t.Errorf("order by %v:\n got %v\nwant %v\n%s", o.order, got, want, describeRows(rows, got, o.order))
				}
			})
		}
		t.Run("unknown values last in both directions", func(t *testing.T) {
			for _, field := range db.OrderFields {
				if field == db.OrderName || field == db.OrderUpdatedAt || field == db.OrderCreatedAt || field == db.OrderRelevance {
					continue // always known
				}
				for _, desc := range []bool{false, true} {
					got := listAll(t, s, db.Filter{}, []db.OrderKey{{Field: field, Desc: desc}})
					firstNull := slices.IndexFunc(got, func(p db.Pornstar) bool { return sortValue(&p, field) == nil })
					if firstNull < 0 || firstNull == 0 {
						t.Fatalf("%s: the test data needs known and unknown values", field)
					}
					for _, p := range got[firstNull:] {
						if sortValue(&p, field) != nil {
							t.Errorf("%s desc=%v: a known value (%v) after an unknown one", field, desc, sortValue(&p, field))
						}
					}
				}
			}
		})
	})
}

// describeRows prints the rows in the order of ids with their sort values.
func describeRows(rows []db.Pornstar, ids []int64, order []db.OrderKey) string {
	byID := map[int64]*db.Pornstar{}
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	if len(order) == 0 {
		order = []db.OrderKey{{Field: db.OrderRank}}
	}
	var b strings.Builder
	for _, id := range ids {
		p := byID[id]
		if p == nil {
			fmt.Fprintf(&b, "  id %d (not in the data)\n", id)
			continue
		}
		fmt.Fprintf(&b, "  id %d:", id)
		for _, k := range order {
			fmt.Fprintf(&b, " %s=%v", k.Field, sortValue(p, k.Field))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// walkForward reads every page of size k and checks the page flags.
func walkForward(t *testing.T, s *db.Store, f db.Filter, order []db.OrderKey, k int) []int64 {
	t.Helper()
	ctx := context.Background()
	var (
		ids   []int64
		after string
	)
	for pageNo := 1; ; pageNo++ {
		page, err := s.List(ctx, f, order, db.Page{First: k, After: after, WithTotal: pageNo == 1})
		if err != nil {
			t.Fatalf("page %d: %v", pageNo, err)
		}
		if pageNo == 1 && page.Total < 0 {
			t.Errorf("WithTotal: Total = %d", page.Total)
		}
		if pageNo > 1 && page.Total != -1 {
			t.Errorf("page %d without WithTotal: Total = %d, want -1", pageNo, page.Total)
		}
		if page.HasPreviousPage != (pageNo > 1) {
			t.Errorf("page %d: HasPreviousPage = %v", pageNo, page.HasPreviousPage)
		}
		if len(page.Items) != len(page.Cursors) {
			t.Fatalf("page %d: %d items, %d cursors", pageNo, len(page.Items), len(page.Cursors))
		}
		if len(page.Items) > k || (page.HasNextPage && len(page.Items) != k) || (pageNo > 1 && len(page.Items) == 0) {
			t.Fatalf("page %d: %d items (k=%d, has next %v)", pageNo, len(page.Items), k, page.HasNextPage)
		}
		ids = append(ids, idsOf(page.Items)...)
		if !page.HasNextPage {
			return ids
		}
		if pageNo > 1000 {
			t.Fatal("more than 1000 pages")
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
}

// walkBackward reads every page of size k from the end and returns the rows
// in the list's order.
func walkBackward(t *testing.T, s *db.Store, f db.Filter, order []db.OrderKey, k int) []int64 {
	t.Helper()
	ctx := context.Background()
	var (
		ids    []int64
		before string
	)
	for pageNo := 1; ; pageNo++ {
		page, err := s.List(ctx, f, order, db.Page{Last: k, Before: before})
		if err != nil {
			t.Fatalf("page %d from the end: %v", pageNo, err)
		}
		if page.HasNextPage != (pageNo > 1) {
			t.Errorf("page %d from the end: HasNextPage = %v", pageNo, page.HasNextPage)
		}
		if len(page.Items) > k || (page.HasPreviousPage && len(page.Items) != k) || (pageNo > 1 && len(page.Items) == 0) {
			t.Fatalf("page %d from the end: %d items (k=%d, has previous %v)", pageNo, len(page.Items), k, page.HasPreviousPage)
		}
		ids = append(idsOf(page.Items), ids...)
		if !page.HasPreviousPage {
			return ids
		}
		if pageNo > 1000 {
			t.Fatal("more than 1000 pages")
		}
		before = page.Cursors[0]
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		seedOrderData(t, s)
		rows := listAll(t, s, db.Filter{}, nil)
		filters := []struct {
			name   string
			filter db.Filter
		}{
			{"all", db.Filter{}},
			{"filtered", db.Filter{Q: "a", Ranges: map[string]db.Range{"age": {Min: ptr(int64(26))}}}},
		}
		for _, f := range filters {
			var matching []db.Pornstar
			for _, p := range listAll(t, s, f.filter, nil) {
				matching = append(matching, p)
			}
			if f.name == "filtered" && (len(matching) < 5 || len(matching) == len(rows)) {
				t.Fatalf("the filtered case matches %d of %d rows", len(matching), len(rows))
			}
			for _, o := range testOrders() {
				want := sortedIDs(matching, o.order)
				for _, k := range []int{1, 2, 7} {
					t.Run(fmt.Sprintf("%s/%s/first=%d", f.name, o.name, k), func(t *testing.T) {
						if got := walkForward(t, s, f.filter, o.order, k); !slices.Equal(got, want) {
							t.Errorf("pages forward:\n got %v\nwant %v", got, want)
						}
						if got := walkBackward(t, s, f.filter, o.order, k); !slices.Equal(got, want) {
							t.Errorf("pages backward:\n got %v\nwant %v", got, want)
						}
					})
				}
			}
		}
		t.Run("after the last row", func(t *testing.T) {
			page, err := s.List(context.Background(), db.Filter{}, nil, db.Page{First: db.MaxPageSize})
			if err != nil {
				t.Fatal(err)
			}
			last := page.Cursors[len(page.Cursors)-1]
			next, err := s.List(context.Background(), db.Filter{}, nil, db.Page{First: 5, After: last})
			if err != nil || len(next.Items) != 0 || next.HasNextPage || !next.HasPreviousPage {
				t.Errorf("page after the last row = %+v, %v; want empty, no next page, a previous page", next, err)
			}
		})
		t.Run("before the first row", func(t *testing.T) {
			page, err := s.List(context.Background(), db.Filter{}, nil, db.Page{First: 1})
			if err != nil {
				t.Fatal(err)
			}
			prev, err := s.List(context.Background(), db.Filter{}, nil, db.Page{Last: 5, Before: page.Cursors[0]})
			if err != nil || len(prev.Items) != 0 || prev.HasPreviousPage || !prev.HasNextPage {
				t.Errorf("page before the first row = %+v, %v; want empty, no previous page, a next page", prev, err)
			}
		})
		t.Run("default page size", func(t *testing.T) {
			page, err := s.List(context.Background(), db.Filter{}, nil, db.Page{})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) != db.DefaultPageSize || !page.HasNextPage || page.Total != -1 {
				t.Errorf("zero Page: %d items, has next %v, total %d; want %d, true, -1", len(page.Items), page.HasNextPage, page.Total, db.DefaultPageSize)
			}
		})
	})
}

// TestListPaginationWithInserts inserts rows between pages, sorting before
// the cursor, after it, and with unknown sort values. Pages must show every
// row that existed at the start exactly once, in order, plus exactly the new
// rows that sort after the cursor at the time they were inserted.
func TestListPaginationWithInserts(t *testing.T) {
	t.Parallel()
	orders := []namedOrder{
		{"default", nil},
		{"rank desc", []db.OrderKey{{Field: db.OrderRank, Desc: true}}},
		{"name asc", []db.OrderKey{{Field: db.OrderName}}},
		{"name desc", []db.OrderKey{{Field: db.OrderName, Desc: true}}},
		{"views desc, name asc", []db.OrderKey{{Field: db.OrderViews, Desc: true}, {Field: db.OrderName}}},
		{"age asc, rank desc", []db.OrderKey{{Field: db.OrderAge}, {Field: db.OrderRank, Desc: true}}},
		{"subscriptions asc", []db.OrderKey{{Field: db.OrderSubscriptions}}},
		{"updated_at desc", []db.OrderKey{{Field: db.OrderUpdatedAt, Desc: true}}},
		{"updated_at asc", []db.OrderKey{{Field: db.OrderUpdatedAt}}},
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		seedOrderData(t, s)
		nextFeedID := int64(5000)
		// insertRound adds a row with the lowest values, one with the highest
		// and one with every nullable value unknown; it returns their ids.
		var inserted []int64 // feed ids, removed again after each order
		insertRound := func(t *testing.T) []int64 {
			n := nextFeedID
			nextFeedID += 3
			inserted = append(inserted, n, n+1, n+2)
			low := bareProfile(n, fmt.Sprintf("!!! low %d", n))
			low.Rank, low.Views, low.Subscriptions, low.Age = ptr(-1000+n), ptr(-1000+n), ptr(-1000+n), ptr(int32(-1000+n))
			high := bareProfile(n+1, fmt.Sprintf("ÿÿÿ high %d", n))
			high.Rank, high.Views, high.Subscriptions, high.Age = ptr(1<<62+n), ptr(1<<62+n), ptr(1<<62+n), ptr(int32(100_000+n))
			unknown := bareProfile(n+2, fmt.Sprintf("mia unknown %d", n))
			mustUpsert(t, s, low, high, unknown)
			return idsOf(listAll(t, s, db.Filter{FeedIDs: []int64{n, n + 1, n + 2}}, []db.OrderKey{{Field: db.OrderName}}))
		}
		// Across the orders, some new rows sort after the cursor and some
		// before it, or the test would not test both.
		var newSeen, newUnseen int
		defer func() {
			if newSeen == 0 || newUnseen == 0 {
				t.Errorf("new rows after the cursor: %d, before it: %d; want some of each", newSeen, newUnseen)
			}
		}()
		for _, o := range orders {
			t.Run(o.name, func(t *testing.T) {
				initial := idsOf(listAll(t, s, db.Filter{}, o.order))
				type insertion struct {
					ids    []int64
					cursor int64 // the last row seen when they were inserted
				}
				var (
					seen       []int64
					insertions []insertion
					after      string
				)
				for pageNo := 1; ; pageNo++ {
					page, err := s.List(ctx, db.Filter{}, o.order, db.Page{First: 3, After: after})
					if err != nil {
						t.Fatalf("page %d: %v", pageNo, err)
					}
					seen = append(seen, idsOf(page.Items)...)
					if !page.HasNextPage {
						break
					}
					if pageNo > 200 {
						t.Fatal("more than 200 pages")
					}
					after = page.Cursors[len(page.Cursors)-1]
					if pageNo <= 4 {
						insertions = append(insertions, insertion{ids: insertRound(t), cursor: seen[len(seen)-1]})
					}
				}

				final := sortedIDs(listAll(t, s, db.Filter{}, nil), o.order)
				position := map[int64]int{}
				for i, id := range final {
					position[id] = i
				}
				expected := map[int64]bool{}
				for _, id := range initial {
					expected[id] = true
				}
				for _, ins := range insertions {
					for _, id := range ins.ids {
						if position[id] > position[ins.cursor] {
							expected[id] = true
							newSeen++
						} else {
							newUnseen++
						}
					}
				}
				var want []int64
				for _, id := range final {
					if expected[id] {
						want = append(want, id)
					}
				}
				if !slices.Equal(seen, want) {
					t.Errorf("pages with rows inserted between them:\n got %v\nwant %v", seen, want)
				}
				if _, err := s.MarkRemoved(ctx, inserted); err != nil {
					t.Fatal(err)
				}
				inserted = nil
			})
		}
	})
}

// tamperCursor decodes a cursor (base64url JSON), lets change edit it and
// encodes it again.
func tamperCursor(t *testing.T, cursor string, change func(m map[string]any)) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("the cursor is not base64url: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("the cursor is not JSON: %v", err)
	}
	change(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

func TestListInvalidPage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		seedOrderData(t, s)
		rank := []db.OrderKey{{Field: db.OrderRank}}
		name := []db.OrderKey{{Field: db.OrderName}}
		cursorOf := func(f db.Filter, order []db.OrderKey) string {
			page, err := s.List(ctx, f, order, db.Page{First: 3})
			if err != nil || len(page.Cursors) < 3 {
				t.Fatalf("List: %+v, %v", page, err)
			}
			return page.Cursors[2]
		}
		rankCursor := cursorOf(db.Filter{}, rank)
		nameCursor := cursorOf(db.Filter{}, name)

		tests := []struct {
			name   string
			filter db.Filter
			order  []db.OrderKey
			page   db.Page
			valid  bool // a control case that must be accepted
		}{
			{name: "first = 100", page: db.Page{First: 100}, valid: true},
			{name: "last = 100", page: db.Page{Last: 100}, valid: true},
			{name: "cursor re-encoded unchanged", order: rank, valid: true,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(map[string]any) {})}},
			{name: "cursor of the same filter spelled the same", filter: db.Filter{Removed: db.RemovedExclude}, order: rank, valid: true,
				page: db.Page{First: 2, After: rankCursor}},

			{name: "first over 100", page: db.Page{First: 101}},
			{name: "last over 100", page: db.Page{Last: 101}},
			{name: "negative first", page: db.Page{First: -1}},
			{name: "negative last", page: db.Page{Last: -1}},
			{name: "first and last", page: db.Page{First: 2, Last: 2}},
			{name: "after and before", order: rank, page: db.Page{After: rankCursor, Before: rankCursor}},
			{name: "last with after", order: rank, page: db.Page{Last: 2, After: rankCursor}},
			{name: "first with before", order: rank, page: db.Page{First: 2, Before: rankCursor}},
			{name: "unknown order field", order: []db.OrderKey{{Field: "height"}}},
			{name: "order field given twice", order: []db.OrderKey{{Field: db.OrderName}, {Field: db.OrderName, Desc: true}}},

			{name: "cursor of another order", order: name, page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of another order, backwards", order: rank, page: db.Page{Last: 2, Before: nameCursor}},
			{name: "cursor of the other direction", order: []db.OrderKey{{Field: db.OrderRank, Desc: true}}, page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of the default order used with rank asc spelled out", order: []db.OrderKey{{Field: db.OrderRank}, {Field: db.OrderName}},
				page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of another q", filter: db.Filter{Q: "a"}, order: rank, page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of another hair colour", filter: db.Filter{HairColors: []string{"blonde"}}, order: rank, page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of another removed", filter: db.Filter{Removed: db.RemovedAny}, order: rank, page: db.Page{First: 2, After: rankCursor}},
			{name: "cursor of another range", filter: db.Filter{Ranges: map[string]db.Range{"age": {Min: ptr(int64(1))}}}, order: rank,
				page: db.Page{First: 2, After: rankCursor}},

			{name: "garbage cursor", page: db.Page{First: 2, After: "not a cursor!"}},
			{name: "garbage cursor backwards", page: db.Page{Last: 2, Before: "%%%"}},
			{name: "base64 of nothing useful", page: db.Page{First: 2, After: base64.RawURLEncoding.EncodeToString([]byte("{}"))}},
			{name: "base64 of not JSON", page: db.Page{First: 2, After: base64.RawURLEncoding.EncodeToString([]byte("hello"))}},
			{name: "truncated cursor", order: rank, page: db.Page{First: 2, After: rankCursor[:len(rankCursor)/2]}},
			{name: "very long cursor", page: db.Page{First: 2, After: strings.Repeat("A", 10_000)}},
			{name: "cursor with a string for a number", order: rank,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(m map[string]any) { m["v"] = []any{"x"} })}},
			{name: "cursor with too few values", order: rank,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(m map[string]any) { m["v"] = []any{} })}},
			{name: "cursor with too many values", order: rank,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(m map[string]any) { m["v"] = []any{1, 2} })}},
			{name: "cursor with null for a name", order: name,
				page: db.Page{First: 2, After: tamperCursor(t, nameCursor, func(m map[string]any) { m["v"] = []any{nil} })}},
			{name: "cursor with a number for a name", order: name,
				page: db.Page{First: 2, After: tamperCursor(t, nameCursor, func(m map[string]any) { m["v"] = []any{5} })}},
			{name: "cursor with id 0", order: rank,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(m map[string]any) { m["id"] = 0 })}},
			{name: "cursor with a negative id", order: rank,
				page: db.Page{First: 2, After: tamperCursor(t, rankCursor, func(m map[string]any) { m["id"] = -5 })}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := s.List(ctx, tt.filter, tt.order, tt.page)
				if tt.valid {
					if err != nil {
						t.Errorf("List: %v", err)
					}
					return
				}
				if !errors.Is(err, db.ErrInvalid) || page != nil {
					t.Errorf("List = %+v, %v; want ErrInvalid", page, err)
				}
				var fe *db.FieldError
				if !errors.As(err, &fe) {
					t.Errorf("error %v carries no *db.FieldError", err)
				}
			})
		}
	})
}

// TestBatchLoaders loads the children of 100 performers: each loader costs
// one SELECT and returns every row in position order.
func TestBatchLoaders(t *testing.T) {
	t.Parallel()
	const n = 100
	sharedURL := imageURL("ei.phncdn.com", 999_999) // two performers share it, as in the real feed
	aliasPool := []string{"First", "Second", "Third", "Fourth"}
	var profiles []db.Profile
	for i := range int64(n) {
		p := generatedProfile(i + 1)
		p.Aliases = nil
		for j := range i % 5 {
			p.Aliases = append(p.Aliases, fmt.Sprintf("%s %d", aliasPool[(i+j)%4], i))
		}
		switch {
		case i%3 == 0:
			p.Thumbnails = nil
		case i == 10 || i == 20:
			p.Thumbnails = append(feedThumbnails(sharedURL), p.Thumbnails...)
		}
		profiles = append(profiles, p)
	}
	fetched := time.Date(2025, 5, 6, 7, 8, 9, 123456000, time.UTC)
	var images []db.ImageState
	for i, p := range profiles {
		if len(p.Thumbnails) == 0 || i%2 == 1 {
			continue
		}
		url := p.Thumbnails[len(p.Thumbnails)-1].URL
		st := db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached, Attempts: 1, FetchedAt: &fetched,
			ContentSHA256: ptr(sha256Hex(url)), ContentType: ptr("image/jpeg"), Bytes: ptr(int64(i)), Width: ptr(int32(234)), Height: ptr(int32(344))}
		if i%4 == 0 {
			st = db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageFailed, Attempts: 5, Error: ptr("HTTP 410"), FetchedAt: &fetched}
		}
		images = append(images, st)
	}
	images = append(images, db.ImageState{URLHash: db.URLHash(sharedURL), URL: sharedURL, Status: db.ImageCached, Attempts: 1, FetchedAt: &fetched})
	// An image no requested performer uses.
	images = append(images, db.ImageState{URLHash: db.URLHash("https://x.example/other.jpg"), URL: "https://x.example/other.jpg", Status: db.ImageCached, FetchedAt: &fetched})

	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		mustUpsert(t, s, profiles...)
		mustUpsert(t, s, generatedProfile(n+1)) // a performer nobody asks for
		if err := s.UpsertImages(ctx, images); err != nil {
			t.Fatal(err)
		}
		idOf := map[int64]int64{}
		for feedID, p := range listByFeedID(t, s) {
			idOf[feedID] = p.ID
		}
		ids := []int64{999_999} // unknown ids are ignored
		for _, p := range profiles {
			ids = append(ids, idOf[p.FeedID])
		}
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })

		log := logStatements(t, s)
		checkOneSelect := func(t *testing.T) {
			t.Helper()
			all := log.All()
			if len(all) != 1 || !isSelect(all[0]) {
				t.Errorf("the loader ran %d statements, want one SELECT: %q", len(all), shorten(all))
			}
		}

		t.Run("Aliases", func(t *testing.T) {
			log.Reset()
			got, err := s.Aliases(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			checkOneSelect(t)
			for _, p := range profiles {
				id := idOf[p.FeedID]
				var names []string
				for i, a := range got[id] {
					names = append(names, a.Alias)
					if a.PornstarID != id || int(a.Position) != i || a.AliasKey != strings.ToLower(a.Alias) {
						t.Errorf("alias %+v of performer %d at index %d", a, id, i)
					}
				}
				if !slices.Equal(names, p.Aliases) {
					t.Errorf("feed id %d: aliases %q, want %q", p.FeedID, names, p.Aliases)
				}
			}
			if len(got[999_999]) != 0 || len(got[idOf[n+1]]) != 0 {
				t.Error("aliases returned for ids not asked for")
			}
		})

		t.Run("Thumbnails", func(t *testing.T) {
			log.Reset()
			got, err := s.Thumbnails(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			checkOneSelect(t)
			for _, p := range profiles {
				id := idOf[p.FeedID]
				var thumbs []db.ProfileThumbnail
				for i, th := range got[id] {
					if th.PornstarID != id || int(th.Position) != i {
						t.Errorf("thumbnail %+v of performer %d at index %d", th, id, i)
					}
					thumbs = append(thumbs, db.ProfileThumbnail{Type: th.Type, Width: th.Width, Height: th.Height, URL: th.URL, URLHash: th.URLHash})
				}
				if want := withHashes(p.Thumbnails); !slices.EqualFunc(thumbs, want, func(a, b db.ProfileThumbnail) bool {
					return a.Type == b.Type && a.URL == b.URL && a.URLHash == b.URLHash && *a.Width == *b.Width && *a.Height == *b.Height
				}) {
					t.Errorf("feed id %d: thumbnails %+v, want %+v", p.FeedID, thumbs, want)
				}
			}
		})

		t.Run("ImagesForPornstars", func(t *testing.T) {
			log.Reset()
			got, err := s.ImagesForPornstars(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			checkOneSelect(t)
			want := map[string]db.ImageState{}
			for _, st := range images[:len(images)-1] {
				want[st.URLHash] = st
			}
			if len(got) != len(want) {
				t.Errorf("%d images, want %d", len(got), len(want))
			}
			for hash, st := range want {
				img, ok := got[hash]
				if !ok {
					t.Errorf("image %s (%s) missing", hash, st.Status)
					continue
				}
				if img.Status != st.Status || img.URL != st.URL || img.Attempts != st.Attempts || !img.FetchedAt.Equal(*st.FetchedAt) {
					t.Errorf("image %s = %+v, want %+v", hash, img.ImageState, st)
				}
			}
		})

		t.Run("Images", func(t *testing.T) {
			hashes := []string{db.URLHash(sharedURL), strings.Repeat("0", 64)}
			log.Reset()
			got, err := s.Images(ctx, hashes)
			if err != nil {
				t.Fatal(err)
			}
			checkOneSelect(t)
			if _, ok := got[hashes[0]]; !ok || len(got) != 1 {
				t.Errorf("Images = %v, want only the shared image", got)
			}
		})
	})
}
