package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/graph/model"
	"marquee/internal/testkit"
)

const listQuery = `query List($first: Int, $after: String, $last: Int, $before: String, $filter: PornstarFilter, $orderBy: [PornstarOrder!]) {
  pornstars(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { name } }
    nodes { name }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`

type listResult struct {
	Pornstars struct {
		TotalCount int `json:"totalCount"`
		Edges      []struct {
			Cursor string `json:"cursor"`
			Node   struct {
				Name string `json:"name"`
			} `json:"node"`
		} `json:"edges"`
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
		PageInfo struct {
			HasNextPage     bool    `json:"hasNextPage"`
			HasPreviousPage bool    `json:"hasPreviousPage"`
			StartCursor     *string `json:"startCursor"`
			EndCursor       *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"pornstars"`
}

func (r listResult) names() []string {
	out := []string{}
	for _, e := range r.Pornstars.Edges {
		out = append(out, e.Node.Name)
	}
	return out
}

func list(t *testing.T, e *env, vars map[string]any) listResult {
	t.Helper()
	r := decode[listResult](t, e.query(t, listQuery, vars))
	nodes := []string{}
	for _, n := range r.Pornstars.Nodes {
		nodes = append(nodes, n.Name)
	}
	if !slices.Equal(nodes, r.names()) {
		t.Fatalf("nodes %v differ from edges %v", nodes, r.names())
	}
	return r
}

// defaultOrder is the fixture in rank order, unknown ranks last (by id).
var defaultOrder = []string{"Alpha Star", "bravo", "delta", "Echo", "Charlie", "Golf"}

func TestQueries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		golfID := loadFixture(t, s)
		e := newEnv(t, s, graph.Options{Introspection: true})
		t.Run("filters", func(t *testing.T) { testFilters(t, e) })
		t.Run("orderings", func(t *testing.T) { testOrderings(t, e) })
		t.Run("pagination", func(t *testing.T) { testPagination(t, e) })
		t.Run("lookups", func(t *testing.T) { testLookups(t, e, golfID) })
		t.Run("performer fields", func(t *testing.T) { testPerformerFields(t, e) })
		t.Run("images", func(t *testing.T) { testImages(t, e) })
		t.Run("feed runs", func(t *testing.T) { testFeedRuns(t, e) })
	})
}

func testFilters(t *testing.T, e *env) {
	cases := []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"none", nil, defaultOrder},
		{"q in a name or an alias, any case, by relevance: alias prefix first", map[string]any{"q": "STAR"}, []string{"delta", "Alpha Star"}},
		{"q: words in any order", map[string]any{"q": "star alpha"}, []string{"Alpha Star"}},
		{"q: accents ignored", map[string]any{"q": "zülu"}, []string{"bravo"}},
		{"q in an alias", map[string]any{"q": "zulu"}, []string{"bravo"}},
		{"q with punctuation", map[string]any{"q": "a. s"}, []string{"Alpha Star"}},
		{"q with a LIKE wildcard matches it literally", map[string]any{"q": "%"}, []string{}},
		{"hair colour, any case", map[string]any{"hairColor": []string{"blonde"}}, []string{"Alpha Star", "bravo"}},
		{"hair colour, any of", map[string]any{"hairColor": []string{"BRUNETTE", "red"}}, []string{"bravo"}},
		{"ethnicity", map[string]any{"ethnicity": []string{"white"}}, []string{"Alpha Star", "delta"}},
		{"ethnicity with a space", map[string]any{"ethnicity": []string{"Middle Eastern"}}, []string{"delta"}},
		{"gender", map[string]any{"gender": []string{"female"}}, []string{"Alpha Star", "bravo", "Echo"}},
		{"gender, any of", map[string]any{"gender": []string{"male", "couple"}}, []string{"delta", "Charlie", "Golf"}},
		{"orientation", map[string]any{"orientation": []string{"gay"}}, []string{"Charlie"}},
		{"license", map[string]any{"license": []string{"PREMIUM"}}, []string{"bravo", "Echo"}},
		{"wlStatus true", map[string]any{"wlStatus": true}, []string{"Alpha Star", "delta"}},
		{"wlStatus false", map[string]any{"wlStatus": false}, []string{"bravo"}},
		{"tattoos", map[string]any{"tattoos": true}, []string{"Alpha Star", "delta"}},
		{"piercings", map[string]any{"piercings": true}, []string{"bravo", "delta"}},
		{"ageMin", map[string]any{"ageMin": 30}, []string{"delta", "Echo", "Charlie"}},
		{"ageMax is inclusive", map[string]any{"ageMax": 30}, []string{"Alpha Star", "delta"}},
		{"age range", map[string]any{"ageMin": 26, "ageMax": 59}, []string{"delta", "Charlie"}},
		{"breastSizeMin", map[string]any{"breastSizeMin": 35}, []string{"delta"}},
		{"views range", map[string]any{"viewsMin": 1000, "viewsMax": 1000}, []string{"Alpha Star", "delta"}},
		{"subscriptionsMin", map[string]any{"subscriptionsMin": 20}, []string{"bravo", "Charlie"}},
		{"monthlySearchesMin above 32 bits", map[string]any{"monthlySearchesMin": "400000000"}, []string{"Alpha Star"}},
		{"videosCountMin", map[string]any{"videosCountMin": 5}, []string{"Alpha Star"}},
		{"premiumVideosCountMax", map[string]any{"premiumVideosCountMax": 1}, []string{"Alpha Star"}},
		{"whiteLabelVideoCountMin", map[string]any{"whiteLabelVideoCountMin": 2}, []string{"Alpha Star"}},
		{"rankMax", map[string]any{"rankMax": 2}, []string{"Alpha Star", "bravo"}},
		{"rankPremiumMin", map[string]any{"rankPremiumMin": 7}, []string{"Alpha Star"}},
		{"rankWlMax", map[string]any{"rankWlMax": 3}, []string{"Alpha Star"}},
		{"hasImage true: a cached image", map[string]any{"hasImage": true}, []string{"Alpha Star"}},
		{"hasImage false", map[string]any{"hasImage": false}, []string{"bravo", "delta", "Echo", "Charlie", "Golf"}},
		{"removed NOT_REMOVED", map[string]any{"removed": "NOT_REMOVED"}, defaultOrder},
		{"removed REMOVED", map[string]any{"removed": "REMOVED"}, []string{"Foxtrot"}},
		{"removed ANY", map[string]any{"removed": "ANY"}, []string{"Alpha Star", "bravo", "delta", "Echo", "Foxtrot", "Charlie", "Golf"}},
		{"feedId, any of", map[string]any{"feedId": []int{2, 3, 99}}, []string{"bravo", "Charlie"}},
		{"combined", map[string]any{"gender": []string{"female"}, "hasImage": false}, []string{"bravo", "Echo"}},
		{"nothing matches", map[string]any{"q": "no such performer"}, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := list(t, e, map[string]any{"filter": tc.filter})
			if got := r.names(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if r.Pornstars.TotalCount != len(tc.want) {
				t.Fatalf("totalCount %d, want %d", r.Pornstars.TotalCount, len(tc.want))
			}
			if len(tc.want) == 0 && (r.Pornstars.PageInfo.StartCursor != nil || r.Pornstars.PageInfo.EndCursor != nil) {
				t.Fatalf("an empty page has cursors: %+v", r.Pornstars.PageInfo)
			}
		})
	}

	refusals := []struct {
		name   string
		filter map[string]any
		field  string
	}{
		{"too many values", map[string]any{"gender": slices.Repeat([]string{"x"}, 101)}, "filter.gender"},
		{"too many feed ids", map[string]any{"feedId": slices.Repeat([]int{1}, 101)}, "filter.feedId"},
		{"q too long", map[string]any{"q": strings.Repeat("x", 300)}, "filter.q"},
		{"a NUL in q", map[string]any{"q": "a\x00b"}, "filter.q"},
		{"a NUL in a hair colour", map[string]any{"hairColor": []string{"red", "a\x00"}}, "filter.hairColor.1"},
		{"a NUL in an ethnicity", map[string]any{"ethnicity": []string{"\x00"}}, "filter.ethnicity.0"},
		{"a NUL in a gender", map[string]any{"gender": []string{"female\x00"}}, "filter.gender.0"},
		{"a NUL in an orientation", map[string]any{"orientation": []string{"\x00"}}, "filter.orientation.0"},
		{"a NUL in a license", map[string]any{"license": []string{"\x00"}}, "filter.license.0"},
		{"a hair colour longer than any", map[string]any{"hairColor": []string{strings.Repeat("x", 129)}}, "filter.hairColor.0"},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			got := e.mustFail(t, request{query: listQuery, variables: map[string]any{"filter": tc.filter}}, graph.CodeBadUserInput)
			if got.Extensions["field"] != tc.field {
				t.Fatalf("field %v, want %s", got.Extensions["field"], tc.field)
			}
		})
	}
	t.Run("refused: invalid UTF-8 in the query text", func(t *testing.T) {
		// JSON cannot carry invalid UTF-8 (decoders replace it); a query
		// string in a GET can, and the parser refuses it.
		for _, literal := range []string{`q: "a\xffb"`, `hairColor: ["\xff"]`} {
			e.mustFail(t, request{method: "GET", query: `{ pornstars(filter: {` + literal + `}) { totalCount } }`}, graph.CodeParseFailed)
		}
	})
	t.Run("refused: not an Int64", func(t *testing.T) {
		e.mustFail(t, request{query: listQuery, variables: map[string]any{"filter": map[string]any{"viewsMin": "many"}}}, graph.CodeBadUserInput)
	})
	t.Run("refused: unknown enum value", func(t *testing.T) {
		e.mustFail(t, request{query: listQuery, variables: map[string]any{"filter": map[string]any{"removed": "MAYBE"}}}, graph.CodeValidationFailed)
	})
}

func order(field, direction string) map[string]any {
	return map[string]any{"field": field, "direction": direction}
}

func testOrderings(t *testing.T, e *env) {
	cases := []struct {
		name    string
		orderBy []map[string]any
		want    []string
	}{
		{"rank asc, unknown last", []map[string]any{order("RANK", "ASC")}, defaultOrder},
		{"rank desc, unknown still last", []map[string]any{order("RANK", "DESC")}, []string{"Echo", "delta", "bravo", "Alpha Star", "Golf", "Charlie"}},
		{"name asc, case-insensitive", []map[string]any{order("NAME", "ASC")}, []string{"Alpha Star", "bravo", "Charlie", "delta", "Echo", "Golf"}},
		{"name desc", []map[string]any{order("NAME", "DESC")}, []string{"Golf", "Echo", "delta", "Charlie", "bravo", "Alpha Star"}},
		{"views asc, ties by id", []map[string]any{order("VIEWS", "ASC")}, []string{"Echo", "Alpha Star", "delta", "bravo", "Charlie", "Golf"}},
		{"views desc, ties by id desc", []map[string]any{order("VIEWS", "DESC")}, []string{"bravo", "delta", "Alpha Star", "Echo", "Golf", "Charlie"}},
		{"subscriptions desc", []map[string]any{order("SUBSCRIPTIONS", "DESC")}, []string{"bravo", "Charlie", "delta", "Alpha Star", "Golf", "Echo"}},
		{"subscriptions asc", []map[string]any{order("SUBSCRIPTIONS", "ASC")}, []string{"Alpha Star", "delta", "Charlie", "bravo", "Echo", "Golf"}},
		{"age asc", []map[string]any{order("AGE", "ASC")}, []string{"Alpha Star", "delta", "Charlie", "Echo", "bravo", "Golf"}},
		{"age desc", []map[string]any{order("AGE", "DESC")}, []string{"Echo", "Charlie", "delta", "Alpha Star", "Golf", "bravo"}},
		// The fixture's image outcomes touch Alpha Star and bravo after the
		// profiles were loaded; the API record comes last of all.
		{"updated_at desc: the API record is newest", []map[string]any{order("UPDATED_AT", "DESC")}, []string{"Golf", "bravo", "Alpha Star", "Echo", "delta", "Charlie"}},
		{"updated_at asc", []map[string]any{order("UPDATED_AT", "ASC")}, []string{"Charlie", "delta", "Echo", "Alpha Star", "bravo", "Golf"}},
		{"two keys", []map[string]any{order("VIEWS", "DESC"), order("AGE", "ASC")}, []string{"bravo", "Alpha Star", "delta", "Echo", "Charlie", "Golf"}},
		{"second key unknown last", []map[string]any{order("SUBSCRIPTIONS", "ASC"), order("AGE", "DESC")}, []string{"delta", "Alpha Star", "Charlie", "bravo", "Echo", "Golf"}},
		{"direction defaults to ASC", []map[string]any{{"field": "NAME"}}, []string{"Alpha Star", "bravo", "Charlie", "delta", "Echo", "Golf"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := list(t, e, map[string]any{"orderBy": tc.orderBy}).names(); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			// Walking one row at a time, forward and backward, gives the
			// same order: every cursor crosses the unknown-value boundary.
			if got := walk(t, e, tc.orderBy, 1, false); !slices.Equal(got, tc.want) {
				t.Fatalf("forward walk %v, want %v", got, tc.want)
			}
			if got := walk(t, e, tc.orderBy, 1, true); !slices.Equal(got, tc.want) {
				t.Fatalf("backward walk %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("relevance with q", func(t *testing.T) {
		vars := map[string]any{"filter": map[string]any{"q": "star"}, "orderBy": []map[string]any{order("RELEVANCE", "ASC")}}
		if got := list(t, e, vars).names(); !slices.Equal(got, []string{"delta", "Alpha Star"}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("refused: relevance without q", func(t *testing.T) {
		got := e.mustFail(t, request{query: listQuery, variables: map[string]any{"orderBy": []map[string]any{order("RELEVANCE", "ASC")}}}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "orderBy.0.field" {
			t.Fatalf("field %v", got.Extensions["field"])
		}
	})
	t.Run("refused: a repeated field", func(t *testing.T) {
		got := e.mustFail(t, request{query: listQuery, variables: map[string]any{"orderBy": []map[string]any{order("NAME", "ASC"), order("NAME", "DESC")}}}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "orderBy.1.field" {
			t.Fatalf("field %v", got.Extensions["field"])
		}
	})
}

// walk pages through the whole list size rows at a time and returns the
// names in list order.
func walk(t *testing.T, e *env, orderBy []map[string]any, size int, backward bool) []string {
	t.Helper()
	var pages [][]string
	cursor := ""
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("the walk does not end")
		}
		vars := map[string]any{"orderBy": orderBy}
		if backward {
			vars["last"] = size
			if cursor != "" {
				vars["before"] = cursor
			}
		} else {
			vars["first"] = size
			if cursor != "" {
				vars["after"] = cursor
			}
		}
		r := list(t, e, vars)
		pages = append(pages, r.names())
		info := r.Pornstars.PageInfo
		more := info.HasNextPage
		if backward {
			more = info.HasPreviousPage
		}
		if !more {
			break
		}
		if backward {
			cursor = *info.StartCursor
		} else {
			cursor = *info.EndCursor
		}
	}
	if backward {
		slices.Reverse(pages)
	}
	return slices.Concat(pages...)
}

func testPagination(t *testing.T, e *env) {
	t.Run("forward pages", func(t *testing.T) {
		first := list(t, e, map[string]any{"first": 2})
		second := list(t, e, map[string]any{"first": 2, "after": *first.Pornstars.PageInfo.EndCursor})
		third := list(t, e, map[string]any{"first": 2, "after": *second.Pornstars.PageInfo.EndCursor})
		pages := []listResult{first, second, third}
		want := [][]string{{"Alpha Star", "bravo"}, {"delta", "Echo"}, {"Charlie", "Golf"}}
		for i, p := range pages {
			if !slices.Equal(p.names(), want[i]) {
				t.Fatalf("page %d: %v, want %v", i, p.names(), want[i])
			}
			if p.Pornstars.PageInfo.HasNextPage != (i < 2) || p.Pornstars.PageInfo.HasPreviousPage != (i > 0) {
				t.Fatalf("page %d: pageInfo %+v", i, p.Pornstars.PageInfo)
			}
			if p.Pornstars.TotalCount != 6 {
				t.Fatalf("page %d: totalCount %d", i, p.Pornstars.TotalCount)
			}
			if *p.Pornstars.PageInfo.StartCursor != p.Pornstars.Edges[0].Cursor || *p.Pornstars.PageInfo.EndCursor != p.Pornstars.Edges[1].Cursor {
				t.Fatalf("page %d: start/end cursors are not the edges'", i)
			}
		}
	})
	t.Run("an edge's cursor continues after it", func(t *testing.T) {
		all := list(t, e, nil)
		next := list(t, e, map[string]any{"after": all.Pornstars.Edges[2].Cursor, "first": 2})
		if !slices.Equal(next.names(), []string{"Echo", "Charlie"}) {
			t.Fatalf("got %v", next.names())
		}
	})
	t.Run("backward pages", func(t *testing.T) {
		last := list(t, e, map[string]any{"last": 4})
		if !slices.Equal(last.names(), []string{"delta", "Echo", "Charlie", "Golf"}) || !last.Pornstars.PageInfo.HasPreviousPage || last.Pornstars.PageInfo.HasNextPage {
			t.Fatalf("got %v %+v", last.names(), last.Pornstars.PageInfo)
		}
		before := list(t, e, map[string]any{"last": 4, "before": *last.Pornstars.PageInfo.StartCursor})
		if !slices.Equal(before.names(), []string{"Alpha Star", "bravo"}) || before.Pornstars.PageInfo.HasPreviousPage || !before.Pornstars.PageInfo.HasNextPage {
			t.Fatalf("got %v %+v", before.names(), before.Pornstars.PageInfo)
		}
	})
	t.Run("page sizes 1 and 100", func(t *testing.T) {
		if got := list(t, e, map[string]any{"first": 1}).names(); !slices.Equal(got, defaultOrder[:1]) {
			t.Fatalf("first 1: %v", got)
		}
		if got := list(t, e, map[string]any{"first": 100}).names(); !slices.Equal(got, defaultOrder) {
			t.Fatalf("first 100: %v", got)
		}
	})
	t.Run("a filtered walk", func(t *testing.T) {
		vars := map[string]any{"filter": map[string]any{"gender": []string{"female"}}, "first": 1}
		var got []string
		for range 4 {
			r := list(t, e, vars)
			got = append(got, r.names()...)
			if !r.Pornstars.PageInfo.HasNextPage {
				break
			}
			vars["after"] = *r.Pornstars.PageInfo.EndCursor
		}
		if want := []string{"Alpha Star", "bravo", "Echo"}; !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	first := list(t, e, map[string]any{"first": 1})
	cursor := *first.Pornstars.PageInfo.EndCursor
	byName := []map[string]any{order("NAME", "ASC")}
	nameCursor := *list(t, e, map[string]any{"first": 1, "orderBy": byName}).Pornstars.PageInfo.EndCursor
	nulCursor := testkit.ForgeCursor(t, nameCursor, `{"s":SCOPE,"v":["a\u0000b"],"id":1}`)
	badUTF8Cursor := testkit.ForgeCursor(t, nameCursor, "{\"s\":SCOPE,\"v\":[\"\xff\"],\"id\":1}")
	hugeRankCursor := testkit.ForgeCursor(t, cursor, `{"s":SCOPE,"v":[1e400],"id":1}`)
	refusals := []struct {
		name  string
		vars  map[string]any
		field string
	}{
		{"first 0", map[string]any{"first": 0}, "first"},
		{"first 101", map[string]any{"first": 101}, "first"},
		{"negative first", map[string]any{"first": -1}, "first"},
		{"last 101", map[string]any{"last": 101}, "last"},
		{"first and last", map[string]any{"first": 1, "last": 1}, "last"},
		{"after and before", map[string]any{"after": cursor, "before": cursor}, "before"},
		{"last with after", map[string]any{"last": 1, "after": cursor}, "after"},
		{"first with before", map[string]any{"first": 1, "before": cursor}, "before"},
		{"a malformed cursor", map[string]any{"after": "not a cursor"}, "after"},
		{"a cursor of another order", map[string]any{"after": cursor, "orderBy": []map[string]any{order("NAME", "ASC")}}, "after"},
		{"a cursor of another filter", map[string]any{"before": cursor, "filter": map[string]any{"q": "a"}}, "before"},
		{"a forged cursor with a NUL in a name", map[string]any{"after": nulCursor, "orderBy": byName}, "after"},
		{"a forged cursor with a NUL in a name, backwards", map[string]any{"last": 1, "before": nulCursor, "orderBy": byName}, "before"},
		{"a forged cursor with invalid UTF-8", map[string]any{"after": badUTF8Cursor, "orderBy": byName}, "after"},
		{"a forged cursor with a rank beyond BIGINT", map[string]any{"after": hugeRankCursor}, "after"},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			got := e.mustFail(t, request{query: listQuery, variables: tc.vars}, graph.CodeBadUserInput)
			if got.Extensions["field"] != tc.field {
				t.Fatalf("field %v, want %s (%s)", got.Extensions["field"], tc.field, got.Message)
			}
		})
	}
}

func testLookups(t *testing.T, e *env, golfID int64) {
	alphaID := pornstarID(t, e, 1)
	const q = `query($id: ID!, $feedId: Int!) {
  pornstar(id: $id) { id databaseId feedId name }
  pornstarByFeedId(feedId: $feedId) { name }
  node(id: $id) { id ... on Pornstar { name } }
}`
	type lookup struct {
		Pornstar *struct {
			ID         string `json:"id"`
			DatabaseID int64  `json:"databaseId"`
			FeedID     *int64 `json:"feedId"`
			Name       string `json:"name"`
		} `json:"pornstar"`
		ByFeedID *struct{ Name string } `json:"pornstarByFeedId"`
		Node     *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"node"`
	}
	t.Run("found", func(t *testing.T) {
		got := decode[lookup](t, e.query(t, q, map[string]any{"id": alphaID, "feedId": 2}))
		if got.Pornstar == nil || got.Pornstar.Name != "Alpha Star" || got.Pornstar.ID != alphaID || *got.Pornstar.FeedID != 1 {
			t.Fatalf("pornstar: %+v", got.Pornstar)
		}
		if got.ByFeedID == nil || got.ByFeedID.Name != "bravo" {
			t.Fatalf("pornstarByFeedId: %+v", got.ByFeedID)
		}
		if got.Node == nil || got.Node.Name != "Alpha Star" || got.Node.ID != alphaID {
			t.Fatalf("node: %+v", got.Node)
		}
		if model.GlobalID(model.TypePornstar, got.Pornstar.DatabaseID) != alphaID {
			t.Fatal("the global id does not encode the database id")
		}
	})
	t.Run("an API record has no feed id", func(t *testing.T) {
		got := decode[lookup](t, e.query(t, q, map[string]any{"id": model.GlobalID(model.TypePornstar, golfID), "feedId": 1}))
		if got.Pornstar == nil || got.Pornstar.Name != "Golf" || got.Pornstar.FeedID != nil {
			t.Fatalf("pornstar: %+v", got.Pornstar)
		}
	})
	t.Run("a removed performer is found by id", func(t *testing.T) {
		got := decode[lookup](t, e.query(t, q, map[string]any{"id": alphaID, "feedId": 6}))
		if got.ByFeedID == nil || got.ByFeedID.Name != "Foxtrot" {
			t.Fatalf("pornstarByFeedId: %+v", got.ByFeedID)
		}
	})
	t.Run("not found is null", func(t *testing.T) {
		res := e.do(t, request{query: q, variables: map[string]any{"id": model.GlobalID(model.TypePornstar, 99999), "feedId": 99999}})
		if len(res.Errors) > 0 || string(res.Data) != `{"pornstar":null,"pornstarByFeedId":null,"node":null}` {
			t.Fatalf("got %s", res.Raw)
		}
	})
	t.Run("a node of an unknown type is null", func(t *testing.T) {
		res := e.do(t, request{query: `query($id: ID!) { node(id: $id) { id } }`, variables: map[string]any{"id": model.GlobalID("Spaceship", 1)}})
		if len(res.Errors) > 0 || string(res.Data) != `{"node":null}` {
			t.Fatalf("got %s", res.Raw)
		}
	})
	t.Run("refused: a malformed id", func(t *testing.T) {
		got := e.mustFail(t, request{query: `{ pornstar(id: "42") { name } }`}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "id" || got.Path[0] != "pornstar" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("refused: the id of another type", func(t *testing.T) {
		e.mustFail(t, request{query: `query($id: ID!) { pornstar(id: $id) { name } }`, variables: map[string]any{"id": model.GlobalID(model.TypeFeedRun, 1)}}, graph.CodeBadUserInput)
	})
}

// pornstarID returns the global id of the performer with this feed id.
func pornstarID(t testing.TB, e *env, feedID int) string {
	t.Helper()
	got := decode[struct {
		P struct{ ID string } `json:"pornstarByFeedId"`
	}](t, e.query(t, `query($f: Int!) { pornstarByFeedId(feedId: $f) { id } }`, map[string]any{"f": feedID}))
	return got.P.ID
}

func testPerformerFields(t *testing.T, e *env) {
	const q = `{ pornstarByFeedId(feedId: 1) {
  name license wlStatus link aliases hairColors ethnicities tattoos piercings breastSize breastType gender orientation age
  subscriptions monthlySearches views videosCount premiumVideosCount whiteLabelVideoCount rank rankPremium rankWl
  thumbnails { type width height url urlHash }
  version removedAt createdAt updatedAt
} charlie: pornstarByFeedId(feedId: 3) { aliases hairColors ethnicities wlStatus rank thumbnails { url } removedAt }
  foxtrot: pornstarByFeedId(feedId: 6) { removedAt } }`
	var got map[string]map[string]any
	if err := json.Unmarshal(e.query(t, q, nil), &got); err != nil {
		t.Fatal(err)
	}
	alpha := got["pornstarByFeedId"]
	want := map[string]any{
		"name": "Alpha Star", "license": "REGULAR", "wlStatus": true, "link": "https://www.pornhub.com/pornstar/alpha",
		"aliases": []any{"Ally", "A. Star"}, "hairColors": []any{"Blonde"}, "ethnicities": []any{"White"},
		"tattoos": true, "piercings": false, "breastSize": 34.0, "breastType": "C", "gender": "female",
		"orientation": "straight", "age": 25.0, "subscriptions": 10.0, "monthlySearches": 420000000.0, "views": 1000.0,
		"videosCount": 5.0, "premiumVideosCount": 1.0, "whiteLabelVideoCount": 2.0, "rank": 1.0, "rankPremium": 7.0,
		"rankWl": 3.0, "version": 1.0, "removedAt": nil,
	}
	for k, v := range want {
		if fmt.Sprint(alpha[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, alpha[k], v)
		}
	}
	thumbs := alpha["thumbnails"].([]any)
	if len(thumbs) != 3 {
		t.Fatalf("thumbnails: %v", thumbs)
	}
	for i, typ := range []string{"pc", "mobile", "tablet"} {
		th := thumbs[i].(map[string]any)
		if th["type"] != typ || th["url"] != urlAlpha || th["urlHash"] != hashAlpha || th["width"] != 234.0 || th["height"] != 344.0 {
			t.Errorf("thumbnail %d: %v", i, th)
		}
	}
	// Unknown stays unknown: null, never false, 0 or an empty list.
	charlie := got["charlie"]
	if fmt.Sprint(charlie) != fmt.Sprint(map[string]any{"aliases": []any{}, "hairColors": nil, "ethnicities": nil, "wlStatus": nil, "rank": nil, "thumbnails": []any{}, "removedAt": nil}) {
		t.Errorf("charlie: %v", charlie)
	}
	if got["foxtrot"]["removedAt"] == nil {
		t.Error("a removed performer has no removedAt")
	}
}

func testImages(t *testing.T, e *env) {
	const q = `query($h: String!) { image(urlHash: $h) { urlHash sourceUrl status url contentType contentSha256 bytes width height attempts error fetchedAt } }`
	type image struct {
		Image *struct {
			URLHash   string  `json:"urlHash"`
			SourceURL string  `json:"sourceUrl"`
			Status    string  `json:"status"`
			URL       *string `json:"url"`
			Bytes     *int64  `json:"bytes"`
			Attempts  int     `json:"attempts"`
			Error     *string `json:"error"`
			FetchedAt *string `json:"fetchedAt"`
		} `json:"image"`
	}
	t.Run("cached", func(t *testing.T) {
		got := decode[image](t, e.query(t, q, map[string]any{"h": hashAlpha})).Image
		if got == nil || got.Status != "CACHED" || *got.URL != "/images/"+hashAlpha || got.SourceURL != urlAlpha || *got.Bytes != 12345 || *got.FetchedAt != "2026-11-01T12:00:00Z" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("an upper-case hash is refused, as in REST", func(t *testing.T) {
		e.mustFail(t, request{query: q, variables: map[string]any{"h": strings.ToUpper(hashAlpha)}}, graph.CodeBadUserInput)
	})
	t.Run("failed", func(t *testing.T) {
		got := decode[image](t, e.query(t, q, map[string]any{"h": hashBravo})).Image
		if got == nil || got.Status != "FAILED" || got.URL != nil || *got.Error != "HTTP 404" || got.Attempts != 5 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("pending: a thumbnail names it", func(t *testing.T) {
		got := decode[image](t, e.query(t, q, map[string]any{"h": hashDelta})).Image
		if got == nil || got.Status != "PENDING" || got.URL != nil || got.SourceURL != urlDelta || got.Attempts != 0 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("unknown is null", func(t *testing.T) {
		if got := decode[image](t, e.query(t, q, map[string]any{"h": strings.Repeat("0", 64)})).Image; got != nil {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("refused: not a hash", func(t *testing.T) {
		e.mustFail(t, request{query: q, variables: map[string]any{"h": "../etc/passwd"}}, graph.CodeBadUserInput)
	})
	t.Run("nested in thumbnails", func(t *testing.T) {
		raw := e.query(t, `{ pornstars(filter: {feedId: [1, 2, 4]}) { nodes { name thumbnails { image { status url } } } } }`, nil)
		want := `{"pornstars":{"nodes":[` +
			`{"name":"Alpha Star","thumbnails":[` + strings.Repeat(`{"image":{"status":"CACHED","url":"/images/`+hashAlpha+`"}},`, 2) + `{"image":{"status":"CACHED","url":"/images/` + hashAlpha + `"}}]},` +
			`{"name":"bravo","thumbnails":[` + strings.Repeat(`{"image":{"status":"FAILED","url":null}},`, 2) + `{"image":{"status":"FAILED","url":null}}]},` +
			`{"name":"delta","thumbnails":[` + strings.Repeat(`{"image":{"status":"PENDING","url":null}},`, 2) + `{"image":{"status":"PENDING","url":null}}]}]}}`
		if string(raw) != want {
			t.Fatalf("got  %s\nwant %s", raw, want)
		}
	})
}

func testFeedRuns(t *testing.T, e *env) {
	const suppressedReason = "feed shrank by 30% (70 distinct valid ids, 100 published before; limit 20%)"
	ctx := context.Background()
	s := e.store
	var ids []int64
	for i := range 3 {
		run, err := s.QueueRun(ctx, db.RequestedBySchedule, i == 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimRun(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddRejects(ctx, run.ID, []db.FeedRunReject{{ItemIndex: 7, FeedID: ptr(int64(70)), Reason: "name: is required"}, {ItemIndex: 9, Reason: "id: missing"}}); err != nil {
			t.Fatal(err)
		}
		result := db.FeedRunResult{Source: ptr("file.json"), HTTPStatus: ptr(int32(200)), ItemsSeen: 100, ItemsValid: 98, ItemsRejected: 2, Bytes: 1 << 33}
		if i == 2 {
			result.RemovalsSuppressed, result.RemovalsSuppressedReason = true, ptr(suppressedReason)
		}
		if _, err := s.FinishRun(ctx, run.ID, db.RunCompleted, result); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID)
	}
	const q = `query($first: Int, $after: String) { feedRuns(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
  edges { cursor node { id databaseId status requestedBy force source httpStatus bytes itemsSeen itemsRejected version
    removalsSuppressed removalsSuppressedReason
    rejects(first: 1) { itemIndex feedId reason } } } } }`
	type runs struct {
		FeedRuns struct {
			TotalCount int `json:"totalCount"`
			PageInfo   struct {
				HasNextPage, HasPreviousPage bool
				EndCursor                    string
			} `json:"pageInfo"`
			Edges []struct {
				Cursor string
				Node   struct {
					ID         string `json:"id"`
					DatabaseID int64  `json:"databaseId"`
					Status     string `json:"status"`
					Force      bool   `json:"force"`
					Bytes      int64  `json:"bytes"`
					// Whether and why removals were withheld.
					RemovalsSuppressed       bool    `json:"removalsSuppressed"`
					RemovalsSuppressedReason *string `json:"removalsSuppressedReason"`
					Rejects                  []struct {
						ItemIndex int    `json:"itemIndex"`
						FeedID    *int   `json:"feedId"`
						Reason    string `json:"reason"`
					} `json:"rejects"`
				}
			} `json:"edges"`
		} `json:"feedRuns"`
	}
	page1 := decode[runs](t, e.query(t, q, map[string]any{"first": 2}))
	if page1.FeedRuns.TotalCount != 3 || len(page1.FeedRuns.Edges) != 2 || !page1.FeedRuns.PageInfo.HasNextPage || page1.FeedRuns.PageInfo.HasPreviousPage {
		t.Fatalf("page 1: %+v", page1.FeedRuns)
	}
	newest := page1.FeedRuns.Edges[0].Node
	if newest.DatabaseID != ids[2] || newest.Status != "COMPLETED" || newest.Bytes != 1<<33 || len(newest.Rejects) != 1 || newest.Rejects[0].ItemIndex != 7 || *newest.Rejects[0].FeedID != 70 {
		t.Fatalf("newest run: %+v", newest)
	}
	if !newest.RemovalsSuppressed || newest.RemovalsSuppressedReason == nil || *newest.RemovalsSuppressedReason != suppressedReason {
		t.Errorf("newest run: removalsSuppressed %v, reason %v; want true, %q", newest.RemovalsSuppressed, newest.RemovalsSuppressedReason, suppressedReason)
	}
	if second := page1.FeedRuns.Edges[1].Node; second.DatabaseID != ids[1] || !second.Force || second.RemovalsSuppressed || second.RemovalsSuppressedReason != nil {
		t.Fatalf("second run: %+v", second)
	}
	// Every edge's cursor continues after it.
	fromFirst := decode[runs](t, e.query(t, q, map[string]any{"first": 5, "after": page1.FeedRuns.Edges[0].Cursor}))
	if len(fromFirst.FeedRuns.Edges) != 2 || fromFirst.FeedRuns.Edges[0].Node.DatabaseID != ids[1] || fromFirst.FeedRuns.PageInfo.HasNextPage || !fromFirst.FeedRuns.PageInfo.HasPreviousPage {
		t.Fatalf("after the first edge: %+v", fromFirst.FeedRuns)
	}
	one := decode[struct {
		FeedRun *struct {
			Status  string `json:"status"`
			Rejects []struct {
				ItemIndex int `json:"itemIndex"`
			} `json:"rejects"`
		} `json:"feedRun"`
		Node *struct {
			DatabaseID int64 `json:"databaseId"`
		} `json:"node"`
	}](t, e.query(t, `query($id: ID!) { feedRun(id: $id) { status rejects { itemIndex } } node(id: $id) { ... on FeedRun { databaseId } } }`,
		map[string]any{"id": newest.ID}))
	if one.FeedRun == nil || len(one.FeedRun.Rejects) != 2 || one.Node == nil || one.Node.DatabaseID != ids[2] {
		t.Fatalf("feedRun: %+v", one)
	}
	missing := e.do(t, request{query: `query($id: ID!) { feedRun(id: $id) { status } }`, variables: map[string]any{"id": model.GlobalID(model.TypeFeedRun, 9999)}})
	if string(missing.Data) != `{"feedRun":null}` || len(missing.Errors) > 0 {
		t.Fatalf("missing run: %s", missing.Raw)
	}
	e.mustFail(t, request{query: q, variables: map[string]any{"first": 0}}, graph.CodeBadUserInput)
	for _, after := range []string{"garbage", testkit.ForgeCursor(t, page1.FeedRuns.Edges[0].Cursor, `{"s":SCOPE,"v":["a\u0000b"],"id":1}`)} {
		got := e.mustFail(t, request{query: q, variables: map[string]any{"after": after}}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "after" {
			t.Fatalf("after %q: field %v", after, got.Extensions["field"])
		}
	}
	tooMany := e.mustFail(t, request{query: `query($id: ID!) { feedRun(id: $id) { rejects(first: 1001) { reason } } }`, variables: map[string]any{"id": newest.ID}}, graph.CodeBadUserInput)
	if tooMany.Extensions["field"] != "first" {
		t.Fatalf("rejects(first: 1001): %+v", tooMany)
	}
}
