package graph_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/graph/model"
)

const createMutation = `mutation($input: CreatePornstarInput!) {
  createPornstar(input: $input) { id databaseId feedId name aliases hairColors age views version thumbnails { type urlHash image { status } } }
}`

const updateMutation = `mutation($id: ID!, $input: UpdatePornstarInput!, $ifVersion: Int) {
  updatePornstar(id: $id, input: $input, ifVersion: $ifVersion) {
    name license age views aliases hairColors ethnicities tattoos version thumbnails { type url }
  }
}`

type performer struct {
	ID         string   `json:"id"`
	DatabaseID int64    `json:"databaseId"`
	FeedID     *int64   `json:"feedId"`
	Name       string   `json:"name"`
	License    *string  `json:"license"`
	Aliases    []string `json:"aliases"`
	HairColors []string `json:"hairColors"`
	Ethnicity  []string `json:"ethnicities"`
	Tattoos    *bool    `json:"tattoos"`
	Age        *int     `json:"age"`
	Views      *int64   `json:"views"`
	Version    int      `json:"version"`
	Thumbnails []struct {
		Type    string `json:"type"`
		URL     string `json:"url"`
		URLHash string `json:"urlHash"`
		Image   struct {
			Status string `json:"status"`
		} `json:"image"`
	} `json:"thumbnails"`
}

func TestMutations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		e := newEnv(t, s, graph.Options{})
		t.Run("auth", func(t *testing.T) { testAuth(t, e) })
		t.Run("create", func(t *testing.T) { testCreate(t, e) })
		t.Run("partial update", func(t *testing.T) { testUpdate(t, e) })
		t.Run("delete", func(t *testing.T) { testDelete(t, e) })
		t.Run("start feed run", func(t *testing.T) { testStartFeedRun(t, e) })
	})
}

func testAuth(t *testing.T, e *env) {
	alpha := pornstarID(t, e, 1)
	mutations := map[string]request{
		"createPornstar": {query: createMutation, variables: map[string]any{"input": map[string]any{"name": "Nobody"}}},
		"updatePornstar": {query: updateMutation, variables: map[string]any{"id": alpha, "input": map[string]any{"name": "Hacked"}}},
		"deletePornstar": {query: `mutation($id: ID!) { deletePornstar(id: $id) }`, variables: map[string]any{"id": alpha}},
		"startFeedRun":   {query: `mutation { startFeedRun { id } }`},
	}
	for name, req := range mutations {
		t.Run(name+" without a token", func(t *testing.T) {
			res := e.do(t, req)
			if len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeUnauthenticated || res.Errors[0].Path[0] != name {
				t.Fatalf("got %s", res.Raw)
			}
			if res.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Fatalf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
		})
		t.Run(name+" with an unknown token", func(t *testing.T) {
			req := req
			req.token = "not-a-known-token-at-all"
			e.mustFail(t, req, graph.CodeUnauthenticated)
		})
		t.Run(name+" with a read-only token", func(t *testing.T) {
			req := req
			req.token = readToken
			e.mustFail(t, req, graph.CodeForbidden)
		})
	}
	t.Run("nothing was written", func(t *testing.T) {
		got := decode[struct{ P performer }](t, e.query(t, `query($id: ID!) { p: pornstar(id: $id) { name version } }`, map[string]any{"id": alpha}))
		if got.P.Name != "Alpha Star" || got.P.Version != 1 {
			t.Fatalf("got %+v", got.P)
		}
		if runs, err := e.store.ListRuns(context.Background(), 10, ""); err != nil || runs.Total != 0 {
			t.Fatalf("runs %+v, %v", runs, err)
		}
	})
	t.Run("reads need no token; a read-only token may read", func(t *testing.T) {
		e.query(t, `{ pornstars { totalCount } }`, nil)
		if res := e.do(t, request{query: `{ pornstars { totalCount } }`, token: readToken}); len(res.Errors) > 0 {
			t.Fatalf("got %s", res.Raw)
		}
	})
	t.Run("an unknown token is refused on reads too, as in REST", func(t *testing.T) {
		res := e.do(t, request{query: `{ pornstars { totalCount } }`, token: "not-a-known-token-at-all"})
		if res.Status != http.StatusUnauthorized || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeUnauthenticated ||
			!strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
	})
	t.Run("refused: a mutation over GET", func(t *testing.T) {
		res := e.do(t, request{method: http.MethodGet, query: `mutation { startFeedRun { id } }`, token: writeToken})
		if res.Status != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "POST" || len(res.Errors) != 1 || res.Errors[0].code() != graph.CodeBadUserInput {
			t.Fatalf("got %d %s", res.Status, res.Raw)
		}
		if runs, _ := e.store.ListRuns(context.Background(), 10, ""); runs.Total != 0 {
			t.Fatal("a GET queued a feed run")
		}
	})
}

func testCreate(t *testing.T, e *env) {
	input := map[string]any{
		"name": "Hotel", "aliases": []string{"H", "h", "", "Hotel California"}, "hairColors": []string{"Red"},
		"age": 33, "views": "9007199254740993",
		"thumbnails": []map[string]any{{"type": "pc", "width": 234, "height": 344, "url": urlAlpha}},
	}
	res := e.do(t, request{query: createMutation, variables: map[string]any{"input": input}, token: writeToken})
	if len(res.Errors) > 0 {
		t.Fatalf("create: %s", res.Raw)
	}
	got := decode[struct {
		P performer `json:"createPornstar"`
	}](t, res.Data).P
	if got.Name != "Hotel" || got.FeedID != nil || got.Version != 1 || *got.Age != 33 || *got.Views != 9007199254740993 ||
		strings.Join(got.Aliases, "|") != "H|Hotel California" || strings.Join(got.HairColors, "|") != "Red" {
		t.Fatalf("created %+v", got)
	}
	if len(got.Thumbnails) != 1 || got.Thumbnails[0].URLHash != hashAlpha || got.Thumbnails[0].Image.Status != "CACHED" {
		t.Fatalf("thumbnails %+v", got.Thumbnails)
	}
	if model.GlobalID(model.TypePornstar, got.DatabaseID) != got.ID {
		t.Fatal("id and databaseId disagree")
	}
	stored, err := e.store.Get(context.Background(), got.DatabaseID)
	if err != nil || stored.Name != "Hotel" || stored.ExternalID != nil {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	refusals := []struct {
		name  string
		input map[string]any
		code  string
		field string
	}{
		{"an empty name", map[string]any{"name": "  "}, graph.CodeBadUserInput, "input.name"},
		{"a long alias", map[string]any{"name": "X", "aliases": []string{"ok", strings.Repeat("a", 256)}}, graph.CodeBadUserInput, "input.aliases.1"},
		{"an empty hair colour", map[string]any{"name": "X", "hairColors": []string{"Red", " "}}, graph.CodeBadUserInput, "input.hairColors.1"},
		{"a thumbnail without URL", map[string]any{"name": "X", "thumbnails": []map[string]any{{"type": "pc", "url": ""}}}, graph.CodeBadUserInput, "input.thumbnails.0.url"},
		{"an age beyond 32 bits", map[string]any{"name": "X", "age": 1 << 40}, graph.CodeBadUserInput, "input.age"},
		{"a breast size beyond 32 bits", map[string]any{"name": "X", "breastSize": 1 << 40}, graph.CodeBadUserInput, "input.breastSize"},
		{"views that are not a number", map[string]any{"name": "X", "views": "lots"}, graph.CodeBadUserInput, ""},
		{"an unknown field", map[string]any{"name": "X", "feedId": 5}, graph.CodeValidationFailed, ""},
		{"no name", map[string]any{"age": 3}, graph.CodeValidationFailed, ""},
	}
	for _, tc := range refusals {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			got := e.mustFail(t, request{query: createMutation, variables: map[string]any{"input": tc.input}, token: writeToken}, tc.code)
			if tc.field != "" && got.Extensions["field"] != tc.field {
				t.Fatalf("field %v, want %s: %s", got.Extensions["field"], tc.field, got.Message)
			}
			if tc.field != "" && !strings.HasPrefix(got.Message, tc.field+" ") {
				t.Fatalf("message %q does not name %s", got.Message, tc.field)
			}
		})
	}
}

func testUpdate(t *testing.T, e *env) {
	id := pornstarID(t, e, 4) // delta: feed-managed, editable
	update := func(t *testing.T, input map[string]any, ifVersion any) performer {
		t.Helper()
		vars := map[string]any{"id": id, "input": input}
		if ifVersion != nil {
			vars["ifVersion"] = ifVersion
		}
		res := e.do(t, request{query: updateMutation, variables: vars, token: writeToken})
		if len(res.Errors) > 0 {
			t.Fatalf("update %v: %s", input, res.Raw)
		}
		return decode[struct {
			P performer `json:"updatePornstar"`
		}](t, res.Data).P
	}
	t.Run("an absent field stays", func(t *testing.T) {
		got := update(t, map[string]any{"age": 31}, nil)
		if *got.Age != 31 || got.Name != "delta" || *got.License != "REGULAR" || *got.Views != 1000 || strings.Join(got.Aliases, "|") != "Star Dust" ||
			strings.Join(got.Ethnicity, "|") != "Middle Eastern|White" || len(got.Thumbnails) != 3 || got.Version != 2 {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("null clears", func(t *testing.T) {
		got := update(t, map[string]any{"license": nil, "views": nil, "ethnicities": nil, "tattoos": nil, "aliases": nil, "thumbnails": nil}, nil)
		if got.License != nil || got.Views != nil || got.Ethnicity != nil || got.Tattoos != nil || len(got.Aliases) != 0 || len(got.Thumbnails) != 0 || got.Version != 3 {
			t.Fatalf("got %+v", got)
		}
		if *got.Age != 31 || got.Name != "delta" {
			t.Fatalf("untouched fields changed: %+v", got)
		}
	})
	t.Run("lists are replaced", func(t *testing.T) {
		got := update(t, map[string]any{"aliases": []string{"D", "Dee"}, "thumbnails": []map[string]any{{"type": "mobile", "url": urlDelta}}, "hairColors": []string{"Black"}}, 3)
		if strings.Join(got.Aliases, "|") != "D|Dee" || len(got.Thumbnails) != 1 || got.Thumbnails[0].URL != urlDelta || strings.Join(got.HairColors, "|") != "Black" || got.Version != 4 {
			t.Fatalf("got %+v", got)
		}
		// The filters see the new values.
		if names := list(t, e, map[string]any{"filter": map[string]any{"q": "dee", "hairColor": []string{"black"}}}).names(); len(names) != 1 || names[0] != "delta" {
			t.Fatalf("filters after the update: %v", names)
		}
	})
	t.Run("refused: a stale ifVersion", func(t *testing.T) {
		e.mustFail(t, request{query: updateMutation, variables: map[string]any{"id": id, "input": map[string]any{"age": 99}, "ifVersion": 1}, token: writeToken}, graph.CodeConflict)
		if got := update(t, map[string]any{}, nil); *got.Age != 31 {
			t.Fatalf("a refused update wrote: %+v", got)
		}
	})
	t.Run("refused: a null name", func(t *testing.T) {
		got := e.mustFail(t, request{query: updateMutation, variables: map[string]any{"id": id, "input": map[string]any{"name": nil}}, token: writeToken}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "input.name" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("refused: an invalid alias", func(t *testing.T) {
		got := e.mustFail(t, request{query: updateMutation, variables: map[string]any{"id": id, "input": map[string]any{"aliases": []string{"ok", "bad\x00"}}}, token: writeToken}, graph.CodeBadUserInput)
		if got.Extensions["field"] != "input.aliases.1" {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("refused: an unknown performer", func(t *testing.T) {
		e.mustFail(t, request{query: updateMutation, variables: map[string]any{"id": model.GlobalID(model.TypePornstar, 99999), "input": map[string]any{"age": 1}}, token: writeToken}, graph.CodeNotFound)
	})
}

func testDelete(t *testing.T, e *env) {
	const del = `mutation($id: ID!, $v: Int) { deletePornstar(id: $id, ifVersion: $v) }`
	t.Run("refused: a feed record", func(t *testing.T) {
		e.mustFail(t, request{query: del, variables: map[string]any{"id": pornstarID(t, e, 2)}, token: writeToken}, graph.CodeConflict)
	})
	res := e.do(t, request{query: createMutation, variables: map[string]any{"input": map[string]any{"name": "India", "aliases": []string{"I"}}}, token: writeToken})
	id := decode[struct {
		P performer `json:"createPornstar"`
	}](t, res.Data).P.ID
	t.Run("refused: a stale ifVersion", func(t *testing.T) {
		e.mustFail(t, request{query: del, variables: map[string]any{"id": id, "v": 7}, token: writeToken}, graph.CodeConflict)
	})
	t.Run("an API record", func(t *testing.T) {
		res := e.do(t, request{query: del, variables: map[string]any{"id": id, "v": 1}, token: writeToken})
		if string(res.Data) != fmt.Sprintf(`{"deletePornstar":%q}`, id) || len(res.Errors) > 0 {
			t.Fatalf("got %s", res.Raw)
		}
		if got := e.do(t, request{query: `query($id: ID!) { pornstar(id: $id) { name } }`, variables: map[string]any{"id": id}}); string(got.Data) != `{"pornstar":null}` {
			t.Fatalf("still there: %s", got.Raw)
		}
	})
	t.Run("refused: already deleted", func(t *testing.T) {
		e.mustFail(t, request{query: del, variables: map[string]any{"id": id}, token: writeToken}, graph.CodeNotFound)
	})
}

func testStartFeedRun(t *testing.T, e *env) {
	const start = `mutation($force: Boolean) { startFeedRun(force: $force) { id databaseId status requestedBy force } }`
	res := e.do(t, request{query: start, variables: map[string]any{"force": true}, token: writeToken})
	got := decode[struct {
		Run struct {
			ID          string `json:"id"`
			DatabaseID  int64  `json:"databaseId"`
			Status      string `json:"status"`
			RequestedBy string `json:"requestedBy"`
			Force       bool   `json:"force"`
		} `json:"startFeedRun"`
	}](t, res.Data).Run
	if len(res.Errors) > 0 || got.Status != "QUEUED" || got.RequestedBy != db.RequestedByAPI || !got.Force {
		t.Fatalf("got %s", res.Raw)
	}
	conflict := e.mustFail(t, request{query: start, token: writeToken}, graph.CodeConflict)
	if conflict.Extensions["activeRunId"] != got.ID || conflict.Extensions["activeRunDatabaseId"] != float64(got.DatabaseID) {
		t.Fatalf("the conflict does not name the active run: %+v", conflict)
	}
}
