package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/graph"
	"marquee/graph/generated"
	"marquee/graph/model"
	"marquee/internal/testkit"
)

// selectAll selects every field of the named type and, recursively, of the
// object types below it, with __typename: read from the schema, so a field
// added to it is covered here without a change.
func selectAll(t *testing.T, typeName string) string {
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	def := schema.Types[typeName]
	if def == nil {
		t.Fatalf("no type %s", typeName)
	}
	parts := []string{"__typename"}
	for _, f := range def.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		for _, arg := range f.Arguments {
			if arg.Type.NonNull && arg.DefaultValue == nil {
				t.Fatalf("%s.%s takes a required argument: select it by hand in directCases", typeName, f.Name)
			}
		}
		if schema.Types[f.Type.Name()].Kind == ast.Object {
			parts = append(parts, f.Name+" { "+selectAll(t, f.Type.Name())+" }")
		} else {
			parts = append(parts, f.Name)
		}
	}
	return strings.Join(parts, " ")
}

// directCases are queries whose answers the direct writer must write byte
// for byte as gqlgen's executor does: every field, fragments, aliases,
// merged selections, directives, empty pages, lookups and interfaces.
func directCases(t *testing.T, golf, tricky int64) []request {
	golfID, trickyID := model.GlobalID(model.TypePornstar, golf), model.GlobalID(model.TypePornstar, tricky)
	connectionFields, pornstarFields := selectAll(t, "PornstarConnection"), selectAll(t, "Pornstar")
	return []request{
		{query: `{ pornstars(first: 10, filter: {removed: ANY}) { ` + connectionFields + ` } }`},
		{query: `{ pornstars(first: 2, orderBy: [{field: NAME, direction: DESC}]) { ` + connectionFields + ` } }`},
		{query: `{ pornstars(last: 2, filter: {removed: ANY}) { ` + connectionFields + ` } }`},
		{query: `{ pornstars(filter: {q: "no such performer"}) { ` + connectionFields + ` } }`},
		{query: `query Page($after: String) { pornstars(first: 3, after: $after) {
			pageInfo { hasNextPage endCursor }
			edges { node { id name rank views subscriptions aliases thumbnails { type width height url image { status url } } } } } }`,
			variables: map[string]any{"after": nil}},
		// Aliases, the same field twice, merged selections.
		{query: `{ pornstars(first: 4) {
			a: edges { n1: node { x: name y: name thumbnails { url } thumbnails { type image { status } } } }
			b: edges { cursor node { name } }
			edges { node { thumbnails { i: image { u: url } image { status s: status } } } }
			count: totalCount totalCount } }`},
		// Fragments: named, inline, on the interface, nested, on the connection.
		{query: `query { pornstars(first: 5, filter: {removed: ANY}) { ...conn } }
			fragment conn on PornstarConnection { pageInfo { ...info } edges { ... on PornstarEdge { node { ...star ... on Node { id } } } } }
			fragment info on PageInfo { startCursor ... { endCursor } }
			fragment star on Pornstar { name ... on Pornstar { rank aliases } thumbnails { ...thumb } }
			fragment thumb on Thumbnail { url image { ... on Image { status bytes } } }`},
		// @skip and @include, with variables.
		{query: `query($yes: Boolean!, $no: Boolean!) { pornstars(first: 3) {
			totalCount @include(if: $no)
			edges @include(if: $yes) { node { name @skip(if: $yes) rank @skip(if: $no) aliases @include(if: $yes)
				thumbnails @skip(if: $no) { url ... on Thumbnail @include(if: $no) { type } ... @include(if: $yes) { width } } } } } }`,
			variables: map[string]any{"yes": true, "no": false}},
		// Lookups and the Node interface.
		{query: `{ pornstar(id: "` + golfID + `") { ` + pornstarFields + ` } }`},
		{query: `{ pornstar(id: "` + trickyID + `") { ` + pornstarFields + ` } }`},
		{query: `{ pornstarByFeedId(feedId: 1) { ` + pornstarFields + ` } }`},
		{query: `{ pornstarByFeedId(feedId: 6) { name removedAt } missing: pornstarByFeedId(feedId: 999) { name } }`},
		{query: `{ node(id: "` + golfID + `") { __typename id ... on Pornstar { name aliases thumbnails { url } } } }`},
		// The same root field twice: gqlgen merges the selections.
		{query: `{ pornstars(first: 2) { totalCount edges { cursor } } pornstars(first: 2) { edges { node { name } } pageInfo { hasNextPage } } }`},
		{query: `{ a: node(id: "` + trickyID + `") { id } b: pornstar(id: "` + trickyID + `") { id name } c: pornstars(first: 1) { totalCount } }`},
		// Image variants: literal arguments and variables.
		{query: `{ pornstars(first: 10, filter: {removed: ANY}) { edges { node { thumbnails { image {
			url small: url(width: 64) webp: url(width: 128, format: WEBP) srcset avif: srcset(format: AVIF) placeholder } } } } } }`},
		{query: `query($w: Int, $f: ImageFormat) { pornstars(first: 10) { edges { node { thumbnails { image {
			url(width: $w, format: $f) srcset(format: $f) } } } } } }`,
			variables: map[string]any{"w": 256, "f": "JPEG"}},
	}
}

// TestDirectMatchesExecutor: for every case, the direct writer answers, and
// its answer is byte for byte the answer of gqlgen's executor alone, on
// both backends, over the fixture (images cached, failed and pending; a
// removed performer; an API performer with every optional field null) and
// a performer whose strings need every kind of JSON escape.
func TestDirectMatchesExecutor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		golf := loadFixture(t, s)
		tricky, err := s.Create(context.Background(), db.PornstarInput{
			PornstarFields: db.PornstarFields{
				Name:  "Quote\" back\\slash\ttab\nline\rreturn \x01\x1f\x7f é 漢字 😀 </script>",
				Link:  ptr("https://example.test/a?b=c&d=<e>"),
				Views: ptr(int64(9007199254740993)), Rank: ptr(int64(9223372036854775807)),
			},
			Aliases: []string{"\u2028line separator", "\"quoted\""},
		})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		widths := []int{64, 128, 256, 512, 1024}
		direct := newEnv(t, s, graph.Options{Registerer: reg, ImageWidths: widths})
		executor := newEnv(t, s, graph.ExecutorOnly(graph.Options{ImageWidths: widths}))
		for _, req := range directCases(t, golf, tricky.ID) {
			want := executor.do(t, req)
			got := direct.do(t, req)
			if len(want.Errors) > 0 || want.Status != http.StatusOK {
				t.Fatalf("the executor failed (%d): %s\nquery: %s", want.Status, want.Raw, req.query)
			}
			if got.Raw != want.Raw {
				t.Errorf("query: %s\n%s", req.query, firstDifference(got.Raw, want.Raw))
			}
		}
		// Every case has at least one field the writer answers.
		answered, left := directFields(t, reg)
		if left != 0 || answered < len(directCases(t, 0, 0)) {
			t.Errorf("the direct writer answered %d fields and left %d to the executor", answered, left)
		}
	})
}

// directFields reads marquee_graphql_direct_fields_total.
func directFields(t *testing.T, reg *prometheus.Registry) (answered, leftToExecutor int) {
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "marquee_graphql_direct_fields_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			switch m.GetLabel()[0].GetValue() {
			case "direct":
				answered = int(m.GetCounter().GetValue())
			case "executor":
				leftToExecutor = int(m.GetCounter().GetValue())
			}
		}
	}
	return answered, leftToExecutor
}

// TestDirectLeavesDeferToExecutor: a selection under @defer is gqlgen's to
// answer.
func TestDirectLeavesDeferToExecutor(t *testing.T) {
	s := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	loadFixture(t, s)
	reg := prometheus.NewRegistry()
	direct := newEnv(t, s, graph.Options{Registerer: reg})
	executor := newEnv(t, s, graph.ExecutorOnly(graph.Options{}))
	query := request{query: `{ pornstars(first: 2) { edges { node { name ... @defer { aliases } } } } }`}
	if got, want := direct.do(t, query), executor.do(t, query); got.Raw != want.Raw || len(want.Errors) > 0 {
		t.Errorf("direct:   %s\nexecutor: %s", got.Raw, want.Raw)
	}
	// The page, then each of its 2 nodes as gqlgen's executor reaches it.
	if answered, left := directFields(t, reg); answered != 0 || left != 3 {
		t.Errorf("the direct writer answered %d fields and left %d to the executor, want 0 and 3", answered, left)
	}
}

// TestDirectLeavesFailuresToExecutor: when a relation fails to load, the
// direct writer gives the field back to gqlgen, which reports the error at
// its path and nulls what the schema says it must: the same answer as
// without the direct writer.
func TestDirectLeavesFailuresToExecutor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		if _, err := s.DB().W.ExecContext(context.Background(), "DROP TABLE aliases"); err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewRegistry()
		direct := newEnv(t, s, graph.Options{Registerer: reg})
		executor := newEnv(t, s, graph.ExecutorOnly(graph.Options{}))
		for _, query := range []string{
			`{ pornstars(first: 3) { totalCount edges { cursor node { name aliases thumbnails { url } } } } }`,
			`{ pornstarByFeedId(feedId: 1) { name aliases } other: pornstarByFeedId(feedId: 2) { name } }`,
		} {
			want := executor.do(t, request{query: query})
			got := direct.do(t, request{query: query})
			if len(want.Errors) == 0 {
				t.Fatalf("the executor did not fail: %s", want.Raw)
			}
			// gqlgen reports the errors of concurrent fields in any order.
			if !bytes.Equal(got.Data, want.Data) || !slices.Equal(errorKeys(t, got), errorKeys(t, want)) {
				t.Errorf("query: %s\ndirect:   %s\nexecutor: %s", query, got.Raw, want.Raw)
			}
		}
		// Left to gqlgen: the page, then each of its 3 nodes as gqlgen's
		// executor reaches it, and the first lookup. The second lookup, which
		// does not ask for aliases, is answered directly.
		if answered, left := directFields(t, reg); answered != 1 || left != 5 {
			t.Errorf("the direct writer answered %d fields and left %d to the executor, want 1 and 5", answered, left)
		}
	})
}

// firstDifference shows where the direct answer departs from the executor's.
func firstDifference(direct, executor string) string {
	i := 0
	for i < len(direct) && i < len(executor) && direct[i] == executor[i] {
		i++
	}
	from := max(0, i-60)
	return fmt.Sprintf("at byte %d:\ndirect:   …%.120s\nexecutor: …%.120s", i, direct[from:], executor[from:])
}

// errorKeys are a response's errors as sorted JSON.
func errorKeys(t *testing.T, res response) []string {
	keys := make([]string, len(res.Errors))
	for i, e := range res.Errors {
		keys[i] = mustJSON(t, e)
	}
	slices.Sort(keys)
	return keys
}

// TestDirectAllocations: the direct writer is in effect, and it is the
// point of it. A page of 20 performers with their thumbnails and images
// must cost the direct writer, which leaves gqlgen only the root field, at
// most half the allocations of gqlgen's executor (most of what is left is
// reading the rows; the README's "Speed layer" has the counts).
func TestDirectAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the head fixture")
	}
	// Not parallel: AllocsPerRun counts the whole process's allocations.
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { testDirectAllocations(t, testkit.OpenStore(t, b.URL(t))) })
	}
}

func testDirectAllocations(t *testing.T, s *db.Store) {
	{
		loadHead(t, s)
		const query = `{ pornstars(first: 20) { edges { node { id name rank aliases thumbnails { type url image { status url } } } } } }`
		allocs := func(opts graph.Options) float64 {
			h := newEnv(t, s, opts).handler
			body := `{"query":` + mustJSON(t, query) + `}`
			return testing.AllocsPerRun(20, func() {
				r := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
					t.Fatalf("%d: %s", rec.Code, rec.Body)
				}
			})
		}
		direct, executor := allocs(graph.Options{}), allocs(graph.ExecutorOnly(graph.Options{}))
		t.Logf("allocations per page of 20: direct %.0f, executor %.0f", direct, executor)
		if direct > executor/2 {
			t.Errorf("the direct writer allocates %.0f times per page, gqlgen's executor %.0f: is it in effect?", direct, executor)
		}
	}
}
