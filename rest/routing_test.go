package rest

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"marquee/auth"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/internal/testkit"
)

// TestRouting checks unknown routes (404) and methods (405 with Allow), as
// problem documents.
func TestRouting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		for _, path := range []string{"/api/v1", "/api/v1/", "/api/v1/nope", "/api/v1/pornstars/", "/api/v1/pornstars/1/bogus",
			"/api/v1/images/", "/api/v1/feed-runs/1/rejects", "/elsewhere"} {
			api.get(path).wantProblem(t, http.StatusNotFound, "not-found")
		}
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodPut, "/api/v1/pornstars", "GET, HEAD, POST"},
			{http.MethodDelete, "/api/v1/pornstars", "GET, HEAD, POST"},
			{http.MethodPost, "/api/v1/pornstars/1", "DELETE, GET, HEAD, PATCH, PUT"},
			{http.MethodOptions, "/api/v1/pornstars/1", "DELETE, GET, HEAD, PATCH, PUT"},
			{http.MethodPost, "/api/v1/pornstars/1/aliases", "GET, HEAD"},
			{http.MethodPatch, "/api/v1/pornstars/1/thumbnails", "GET, HEAD"},
			{http.MethodDelete, "/api/v1/images/" + strings.Repeat("a", 64), "GET, HEAD"},
			{http.MethodDelete, "/api/v1/feed-runs", "GET, HEAD, POST"},
			{http.MethodPut, "/api/v1/feed-runs/1", "GET, HEAD"},
			{http.MethodPost, "/api/v1/openapi.json", "GET, HEAD"},
			{"BREW", "/api/v1/pornstars", "GET, HEAD, POST"},
		} {
			r := api.do(req{method: tc.method, path: tc.path, token: "write"})
			r.wantProblem(t, http.StatusMethodNotAllowed, "method-not-allowed")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
			}
		}
		r := api.do(req{method: http.MethodHead, path: "/api/v1/pornstars"}).wantStatus(t, http.StatusOK)
		if len(r.body) != 0 || r.header.Get("Content-Type") != JSONContentType {
			t.Errorf("HEAD: body %q, Content-Type %q", r.body, r.header.Get("Content-Type"))
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no X-Content-Type-Options")
		}
	})
}

// operationRequests are requests for every operation of the API that pass
// routing, authentication and validation (when the store works).
func operationRequests(id int64, slug string, runID int64, urlHash string) []req {
	p := fmt.Sprintf("/api/v1/pornstars/%d", id)
	return []req{
		{method: http.MethodGet, path: "/api/v1/pornstars/by-slug/" + slug},
		{method: http.MethodGet, path: "/api/v1/pornstars"},
		{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name": "X"}`},
		{method: http.MethodGet, path: "/api/v1/pornstars/export"},
		{method: http.MethodGet, path: "/api/v1/pornstars/facets?facet=gender,age"},
		{method: http.MethodGet, path: p},
		{method: http.MethodPut, path: p, body: `{"name": "X"}`},
		{method: http.MethodPatch, path: p, body: `{"age": 30}`},
		{method: http.MethodDelete, path: p},
		{method: http.MethodGet, path: p + "/aliases"},
		{method: http.MethodGet, path: p + "/thumbnails"},
		{method: http.MethodGet, path: "/api/v1/images/" + urlHash},
		{method: http.MethodGet, path: "/api/v1/feed-runs"},
		{method: http.MethodPost, path: "/api/v1/feed-runs"},
		{method: http.MethodGet, path: fmt.Sprintf("/api/v1/feed-runs/%d", runID)},
		{method: http.MethodGet, path: fmt.Sprintf("/api/v1/feed-runs/%d/warnings", runID)},
		{method: http.MethodGet, path: "/api/v1/takedowns"},
		{method: http.MethodPost, path: "/api/v1/takedowns", body: `{"feed_id": 987654, "reason": "test"}`},
		{method: http.MethodDelete, path: "/api/v1/takedowns/1"},
		{method: http.MethodGet, path: "/api/v1/openapi.json"},
	}
}

// TestAuthentication checks that an unknown token is refused on every
// operation (reads included), and that reads need no token.
func TestAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		p := api.create(`{"name": "Auth"}`)
		for _, rq := range operationRequests(p.ID, p.Slug, 1, strings.Repeat("a", 64)) {
			rq.token = "bad"
			r := api.do(rq)
			r.wantProblem(t, http.StatusUnauthorized, "unauthenticated")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s %s: WWW-Authenticate %q", rq.method, rq.path, r.header.Get("WWW-Authenticate"))
			}
			for _, malformed := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Token " + testWriteToken} {
				rq.token = ""
				rq.headers = map[string]string{"Authorization": malformed}
				api.do(rq).wantProblem(t, http.StatusUnauthorized, "unauthenticated")
			}
		}
		api.do(req{method: http.MethodGet, path: "/api/v1/pornstars", token: "read"}).wantStatus(t, http.StatusOK)
		api.do(req{method: http.MethodGet, path: fmt.Sprintf("/api/v1/pornstars/%d", p.ID), token: "write"}).wantStatus(t, http.StatusOK)
	})
}

// TestRateLimit checks 429 with Retry-After on every operation, per caller.
func TestRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		p := api.create(`{"name": "Limited"}`)
		for i, rq := range operationRequests(p.ID, p.Slug, 1, strings.Repeat("a", 64)) {
			// One request per second, and a fresh budget per operation.
			limited := newTestAPI(t, api.store, apiOptions{limiter: auth.NewLimiter(1)})
			rq.token = "write"
			rq.remote = "198.51.100.1:1000"
			first := limited.do(rq)
			if first.status == http.StatusTooManyRequests {
				t.Fatalf("%s %s: the first request was limited", rq.method, rq.path)
			}
			// The token, not the address, is the caller: it spent its budget
			// on the first request, whatever the address.
			rq.remote = "203.0.113.9:1"
			r := limited.do(rq)
			r.wantProblem(t, http.StatusTooManyRequests, "rate-limited")
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
			}
			// Another caller is not affected.
			anonymous := rq
			anonymous.token = ""
			anonymous.method, anonymous.path, anonymous.body = http.MethodGet, "/api/v1/openapi.json", ""
			anonymous.remote = fmt.Sprintf("198.51.100.%d:2000", 100+i)
			limited.do(anonymous).wantStatus(t, http.StatusOK)
		}
	})
}

// TestInternalErrors checks that a failing database is a logged 500 on
// every operation that reads or writes it, with nothing of the failure in
// the answer.
func TestInternalErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		p := api.create(`{"name": "Doomed"}`)
		run, err := api.store.QueueRun(t.Context(), db.RequestedByCLI, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := api.store.DB().Close(); err != nil {
			t.Fatal(err)
		}
		for _, rq := range operationRequests(p.ID, p.Slug, run.ID, profiles[0].Thumbnails[0].URLHash) {
			if rq.path == "/api/v1/openapi.json" {
				continue // needs no database
			}
			rq.token = "write"
			r := api.do(rq)
			problem := r.wantProblem(t, http.StatusInternalServerError, "internal")
			if strings.Contains(strings.ToLower(problem.Detail), "closed") || strings.Contains(string(r.body), "database") {
				t.Errorf("%s %s: 500 tells too much: %s", rq.method, rq.path, r.body)
			}
		}
		if logs := api.logs.String(); !strings.Contains(logs, "rest: request failed") || !strings.Contains(logs, "closed") {
			t.Errorf("the failures were not logged with their cause:\n%s", logs)
		}
	})
}

// TestPanicIsProblem checks that a handler panic is a logged 500 problem.
func TestPanicIsProblem(t *testing.T) {
	logs := &testkit.SyncBuffer{}
	a := &api{log: slog.New(slog.NewTextHandler(logs, nil))}
	h := a.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/pornstars", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != ProblemContentType ||
		strings.Contains(rec.Body.String(), "boom") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic: %d %s; log %s", rec.Code, rec.Body, logs)
	}
}

// TestNewRequiresStore checks the constructor's one requirement.
func TestNewRequiresStore(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without a store did not panic")
		}
	}()
	New(Options{})
}

// TestDefaults checks the options' defaults: the body cap and no limit.
func TestDefaults(t *testing.T) {
	store := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	h := New(Options{Store: store, Takedowns: &imaging.Takedowns{Store: store}})
	tokens, _ := auth.ParseTokens(testWriteToken)
	h = tokens.Middleware(h)
	body := `{"name": "` + strings.Repeat("a", 200) + `", "aliases": ["` + strings.Repeat("b", DefaultMaxBodyBytes) + `"]}`
	rq := httptest.NewRequest(http.MethodPost, "/api/v1/pornstars", strings.NewReader(body))
	rq.Header.Set("Content-Type", "application/json")
	rq.Header.Set("Authorization", "Bearer "+testWriteToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, rq)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d", rec.Code)
	}
	for i := 0; i < 100; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/feed-runs", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
}
