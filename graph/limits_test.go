package graph_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/graph"
	"marquee/internal/testkit"
)

// Limits need no data: they are checked before anything runs.
func limitsEnv(t testing.TB, opts graph.Options) *env {
	t.Helper()
	return newEnv(t, testkit.OpenStore(t, dbtestSQLite(t)), opts)
}

func dbtestSQLite(t testing.TB) string { return "sqlite://" + t.TempDir() + "/marquee.db" }

// fullPage asks for every field of a whole page of performers.
const fullPage = `pornstars(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node {
  id databaseId feedId name license wlStatus link aliases hairColors ethnicities tattoos piercings breastSize breastType
  gender orientation age subscriptions monthlySearches views videosCount premiumVideosCount whiteLabelVideoCount rank
  rankPremium rankWl version removedAt createdAt updatedAt
  thumbnails { type width height url urlHash image { urlHash sourceUrl status url contentType contentSha256 bytes width height attempts error fetchedAt } }
} } }`

func TestLimits(t *testing.T) {
	e := limitsEnv(t, graph.Options{Introspection: true})

	t.Run("a full page of every field passes", func(t *testing.T) {
		e.query(t, "{ "+fullPage+" }", nil)
	})
	t.Run("GraphiQL's introspection query passes", func(t *testing.T) {
		query, err := os.ReadFile("testdata/introspection.graphql")
		if err != nil {
			t.Fatal(err)
		}
		raw := e.query(t, string(query), nil)
		if !strings.Contains(string(raw), `"name":"PornstarConnection"`) {
			t.Fatalf("the schema lacks PornstarConnection: %.300s", raw)
		}
	})

	refusals := []struct {
		name   string
		query  string
		code   string
		status int
	}{
		{"deep: __Type.ofType nested 20 times",
			"{ __type(name: \"Pornstar\") { " + strings.Repeat("ofType { ", 20) + "name" + strings.Repeat(" }", 20) + " } }",
			graph.CodeValidationFailed, http.StatusUnprocessableEntity},
		{"deep through fragments",
			"query { __type(name: \"Pornstar\") { ...A } } fragment A on __Type { ofType { ...B } } fragment B on __Type { ofType { ...C } } " +
				"fragment C on __Type { ofType { ...D } } fragment D on __Type { ofType { ...E } } fragment E on __Type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }",
			graph.CodeValidationFailed, http.StatusUnprocessableEntity},
		{"wide: two full pages", "{ a: " + fullPage + " b: " + fullPage + " }", graph.CodeComplexityLimitExceeded, http.StatusUnprocessableEntity},
		{"wide: 200 aliased lookups", "{ " + aliases(200, "p%d: pornstarByFeedId(feedId: %d) { name }") + " }", graph.CodeComplexityLimitExceeded, http.StatusUnprocessableEntity},
		{"wide: a field repeated under many aliases", "{ pornstars(first: 100) { nodes { " + aliases(200, "n%d: name") + " } } }", graph.CodeComplexityLimitExceeded, http.StatusUnprocessableEntity},
		{"huge lists of rejects", "{ feedRuns(first: 100) { nodes { rejects(first: 1000) { reason } } } }", graph.CodeComplexityLimitExceeded, http.StatusUnprocessableEntity},
		{"token flood", "{ pornstars { nodes { " + strings.Repeat("name ", 6000) + "} } }", graph.CodeParseFailed, http.StatusUnprocessableEntity},
		{"not GraphQL", "{ pornstars(", graph.CodeParseFailed, http.StatusUnprocessableEntity},
		{"an unknown field, without suggestions", "{ pornstar(id: \"x\") { nmae } }", graph.CodeValidationFailed, http.StatusUnprocessableEntity},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			res := e.do(t, request{query: tc.query})
			if res.Status != tc.status || len(res.Errors) == 0 || res.Errors[0].code() != tc.code || res.Data != nil && string(res.Data) != "null" {
				t.Fatalf("got %d %.500s", res.Status, res.Raw)
			}
			if strings.Contains(res.Raw, "Did you mean") {
				t.Fatalf("a suggestion leaks the schema: %s", res.Raw)
			}
		})
	}

	t.Run("refused: a body over the cap", func(t *testing.T) {
		body := `{"query": "{ pornstars { totalCount } }", "variables": {"pad": "` + strings.Repeat("x", graph.DefaultMaxBodyBytes) + `"}}`
		for _, chunked := range []bool{false, true} {
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if chunked {
				req.ContentLength = -1
			}
			res := e.serve(t, req)
			if res.Status != http.StatusRequestEntityTooLarge || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeBadUserInput {
				t.Fatalf("chunked=%v: got %d %s", chunked, res.Status, res.Raw)
			}
		}
	})
	t.Run("refused: malformed requests", func(t *testing.T) {
		cases := []struct {
			name, method, contentType, body, target string
			status                                  int
			code                                    string
		}{
			{"not JSON", http.MethodPost, "application/json", `{"query": `, "/graphql", http.StatusBadRequest, graph.CodeParseFailed},
			{"not an object", http.MethodPost, "application/json", `["query"]`, "/graphql", http.StatusBadRequest, graph.CodeParseFailed},
			{"no query", http.MethodPost, "application/json", `{}`, "/graphql", http.StatusUnprocessableEntity, graph.CodeValidationFailed},
			{"a form post", http.MethodPost, "application/x-www-form-urlencoded", `query=%7B%7D`, "/graphql", http.StatusUnsupportedMediaType, graph.CodeBadUserInput},
			{"PUT", http.MethodPut, "application/json", `{}`, "/graphql", http.StatusMethodNotAllowed, graph.CodeBadUserInput},
			{"GET with bad variables", http.MethodGet, "", "", "/graphql?query=%7B__typename%7D&variables=%5B", http.StatusBadRequest, graph.CodeParseFailed},
		}
		for _, tc := range cases {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			res := e.serve(t, req)
			if res.Status != tc.status || len(res.Errors) != 1 || res.Errors[0].code() != tc.code {
				t.Errorf("%s: got %d %s", tc.name, res.Status, res.Raw)
			}
		}
	})
	t.Run("GET runs a query", func(t *testing.T) {
		res := e.do(t, request{method: http.MethodGet, query: `query($n: Int!) { pornstarByFeedId(feedId: $n) { name } }`, variables: map[string]any{"n": 1}})
		if res.Status != http.StatusOK || string(res.Data) != `{"pornstarByFeedId":null}` || res.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
}

func aliases(n int, format string) string {
	var b strings.Builder
	for i := range n {
		if strings.Count(format, "%d") == 2 {
			fmt.Fprintf(&b, format+" ", i, i+1)
		} else {
			fmt.Fprintf(&b, format+" ", i)
		}
	}
	return b.String()
}

func TestIntrospectionOff(t *testing.T) {
	e := limitsEnv(t, graph.Options{Introspection: false})
	for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "Pornstar") { name } }`} {
		res := e.do(t, request{query: q})
		if res.Status != http.StatusUnprocessableEntity || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeValidationFailed {
			t.Fatalf("%s: got %d %s", q, res.Status, res.Raw)
		}
	}
	if got := e.query(t, `{ __typename }`, nil); string(got) != `{"__typename":"Query"}` {
		t.Fatalf("__typename: %s", got)
	}
}

func TestAutomaticPersistedQueries(t *testing.T) {
	e := limitsEnv(t, graph.Options{})
	query := `{ pornstars { totalCount } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

	first := e.do(t, request{extensions: ext})
	if first.Status != http.StatusOK || len(first.Errors) != 1 || first.Errors[0].code() != graph.CodePersistedQueryNotFound {
		t.Fatalf("unknown hash: %d %s", first.Status, first.Raw)
	}
	if got := e.do(t, request{query: query, extensions: ext}); len(got.Errors) > 0 || string(got.Data) != `{"pornstars":{"totalCount":0}}` {
		t.Fatalf("hash with query: %s", got.Raw)
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		if got := e.do(t, request{method: method, extensions: ext}); len(got.Errors) > 0 || string(got.Data) != `{"pornstars":{"totalCount":0}}` {
			t.Fatalf("%s by hash alone: %s", method, got.Raw)
		}
	}
	bad := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}
	e.mustFail(t, request{query: query, extensions: bad}, graph.CodeBadUserInput)
}

func TestRateLimit(t *testing.T) {
	s := testkit.OpenStore(t, dbtestSQLite(t))
	e := newEnv(t, s, graph.Options{Limiter: auth.NewLimiter(2)})
	for i := range 2 {
		if res := e.do(t, request{query: `{ __typename }`}); res.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, res.Status, res.Raw)
		}
	}
	res := e.do(t, request{query: `{ __typename }`})
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeRateLimited {
		t.Fatalf("got %d %v %s", res.Status, res.Header, res.Raw)
	}
	// Another client (a token) has a budget of its own.
	if res := e.do(t, request{query: `{ __typename }`, token: readToken}); res.Status != http.StatusOK {
		t.Fatalf("another client: %d %s", res.Status, res.Raw)
	}
}

// TestInternalErrors: a database failure is logged with its cause and
// answered as INTERNAL, without any SQL or driver text.
func TestInternalErrors(t *testing.T) {
	d, err := db.Open(t.Context(), db.Options{URL: dbtestSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Migrate(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db.NewStore(d), graph.Options{})
	d.Close() // every query now fails inside the driver
	res := e.do(t, request{query: `{ pornstars(filter: {q: "x"}) { totalCount nodes { name } } }`})
	if res.Status != http.StatusOK || len(res.Errors) == 0 {
		t.Fatalf("got %d %s", res.Status, res.Raw)
	}
	for _, e := range res.Errors {
		if e.code() != graph.CodeInternal || e.Message != "internal server error" {
			t.Fatalf("error %+v", e)
		}
	}
	for _, leak := range []string{"SELECT", "sql", "closed", "pornstars AS"} {
		if strings.Contains(res.Raw, leak) {
			t.Fatalf("the response leaks %q: %s", leak, res.Raw)
		}
	}
	if logs := e.logs.String(); !strings.Contains(logs, "graphql: internal error") || !strings.Contains(logs, "database is closed") {
		t.Fatalf("the failure is not logged with its cause:\n%s", logs)
	}
}
