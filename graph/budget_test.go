package graph_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"marquee/graph"
)

// The work that measuring, validating and pricing one document may cost:
// a fixed multiple of its length, above a floor for short documents (the
// budget every document has, whatever its length: budget.go).
const (
	workPerByte = 4
	workFloor   = 4000
)

func workBound(document string) int64 { return int64(workPerByte*len(document) + workFloor) }

// fanOut is a document of levels fragments, each spreading the next one
// twice: levels+2 lines of text that expand to 2^levels leaves.
func fanOut(levels int, leaf string) string {
	var b strings.Builder
	b.WriteString("query { ...F0 }\n")
	for i := range levels {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Query { %s }\n", levels, leaf)
	return b.String()
}

// fragmentChain is n fragments, each spreading the next: validation walks
// every fragment with all those it reaches, n²/2 in all.
func fragmentChain(n int) string {
	var b strings.Builder
	b.WriteString("query { ...C0 }\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment C%d on Query { ...C%d }\n", i, i+1)
	}
	fmt.Fprintf(&b, "fragment C%d on Query { __typename }\n", n)
	return b.String()
}

// spreadsAtOnePlace spreads n fragments side by side, each selecting the
// same field: the field-merging rule compares every pair of them.
func spreadsAtOnePlace(n int) string {
	var b strings.Builder
	b.WriteString("{ ")
	for i := range n {
		fmt.Fprintf(&b, "...S%d ", i)
	}
	b.WriteString("}\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment S%d on Query { __typename }\n", i)
	}
	return b.String()
}

// operationsSharingAFragment is n operations that spread one large
// fragment: validation walks the fragment once for each.
func operationsSharingAFragment(n, fields int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "query Q%d { ...Big }\n", i)
	}
	b.WriteString("fragment Big on Query { " + strings.Repeat("__typename ", fields) + "}\n")
	return b.String()
}

// argumentsThroughFragments spreads one fragment with a large argument
// from n fragments: validation visits the argument's values from each.
func argumentsThroughFragments(n, values int) string {
	var b strings.Builder
	b.WriteString("query { ...A0 }\n")
	for i := range n {
		fmt.Fprintf(&b, "fragment A%d on Query { ...A%d ...V }\n", i, i+1)
	}
	fmt.Fprintf(&b, "fragment A%d on Query { __typename }\n", n)
	hair := make([]string, values)
	for i := range hair {
		hair[i] = fmt.Sprintf("%q", fmt.Sprint("c", i))
	}
	b.WriteString("fragment V on Query { pornstars(filter: {hairColor: [" + strings.Join(hair, ",") + "]}) { totalCount } }\n")
	return b.String()
}

const listLeaf = "pornstars(first: 100) { nodes { name aliases thumbnails { url } } }"

func TestDocumentBudget(t *testing.T) {
	introspection, err := os.ReadFile("testdata/introspection.graphql")
	if err != nil {
		t.Fatal(err)
	}
	var relay strings.Builder // a page of components, each with its own fragment
	relay.WriteString("{ pornstars(first: 20) { nodes { id ")
	for i := range 20 {
		fmt.Fprintf(&relay, "...Card%d ", i)
	}
	relay.WriteString("} } }\n")
	for i := range 20 {
		fmt.Fprintf(&relay, "fragment Card%d on Pornstar { id name ...Thumb }\n", i)
	}
	relay.WriteString("fragment Thumb on Pornstar { thumbnails { url image { status } } }\n")

	for _, mode := range []struct {
		name string
		opts graph.Options
	}{
		{"run (introspection on)", graph.Options{Introspection: true}},
		{"api (introspection off)", graph.Options{}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			var work atomic.Int64
			e := limitsEnv(t, graph.CountingWork(mode.opts, &work))

			refused := []struct{ name, query string }{
				{"fan-out, 30 levels, __typename leaf", fanOut(30, "__typename")},
				{"fan-out, 30 levels, list leaf", fanOut(30, listLeaf)},
				{"fan-out, 11 levels", fanOut(11, "__typename")},
				{"a chain of 500 fragments", fragmentChain(500)},
				{"400 fragments spread at one place", spreadsAtOnePlace(400)},
				{"one alias 1,600 times", "{ " + strings.Repeat("a: __typename ", 1600) + "}"},
				{"one list field under one alias 400 times", "{ " + strings.Repeat("a: pornstars { nodes { name } } ", 400) + "}"},
				{"300 operations sharing a fragment", operationsSharingAFragment(300, 1500)},
				{"an argument of 100 values reached from 300 fragments", argumentsThroughFragments(300, 100)},
			}
			for _, tc := range refused {
				t.Run("refused: "+tc.name, func(t *testing.T) {
					work.Store(0)
					res := e.do(t, request{query: tc.query})
					if res.Status != http.StatusUnprocessableEntity || len(res.Errors) != 1 ||
						res.Errors[0].code() != graph.CodeComplexityLimitExceeded {
						t.Fatalf("got %d %.400s, want 422 %s", res.Status, res.Raw, graph.CodeComplexityLimitExceeded)
					}
					if got, bound := work.Load(), workBound(tc.query); got > bound {
						t.Errorf("refusing a document of %d bytes visited %d nodes, more than %d", len(tc.query), got, bound)
					}
				})
			}

			allowed := []struct{ name, query string }{
				{"a full page of every field", "{ " + fullPage + " }"},
				{"a page of 20 components' fragments", relay.String()},
				{"fan-out, 6 levels", fanOut(6, "__typename")},
				{"a chain of 40 fragments", fragmentChain(40)},
			}
			if mode.opts.Introspection {
				allowed = append(allowed, struct{ name, query string }{"GraphiQL's introspection query", string(introspection)})
			}
			for _, tc := range allowed {
				t.Run("allowed: "+tc.name, func(t *testing.T) {
					work.Store(0)
					e.query(t, tc.query, nil)
					if got, bound := work.Load(), workBound(tc.query); got > bound {
						t.Errorf("a document of %d bytes visited %d nodes, more than %d", len(tc.query), got, bound)
					}
				})
			}
		})
	}
}

// A persisted query is measured like one sent in full: the budget runs
// after the persisted-query extension has put its text in place.
func TestDocumentBudgetPersistedQuery(t *testing.T) {
	e := limitsEnv(t, graph.Options{})
	query := fanOut(30, "__typename")
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	res := e.do(t, request{query: query, extensions: ext})
	if res.Status != http.StatusUnprocessableEntity || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeComplexityLimitExceeded {
		t.Fatalf("registering the fan-out: got %d %.300s", res.Status, res.Raw)
	}
	// The persisted-query cache kept its text: sent by hash alone, it is
	// measured again, and refused again, before validation.
	res = e.do(t, request{extensions: ext})
	if res.Status != http.StatusUnprocessableEntity || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeComplexityLimitExceeded ||
		!strings.Contains(res.Errors[0].Message, "fragments spread out") {
		t.Fatalf("the fan-out by its hash: got %d %.300s, want the budget's refusal", res.Status, res.Raw)
	}
}

// docGen turns fuzz input into a GraphQL document of this schema: fragments
// on Query and Pornstar that spread one another (cycles included),
// aliases, inline fragments, directives, variables and arguments. Every
// byte read adds a bounded piece, so the document grows with the input.
type docGen struct {
	data []byte
	pos  int
	b    strings.Builder
	// fragments of each type: Q0.. on Query, P0.. on Pornstar.
	queryFragments, pornstarFragments int
	// links is how often each Query fragment spreads the next one.
	links int
}

func (g *docGen) next(n int) int {
	if g.pos >= len(g.data) || n <= 1 {
		return 0
	}
	v := int(g.data[g.pos]) % n
	g.pos++
	return v
}

func (g *docGen) document() string {
	// Up to 511 fragments of each type, so that a short input can reach
	// the lengths where a pass's cost shows its shape.
	g.queryFragments, g.pornstarFragments = g.next(256)+256*g.next(2), g.next(8)
	g.links = g.next(3)
	g.b.WriteString("query Main($on: Boolean = true, $n: Int = 2) ")
	g.selectionSet("Query", 0)
	for i := range g.next(3) {
		fmt.Fprintf(&g.b, "\nquery Other%d ", i)
		g.selectionSet("Query", 0)
	}
	for i := range g.queryFragments {
		fmt.Fprintf(&g.b, "\nfragment Q%d on Query ", i)
		links := ""
		if i+1 < g.queryFragments { // each spreads the next: a chain, or a fan-out
			links = strings.Repeat(fmt.Sprintf("...Q%d ", i+1), g.links)
		}
		g.selectionSetWith("Query", 1, links)
	}
	for i := range g.pornstarFragments {
		fmt.Fprintf(&g.b, "\nfragment P%d on Pornstar ", i)
		g.selectionSet("Pornstar", 1)
	}
	return g.b.String()
}

func (g *docGen) selectionSet(typ string, depth int) { g.selectionSetWith(typ, depth, "") }

func (g *docGen) selectionSetWith(typ string, depth int, first string) {
	g.b.WriteString("{ " + first)
	for range 1 + g.next(6) {
		g.selection(typ, depth)
		g.b.WriteByte(' ')
	}
	g.b.WriteString("}")
}

func (g *docGen) selection(typ string, depth int) {
	leaves := map[string][]string{
		"Query":    {"__typename"},
		"Pornstar": {"name", "age", "aliases", "__typename", "rank", "feedId"},
	}[typ]
	fragments, prefix := g.queryFragments, "Q"
	if typ == "Pornstar" {
		fragments, prefix = g.pornstarFragments, "P"
	}
	choice := g.next(9)
	if depth > 5 && choice >= 5 {
		choice = 0
	}
	switch choice {
	case 0:
		g.b.WriteString(leaves[g.next(len(leaves))])
	case 1:
		fmt.Fprintf(&g.b, "a%d: %s", g.next(4), leaves[g.next(len(leaves))])
	case 2:
		dir := []string{"@include(if: $on)", "@skip(if: false)", "@include(if: true)"}[g.next(3)]
		fmt.Fprintf(&g.b, "%s %s", leaves[g.next(len(leaves))], dir)
	case 3, 4:
		if fragments == 0 {
			g.b.WriteString(leaves[0])
			return
		}
		name := fmt.Sprintf("...%s%d", prefix, g.next(fragments))
		g.b.WriteString(name)
		if choice == 4 { // the same spread twice: a fan-out
			g.b.WriteString(" " + name)
		}
	case 5:
		fmt.Fprintf(&g.b, "... on %s ", typ)
		g.selectionSet(typ, depth+1)
	case 6, 7:
		if typ == "Query" {
			args := []string{"first: $n", "first: 3", `filter: {hairColor: ["blonde", "red"]}`, `orderBy: [{field: NAME, direction: DESC}]`}[g.next(4)]
			fmt.Fprintf(&g.b, "p%d: pornstars(%s) { totalCount nodes ", g.next(3), args)
			g.selectionSet("Pornstar", depth+1)
			g.b.WriteString(" }")
		} else {
			g.b.WriteString("thumbnails { url width image { status } }")
		}
	case 8:
		if typ == "Query" {
			fmt.Fprintf(&g.b, "pornstarByFeedId(feedId: %d) ", g.next(100))
			g.selectionSet("Pornstar", depth+1)
		} else {
			g.b.WriteString("id version")
		}
	}
}

// FuzzDocumentWork fails when measuring, validating and pricing a
// generated document visits more nodes than a fixed multiple of its
// length, or when any document is answered with a server error.
func FuzzDocumentWork(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 4, 4, 4, 4, 4, 4, 4})
	f.Add([]byte{7, 7, 5, 4, 0, 4, 1, 4, 2, 4, 3, 4, 4, 4, 5, 4, 6, 4, 7, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte("a page of performers with fragments and aliases, spread again and again"))
	f.Add([]byte{1, 1, 2, 6, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 8, 8, 8, 8, 8, 8})
	f.Add([]byte{255, 1, 0, 1})   // a chain of 511 fragments
	f.Add([]byte{200, 0, 0, 2})   // a fan-out of 200 levels
	f.Add([]byte{40, 0, 3, 2, 9}) // a fan-out of 40 levels, with other operations
	fan := make([]byte, 200)
	for i := range fan {
		fan[i] = byte(4 + 9*(i%7))
	}
	f.Add(fan)

	var work atomic.Int64
	e := limitsEnv(f, graph.CountingWork(graph.Options{Introspection: true}, &work))
	f.Fuzz(func(t *testing.T, data []byte) {
		gen := docGen{data: data}
		query := gen.document()
		work.Store(0)
		res := e.do(t, request{query: query})
		if res.Status >= 500 {
			t.Fatalf("%d for\n%s\n%.300s", res.Status, query, res.Raw)
		}
		if got, bound := work.Load(), workBound(query); got > bound {
			t.Fatalf("a document of %d bytes visited %d nodes, more than %d:\n%s", len(query), got, bound, query)
		}
	})
}
