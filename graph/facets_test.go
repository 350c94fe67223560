package graph_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/graph/model"
)

// TestFacetEnumMatchesTable: PornstarFacet has a value for each facet of
// db.FacetFields, the name upper-cased, and no other.
func TestFacetEnumMatchesTable(t *testing.T) {
	var names []string
	for _, v := range model.AllPornstarFacet {
		names = append(names, strings.ToLower(string(v)))
	}
	if !slices.Equal(names, db.FacetNames) {
		t.Errorf("PornstarFacet is %v, db.FacetNames %v", names, db.FacetNames)
	}
}

const facetsQuery = `query($filter: PornstarFilter, $facets: [PornstarFacet!]!) {
  pornstarFacets(filter: $filter, facets: $facets) {
    totalCount
    values { facet values { value count } }
    histograms { facet min max unknownCount buckets { min max count } }
  }
}`

// TestPornstarFacets counts the fixture, whose answers are known: each
// facet leaves out the filter field of its name; totalCount applies them
// all.
func TestPornstarFacets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		e := newEnv(t, s, graph.Options{})
		data := e.query(t, facetsQuery, map[string]any{
			"filter": map[string]any{"gender": []string{"female"}, "hairColor": []string{"Blonde"}},
			"facets": []string{"HAIR_COLOR", "GENDER", "TATTOOS", "AGE"},
		})
		want := `{"pornstarFacets":{"totalCount":2,` +
			`"values":[` +
			`{"facet":"HAIR_COLOR","values":[{"value":"blonde","count":2},{"value":"brunette","count":1},{"value":null,"count":1}]},` +
			`{"facet":"GENDER","values":[{"value":"female","count":2}]},` +
			`{"facet":"TATTOOS","values":[{"value":"false","count":1},{"value":"true","count":1}]}],` +
			`"histograms":[{"facet":"AGE","min":25,"max":25,"unknownCount":1,"buckets":[` +
			`{"min":0,"max":17,"count":0},{"min":18,"max":20,"count":0},{"min":21,"max":24,"count":0},{"min":25,"max":29,"count":1},` +
			`{"min":30,"max":34,"count":0},{"min":35,"max":39,"count":0},{"min":40,"max":44,"count":0},{"min":45,"max":49,"count":0},` +
			`{"min":50,"max":59,"count":0},{"min":60,"max":null,"count":0}]}]}}`
		if got := compact(t, data); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}

		for _, tc := range []struct {
			name      string
			variables map[string]any
			code      string
			field     string
		}{
			{"no facet", map[string]any{"facets": []string{}}, "BAD_USER_INPUT", "facets"},
			{"repeated facet", map[string]any{"facets": []string{"AGE", "AGE"}}, "BAD_USER_INPUT", "facets.1"},
			{"unknown facet", map[string]any{"facets": []string{"SHOE_SIZE"}}, "GRAPHQL_VALIDATION_FAILED", ""},
			{"bad filter", map[string]any{"facets": []string{"AGE"}, "filter": map[string]any{"hairColor": []string{strings.Repeat("x", 200)}}},
				"BAD_USER_INPUT", "filter.hairColor.0"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.mustFail(t, request{query: facetsQuery, variables: tc.variables}, tc.code)
				if field, _ := err.Extensions["field"].(string); field != tc.field {
					t.Errorf("field %q, want %q", field, tc.field)
				}
			})
		}
	})
}

// compact is raw without spaces, its members in the order of the query.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
