package db_test

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/ingest/feedgen"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
)

// facetItem is one loaded performer as the test knows it: its profile and
// whether it left the feed.
type facetItem struct {
	profile db.Profile
	removed bool
}

// facetCase is a filter with the same selection written in Go: each
// predicate under the name of the filter it stands for, which is the name
// of the facet that leaves it out.
type facetCase struct {
	name   string
	filter db.Filter
	preds  map[string]func(it facetItem) bool
}

func lowerSet(values []string) []string {
	var out []string
	for _, v := range values {
		if k := strings.ToLower(strings.TrimSpace(v)); k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

func anyOf(values []string, wanted ...string) bool {
	for _, w := range wanted {
		if slices.Contains(values, w) {
			return true
		}
	}
	return false
}

func inRange(v *int64, lo, hi int64) bool { return v != nil && *v >= lo && *v <= hi }

func int32Value(v *int32) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func notRemoved(it facetItem) bool { return !it.removed }

func facetCases(items []facetItem) []facetCase {
	var someIDs []int64
	for i, it := range items {
		if i%3 == 0 {
			someIDs = append(someIDs, it.profile.FeedID)
		}
	}
	return []facetCase{
		{name: "no filter", preds: map[string]func(facetItem) bool{"removed": notRemoved}},
		{name: "removed any", filter: db.Filter{Removed: db.RemovedAny}},
		{name: "one hair colour",
			filter: db.Filter{HairColors: []string{"BLONDE"}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"hair_color": func(it facetItem) bool { return anyOf(lowerSet(it.profile.HairColors), "blonde") }}},
		{name: "hair, ethnicity, gender and age",
			filter: db.Filter{HairColors: []string{"brunette", "Black"}, Ethnicities: []string{"white"}, Genders: []string{"female"},
				Ranges: map[string]db.Range{"age": {Min: ptr(int64(25)), Max: ptr(int64(45))}}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"hair_color": func(it facetItem) bool { return anyOf(lowerSet(it.profile.HairColors), "brunette", "black") },
				"ethnicity":  func(it facetItem) bool { return anyOf(lowerSet(it.profile.Ethnicities), "white") },
				"gender":     func(it facetItem) bool { return it.profile.Gender != nil && *it.profile.Gender == "female" },
				"age":        func(it facetItem) bool { return inRange(int32Value(it.profile.Age), 25, 45) },
			}},
		{name: "flags, license and stats",
			filter: db.Filter{Tattoos: ptr(true), WLStatus: ptr(true), Licenses: []string{"REGULAR"},
				Ranges: map[string]db.Range{"views": {Min: ptr(int64(100_000))}, "rank": {Max: ptr(int64(9_000))}}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"tattoos":   func(it facetItem) bool { return it.profile.Tattoos != nil && *it.profile.Tattoos },
				"wl_status": func(it facetItem) bool { return it.profile.WLStatus != nil && *it.profile.WLStatus },
				"license":   func(it facetItem) bool { return it.profile.License != nil && *it.profile.License == "REGULAR" },
				"views":     func(it facetItem) bool { return inRange(it.profile.Views, 100_000, 1<<62) },
				"rank":      func(it facetItem) bool { return inRange(it.profile.Rank, 0, 9_000) },
			}},
		{name: "a filter no facet leaves out",
			filter: db.Filter{FeedIDs: someIDs, Piercings: ptr(false), Ranges: map[string]db.Range{"breast_size": {Min: ptr(int64(34))}}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"feed_id":     func(it facetItem) bool { return slices.Contains(someIDs, it.profile.FeedID) },
				"piercings":   func(it facetItem) bool { return it.profile.Piercings != nil && !*it.profile.Piercings },
				"breast_size": func(it facetItem) bool { return inRange(int32Value(it.profile.BreastSize), 34, 1<<31) },
			}},
		{name: "breast type and gender",
			filter: db.Filter{BreastTypes: []string{"C", "D"}, Genders: []string{"female"}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"breast_type": func(it facetItem) bool {
					return it.profile.BreastType != nil && (*it.profile.BreastType == "C" || *it.profile.BreastType == "D")
				},
				"gender": func(it facetItem) bool { return it.profile.Gender != nil && *it.profile.Gender == "female" },
			}},
		{name: "nothing matches",
			filter: db.Filter{Orientations: []string{"no such orientation"}, Ranges: map[string]db.Range{"subscriptions": {Min: ptr(int64(0))}}},
			preds: map[string]func(facetItem) bool{"removed": notRemoved,
				"orientation":   func(facetItem) bool { return false },
				"subscriptions": func(it facetItem) bool { return it.profile.Subscriptions != nil },
			}},
	}
}

// facetLabels are a performer's values of a FacetValues facet, nil when
// unknown, as the test reads them from the profile.
func facetLabels(p *db.Profile, facet string) []string {
	text := func(v *string) []string {
		if v == nil {
			return nil
		}
		return []string{*v}
	}
	flag := func(v *bool) []string {
		if v == nil {
			return nil
		}
		return []string{fmt.Sprint(*v)}
	}
	switch facet {
	case "hair_color":
		return lowerSet(p.HairColors)
	case "ethnicity":
		return lowerSet(p.Ethnicities)
	case "gender":
		return text(p.Gender)
	case "orientation":
		return text(p.Orientation)
	case "license":
		return text(p.License)
	case "breast_type":
		return text(p.BreastType)
	case "tattoos":
		return flag(p.Tattoos)
	case "piercings":
		return flag(p.Piercings)
	case "wl_status":
		return flag(p.WLStatus)
	}
	panic("no labels for facet " + facet)
}

// facetNumber is a performer's value of a FacetHistogram facet.
func facetNumber(p *db.Profile, facet string) *int64 {
	switch facet {
	case "age":
		return int32Value(p.Age)
	case "breast_size":
		return int32Value(p.BreastSize)
	}
	return map[string]*int64{
		"subscriptions": p.Subscriptions, "monthly_searches": p.MonthlySearches, "views": p.Views,
		"videos_count": p.VideosCount, "premium_videos_count": p.PremiumVideosCount,
		"white_label_video_count": p.WhiteLabelVideoCount, "rank": p.Rank, "rank_premium": p.RankPremium, "rank_wl": p.RankWL,
	}[facet]
}

// facetView is a facet's counts in a form that compares and prints.
type facetView struct {
	Values  []string // "value=count", "null=count"
	Buckets []string // "min..max=count"
	Unknown int64
	Min     *int64
	Max     *int64
}

func viewOf(c db.FacetCounts) facetView {
	v := facetView{Unknown: c.Unknown, Min: c.Min, Max: c.Max}
	for _, fv := range c.Values {
		label := "null"
		if fv.Value != nil {
			label = *fv.Value
		}
		v.Values = append(v.Values, fmt.Sprintf("%s=%d", label, fv.Count))
	}
	for _, b := range c.Buckets {
		upper := "*"
		if b.Max != nil {
			upper = fmt.Sprint(*b.Max)
		}
		v.Buckets = append(v.Buckets, fmt.Sprintf("%d..%s=%d", b.Min, upper, b.Count))
	}
	return v
}

// expectedFacet counts facet over items in Go: every predicate of c but the
// one of the facet's name applies.
func expectedFacet(items []facetItem, c facetCase, field *db.FacetField) facetView {
	var counted []*db.Profile
	for i := range items {
		ok := true
		for name, pred := range c.preds {
			if name != field.Name && !pred(items[i]) {
				ok = false
				break
			}
		}
		if ok {
			counted = append(counted, &items[i].profile)
		}
	}
	var v facetView
	if field.Kind == db.FacetValues {
		counts := map[string]int64{}
		var unknown int64
		for _, p := range counted {
			labels := facetLabels(p, field.Name)
			if len(labels) == 0 {
				unknown++
			}
			for _, l := range labels {
				counts[l]++
			}
		}
		type entry struct {
			label string
			known bool
			n     int64
		}
		var entries []entry
		for l, n := range counts {
			entries = append(entries, entry{l, true, n})
		}
		if unknown > 0 {
			entries = append(entries, entry{"null", false, unknown})
		}
		slices.SortFunc(entries, func(a, b entry) int {
			if a.n != b.n {
				return cmp.Compare(b.n, a.n)
			}
			if a.known != b.known {
				if a.known {
					return -1
				}
				return 1
			}
			return strings.Compare(a.label, b.label)
		})
		for _, e := range entries {
			v.Values = append(v.Values, fmt.Sprintf("%s=%d", e.label, e.n))
		}
		return v
	}
	// Buckets as the documented edges make them: [edge, next edge - 1].
	edges := field.Edges
	counts := make([]int64, len(edges))
	for _, p := range counted {
		n := facetNumber(p, field.Name)
		if n == nil {
			v.Unknown++
			continue
		}
		if v.Min == nil || *n < *v.Min {
			v.Min = ptr(*n)
		}
		if v.Max == nil || *n > *v.Max {
			v.Max = ptr(*n)
		}
		for i := range edges {
			if *n >= edges[i] && (i == len(edges)-1 || *n < edges[i+1]) {
				counts[i]++
			}
		}
	}
	for i, edge := range edges {
		upper := "*"
		if i < len(edges)-1 {
			upper = fmt.Sprint(edges[i+1] - 1)
		}
		v.Buckets = append(v.Buckets, fmt.Sprintf("%d..%s=%d", edge, upper, counts[i]))
	}
	return v
}

func expectedTotal(items []facetItem, c facetCase) int64 {
	var n int64
	for _, it := range items {
		ok := true
		for _, pred := range c.preds {
			ok = ok && pred(it)
		}
		if ok {
			n++
		}
	}
	return n
}

// checkFacets asks for every facet under every case and compares each with
// the counts made in Go.
func checkFacets(t *testing.T, s *db.Store, items []facetItem) {
	t.Helper()
	ctx := context.Background()
	for _, c := range facetCases(items) {
		got, err := s.Facets(ctx, c.filter, db.FacetNames)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want := expectedTotal(items, c); got.Total != want {
			t.Errorf("%s: total %d, want %d", c.name, got.Total, want)
		}
		if len(got.Facets) != len(db.FacetFields) {
			t.Fatalf("%s: %d facets, want %d", c.name, len(got.Facets), len(db.FacetFields))
		}
		for i := range db.FacetFields {
			field := &db.FacetFields[i]
			if got.Facets[i].Field.Name != field.Name {
				t.Fatalf("%s: facet %d is %s, want %s", c.name, i, got.Facets[i].Field.Name, field.Name)
			}
			if have, want := viewOf(got.Facets[i]), expectedFacet(items, c, field); !reflect.DeepEqual(have, want) {
				t.Errorf("%s: facet %s:\n got %+v\nwant %+v", c.name, field.Name, describeView(have), describeView(want))
			}
		}
	}
}

func describeView(v facetView) string {
	bound := func(p *int64) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("values %v buckets %v unknown %d min %s max %s", v.Values, v.Buckets, v.Unknown, bound(v.Min), bound(v.Max))
}

// generatedFeed is a feedgen feed of n items, parsed.
func generatedFeed(t *testing.T, n int) []db.Profile {
	var buf bytes.Buffer
	if err := feedgen.Write(&buf, feedgen.Options{Items: n, Seed: 11}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "feed.json")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ingesttest.ReadFeed(t, path)
}

// TestFacets loads a feed, compares every facet under filters with counts
// made in Go from the loaded items, then changes performers (new values,
// removals) and compares again: the facets follow every write.
func TestFacets(t *testing.T) {
	feeds := map[string]func(t *testing.T) []db.Profile{}
	for _, sample := range samples.Head.WithReal() {
		feeds[sample.Name] = func(t *testing.T) []db.Profile { return ingesttest.ReadFeed(t, sample.Path(t)) }
	}
	feeds["generated-1500"] = func(t *testing.T) []db.Profile { return generatedFeed(t, 1500) }
	for name, read := range feeds {
		t.Run(name, func(t *testing.T) {
			profiles := read(t)
			forEachBackend(t, func(t *testing.T, s *db.Store) {
				ctx := context.Background()
				items := make([]facetItem, len(profiles))
				for i, p := range profiles {
					items[i] = facetItem{profile: p}
				}
				mustUpsert(t, s, profiles...)
				checkFacets(t, s, items)

				// Every fifth performer changes its hair, gender, age and
				// views; every seventh leaves the feed.
				var changed []db.Profile
				var removed []int64
				for i := range items {
					p := &items[i].profile
					if i%5 == 0 {
						p.HairColors = db.StringList{"Silver", "blonde"}
						p.Gender = nil
						p.Age = ptr(int32(20 + i%50))
						p.Views = ptr(int64(i) * 1000)
						p.ContentHash = ""
						changed = append(changed, *p)
					}
					if i%7 == 0 {
						items[i].removed = true
						removed = append(removed, p.FeedID)
					}
				}
				mustUpsert(t, s, changed...)
				if _, err := s.MarkRemoved(ctx, removed); err != nil {
					t.Fatal(err)
				}
				checkFacets(t, s, items)
			})
		})
	}
}

// TestFacetsCacheOff: with the cache of facet values off, the counts are
// the same.
func TestFacetsCacheOff(t *testing.T) {
	profiles := ingesttest.ReadFeed(t, samples.Head.Path(t))
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		s.SetChildrenCacheEntries(0)
		items := make([]facetItem, len(profiles))
		for i, p := range profiles {
			items[i] = facetItem{profile: p}
		}
		mustUpsert(t, s, profiles...)
		checkFacets(t, s, items)
	})
}

// TestFacetsRefuse: the facet names and the filter are checked as the list
// checks its input, naming what is wrong.
func TestFacetsRefuse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		tests := []struct {
			name   string
			facets []string
			filter db.Filter
			field  string
		}{
			{"no facet", nil, db.Filter{}, "facets"},
			{"unknown facet", []string{"gender", "shoe_size"}, db.Filter{}, "facets/1"},
			{"repeated facet", []string{"age", "gender", "age"}, db.Filter{}, "facets/2"},
			{"more names than facets", slices.Concat(db.FacetNames, []string{"age"}), db.Filter{}, "facets"},
			{"bad filter", []string{"age"}, db.Filter{Removed: "sometimes"}, "removed"},
			{"unknown range", []string{"age"}, db.Filter{Ranges: map[string]db.Range{"height": {}}}, "ranges/height"},
		}
		for _, tt := range tests {
			_, err := s.Facets(context.Background(), tt.filter, tt.facets)
			var fe *db.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("%s: error %v, want a field error on %s", tt.name, err, tt.field)
			}
		}
	})
}

// TestFacetFields: every facet is documented, histograms have ascending
// edges from the least value a performer field may hold, and a facet
// joins the filter of its name when the filter exists.
func TestFacetFields(t *testing.T) {
	filters := map[string]bool{}
	for _, ff := range db.FilterFields {
		filters[ff.Name] = true
	}
	for _, ff := range db.FacetFields {
		t.Run(ff.Name, func(t *testing.T) {
			if ff.Description == "" {
				t.Error("no description")
			}
			switch ff.Kind {
			case db.FacetValues:
				if len(ff.Edges) != 0 {
					t.Error("a values facet has edges")
				}
			case db.FacetHistogram:
				rule, ok := db.Rule(ff.Name)
				if !ok {
					t.Fatalf("no field rule of %s", ff.Name)
				}
				if len(ff.Edges) < 2 || ff.Edges[0] != rule.Min || !slices.IsSorted(ff.Edges) || slices.Compact(slices.Clone(ff.Edges))[len(ff.Edges)-1] != ff.Edges[len(ff.Edges)-1] {
					t.Errorf("edges %v: want at least two, ascending and distinct, from %d", ff.Edges, rule.Min)
				}
				if !filters[ff.Name] {
					t.Errorf("histogram %s has no range filter of its name", ff.Name)
				}
			default:
				t.Errorf("kind %d", ff.Kind)
			}
		})
	}
}

// TestFacetsAnswersFollowWrites: requests repeated between writes are
// answered from the facet answer cache, and each kind of write (an API
// update, create and delete, a feed change and removal) is seen by the
// next request.
func TestFacetsAnswersFollowWrites(t *testing.T) {
	profiles := ingesttest.ReadFeed(t, samples.Head.Path(t))
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		items := make([]facetItem, len(profiles))
		for i, p := range profiles {
			items[i] = facetItem{profile: p}
		}
		mustUpsert(t, s, profiles...)
		idOf := func(i int) int64 {
			t.Helper()
			p, err := s.GetByFeedID(ctx, items[i].profile.FeedID)
			if err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		var apiID int64 // the performer the API created
		steps := []struct {
			name  string
			write func(t *testing.T)
		}{
			{"no write: answered again", func(*testing.T) {}},
			{"an API update of one performer's hair", func(t *testing.T) {
				if _, err := s.Update(ctx, idOf(1), db.PornstarPatch{HairColors: db.Some(db.StringList{"Green"})}, nil); err != nil {
					t.Fatal(err)
				}
				items[1].profile.HairColors = db.StringList{"Green"}
			}},
			{"an API create", func(t *testing.T) {
				fields := db.PornstarFields{Name: "Made Through The API", HairColors: db.StringList{"Green"}, Gender: ptr("female"), Age: ptr(int32(33))}
				created, err := s.Create(ctx, db.PornstarInput{PornstarFields: fields})
				if err != nil {
					t.Fatal(err)
				}
				apiID = created.ID
				items = append(items, facetItem{profile: db.Profile{PornstarFields: fields}})
			}},
			{"an API delete", func(t *testing.T) {
				if err := s.Delete(ctx, apiID, nil); err != nil {
					t.Fatal(err)
				}
				items = items[:len(items)-1] // gone, as if it never was
			}},
			{"a feed change of one performer's age", func(t *testing.T) {
				p := &items[3].profile
				p.Age, p.ContentHash = ptr(int32(71)), ""
				mustUpsert(t, s, *p)
			}},
			{"a feed removal", func(t *testing.T) {
				if _, err := s.MarkRemoved(ctx, []int64{items[4].profile.FeedID}); err != nil {
					t.Fatal(err)
				}
				items[4].removed = true
			}},
		}
		checkFacets(t, s, items)
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				step.write(t)
				checkFacets(t, s, items)
			})
		}
	})
}
