package graph_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/graph"
)

// performerKeys are the sortable members of a performer as the API shows
// them, for orders computed in Go.
type performerKeys struct {
	DatabaseID           int64     `json:"databaseId"`
	Name                 string    `json:"name"`
	Slug                 string    `json:"slug"`
	Link                 *string   `json:"link"`
	BreastType           *string   `json:"breastType"`
	Age                  *int64    `json:"age"`
	BreastSize           *int64    `json:"breastSize"`
	Subscriptions        *int64    `json:"subscriptions"`
	MonthlySearches      *int64    `json:"monthlySearches"`
	Views                *int64    `json:"views"`
	VideosCount          *int64    `json:"videosCount"`
	PremiumVideosCount   *int64    `json:"premiumVideosCount"`
	WhiteLabelVideoCount *int64    `json:"whiteLabelVideoCount"`
	Rank                 *int64    `json:"rank"`
	RankPremium          *int64    `json:"rankPremium"`
	RankWl               *int64    `json:"rankWl"`
	CreatedAt            time.Time `json:"createdAt"`
	UpdatedAt            time.Time `json:"updatedAt"`
}

const performerKeyFields = `databaseId name slug link breastType age breastSize subscriptions monthlySearches views videosCount
  premiumVideosCount whiteLabelVideoCount rank rankPremium rankWl createdAt updatedAt`

// value is the member an order field sorts by; nil is unknown.
func (p *performerKeys) value(field string) any {
	ints := map[string]*int64{
		"AGE": p.Age, "BREAST_SIZE": p.BreastSize, "SUBSCRIPTIONS": p.Subscriptions, "MONTHLY_SEARCHES": p.MonthlySearches,
		"VIEWS": p.Views, "VIDEOS_COUNT": p.VideosCount, "PREMIUM_VIDEOS_COUNT": p.PremiumVideosCount,
		"WHITE_LABEL_VIDEO_COUNT": p.WhiteLabelVideoCount, "RANK": p.Rank, "RANK_PREMIUM": p.RankPremium, "RANK_WL": p.RankWl,
	}
	switch field {
	case "NAME":
		return strings.ToLower(p.Name)
	case "CREATED_AT":
		return p.CreatedAt
	case "UPDATED_AT":
		return p.UpdatedAt
	}
	v, ok := ints[field]
	if !ok {
		panic("no Go value of order field " + field)
	}
	if v == nil {
		return nil
	}
	return *v
}

// sortedByField is the documented order: the field in the direction,
// unknown last either way, ties by id in the same direction.
func sortedByField(all []performerKeys, field string, desc bool) []int64 {
	rows := slices.Clone(all)
	slices.SortStableFunc(rows, func(a, b performerKeys) int {
		av, bv := a.value(field), b.value(field)
		c := 0
		switch {
		case av == nil && bv == nil:
		case av == nil:
			return 1
		case bv == nil:
			return -1
		default:
			switch av := av.(type) {
			case int64:
				c = cmp.Compare(av, bv.(int64))
			case string:
				c = strings.Compare(av, bv.(string))
			case time.Time:
				c = av.Compare(bv.(time.Time))
			}
		}
		if c == 0 {
			c = cmp.Compare(a.DatabaseID, b.DatabaseID)
		}
		if desc {
			c = -c
		}
		return c
	})
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.DatabaseID
	}
	return ids
}

type keysPage struct {
	Pornstars struct {
		Nodes    []performerKeys `json:"nodes"`
		PageInfo struct {
			HasNextPage     bool    `json:"hasNextPage"`
			HasPreviousPage bool    `json:"hasPreviousPage"`
			StartCursor     *string `json:"startCursor"`
			EndCursor       *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"pornstars"`
}

const keysQuery = `query($first: Int, $after: String, $last: Int, $before: String, $filter: PornstarFilter, $orderBy: [PornstarOrder!]) {
  pornstars(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    nodes { ` + performerKeyFields + ` }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

// allKeys reads every performer in the default order.
func allKeys(t *testing.T, e *env) []performerKeys {
	t.Helper()
	var all []performerKeys
	vars := map[string]any{"first": db.MaxPageSize}
	for {
		page := decode[keysPage](t, e.query(t, keysQuery, vars)).Pornstars
		all = append(all, page.Nodes...)
		if !page.PageInfo.HasNextPage {
			return all
		}
		vars["after"] = page.PageInfo.EndCursor
	}
}

// walkKeys reads every page of size pages in the order, forwards or from
// the end, and returns the ids in the list's order.
func walkKeys(t *testing.T, e *env, vars map[string]any, size int, backward bool) []int64 {
	t.Helper()
	var ids []int64
	var cursor *string
	for pages := 0; ; pages++ {
		if pages > 500 {
			t.Fatal("more than 500 pages")
		}
		v := map[string]any{}
		for k, x := range vars {
			v[k] = x
		}
		if backward {
			v["last"], v["before"] = size, cursor
		} else {
			v["first"], v["after"] = size, cursor
		}
		page := decode[keysPage](t, e.query(t, keysQuery, v)).Pornstars
		var part []int64
		for _, n := range page.Nodes {
			part = append(part, n.DatabaseID)
		}
		if backward {
			ids = append(part, ids...)
			if !page.PageInfo.HasPreviousPage {
				return ids
			}
			cursor = page.PageInfo.StartCursor
		} else {
			ids = append(ids, part...)
			if !page.PageInfo.HasNextPage {
				return ids
			}
			cursor = page.PageInfo.EndCursor
		}
	}
}

// TestEveryOrderField: every value of PornstarOrderField orders the real
// sample as documented, page by page forwards and backwards, unknown
// values last in both directions.
func TestEveryOrderField(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadHead(t, s)
		e := newEnv(t, s, graph.Options{})
		all := allKeys(t, e)
		if len(all) < 50 {
			t.Fatalf("%d performers", len(all))
		}
		for _, key := range db.OrderFields {
			if key == db.OrderRelevance {
				continue // needs a q: the search tests
			}
			field := strings.ToUpper(key)
			for _, direction := range []string{"ASC", "DESC"} {
				t.Run(field+" "+direction, func(t *testing.T) {
					want := sortedByField(all, field, direction == "DESC")
					vars := map[string]any{"orderBy": []map[string]any{order(field, direction)}}
					if got := walkKeys(t, e, vars, 7, false); !slices.Equal(got, want) {
						t.Errorf("forwards:\n got %v\nwant %v", got, want)
					}
					if got := walkKeys(t, e, vars, 7, true); !slices.Equal(got, want) {
						t.Errorf("backwards:\n got %v\nwant %v", got, want)
					}
				})
			}
		}
	})
}

// TestSlugsAndDiscoveryFilters: every performer has its own slug;
// pornstarBySlug finds it (null otherwise); the slug, breastType and
// createdSince filters select what the performers' own fields say.
func TestSlugsAndDiscoveryFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadHead(t, s)
		if _, err := s.Create(t.Context(), db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Ünal O'Brien"}}); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, s, graph.Options{})
		all := allKeys(t, e)
		seen := map[string]bool{}
		var apiMade *performerKeys
		for i, p := range all {
			if !db.IsSlug(p.Slug) || seen[p.Slug] {
				t.Errorf("performer %d: slug %q (malformed or taken twice)", p.DatabaseID, p.Slug)
			}
			seen[p.Slug] = true
			if p.Name == "Ünal O'Brien" {
				apiMade = &all[i]
			}
		}
		if apiMade == nil || apiMade.Slug != "unal-o-brien" {
			t.Fatalf("the API record: %+v", apiMade)
		}

		t.Run("pornstarBySlug", func(t *testing.T) {
			for _, p := range []performerKeys{all[0], all[len(all)/2], *apiMade} {
				got := decode[struct {
					P *performerKeys `json:"pornstarBySlug"`
				}](t, e.query(t, `query($s: String!) { pornstarBySlug(slug: $s) { `+performerKeyFields+` } }`, map[string]any{"s": p.Slug}))
				if got.P == nil || got.P.DatabaseID != p.DatabaseID || got.P.Name != p.Name {
					t.Errorf("pornstarBySlug(%q) = %+v, want performer %d", p.Slug, got.P, p.DatabaseID)
				}
			}
			for _, slug := range []string{"no-such-performer", strings.ToUpper(all[0].Slug), "", strings.Repeat("x", 500), "a' OR '1'='1"} {
				res := e.do(t, request{query: `query($s: String!) { pornstarBySlug(slug: $s) { name } }`, variables: map[string]any{"s": slug}})
				if len(res.Errors) > 0 || string(res.Data) != `{"pornstarBySlug":null}` {
					t.Errorf("pornstarBySlug(%q) = %s, want null", slug, res.Raw)
				}
			}
		})

		var breastType string
		for _, p := range all {
			if p.BreastType != nil {
				breastType = *p.BreastType
				break
			}
		}
		createdSince := apiMade.CreatedAt
		cases := []struct {
			name   string
			filter map[string]any
			want   func(p *performerKeys) bool
		}{
			{"slug, any of", map[string]any{"slug": []string{all[3].Slug, all[9].Slug, "nobody"}},
				func(p *performerKeys) bool { return p.Slug == all[3].Slug || p.Slug == all[9].Slug }},
			{"slug is exact", map[string]any{"slug": []string{strings.ToUpper(all[3].Slug)}}, func(*performerKeys) bool { return false }},
			{"breastType", map[string]any{"breastType": []string{breastType}},
				func(p *performerKeys) bool { return p.BreastType != nil && *p.BreastType == breastType }},
			{"breastType, any of", map[string]any{"breastType": []string{breastType, "none-such"}},
				func(p *performerKeys) bool { return p.BreastType != nil && *p.BreastType == breastType }},
			{"createdSince the API record", map[string]any{"createdSince": createdSince.Format(time.RFC3339Nano)},
				func(p *performerKeys) bool { return !p.CreatedAt.Before(createdSince) }},
			{"createdSince long ago", map[string]any{"createdSince": "2000-01-01T00:00:00Z"}, func(*performerKeys) bool { return true }},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var want []int64
				for i := range all {
					if tc.want(&all[i]) {
						want = append(want, all[i].DatabaseID)
					}
				}
				got := walkKeys(t, e, map[string]any{"filter": tc.filter}, db.MaxPageSize, false)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
				if tc.name == "createdSince the API record" && (len(want) == 0 || len(want) == len(all)) {
					t.Errorf("the case keeps %d of %d: it tests nothing", len(want), len(all))
				}
			})
		}

		for _, tc := range []struct {
			name   string
			filter map[string]any
			field  string
		}{
			{"a slug longer than any", map[string]any{"slug": []string{strings.Repeat("s", 129)}}, "filter.slug.0"},
			{"a NUL in a breast type", map[string]any{"breastType": []string{"\x00"}}, "filter.breastType.0"},
			{"createdSince before any stored time", map[string]any{"createdSince": "0999-12-31T00:00:00Z"}, "filter.createdSince"},
		} {
			t.Run("refused: "+tc.name, func(t *testing.T) {
				got := e.mustFail(t, request{query: keysQuery, variables: map[string]any{"filter": tc.filter}}, graph.CodeBadUserInput)
				if got.Extensions["field"] != tc.field {
					t.Errorf("field %v, want %s (%s)", got.Extensions["field"], tc.field, got.Message)
				}
			})
		}
	})
}
