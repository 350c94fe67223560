package graph_test

import (
	"context"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/graph/model"
)

// TestTakenDown checks what GraphQL clients see of a performer and an image
// taken down: every lookup is null with the code TAKEN_DOWN, lists and
// facets leave the performer out.
func TestTakenDown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		ctx := context.Background()
		alpha, err := s.GetByFeedID(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.TakeDown(ctx, db.TakedownInput{FeedID: ptr(int64(1)), Reason: "DMCA", TakenBy: "cli"}); err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, s, graph.Options{})
		lookups := []struct {
			name, query string
			variables   map[string]any
		}{
			{"pornstar", `query($id: ID!) { pornstar(id: $id) { name } }`, map[string]any{"id": model.GlobalID(model.TypePornstar, alpha.ID)}},
			{"node", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": model.GlobalID(model.TypePornstar, alpha.ID)}},
			{"pornstarByFeedId", `{ pornstarByFeedId(feedId: 1) { name } }`, nil},
			{"pornstarBySlug", `query($slug: String!) { pornstarBySlug(slug: $slug) { name } }`, map[string]any{"slug": alpha.Slug}},
			{"image", `query($h: String!) { image(urlHash: $h) { status } }`, map[string]any{"h": hashAlpha}},
		}
		for _, tt := range lookups {
			t.Run(tt.name, func(t *testing.T) {
				res := e.do(t, request{query: tt.query, variables: tt.variables})
				if len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeTakenDown || !strings.Contains(string(res.Data), "null") {
					t.Errorf("%s: %s", tt.name, res.Raw)
				}
			})
		}
		data := e.query(t, `{ pornstars(filter: {q: "Alpha"}) { totalCount } all: pornstars { totalCount } pornstarFacets(facets: [GENDER]) { totalCount } }`, nil)
		got := decode[struct {
			Pornstars struct{ TotalCount int }
			All       struct{ TotalCount int }
			Facets    struct{ TotalCount int } `json:"pornstarFacets"`
		}](t, data)
		if got.Pornstars.TotalCount != 0 || got.All.TotalCount != 5 || got.Facets.TotalCount != 5 {
			t.Errorf("lists: %+v, want Alpha gone (5 performers left)", got)
		}
	})
}
