package graph_test

// Shared helpers of the graph tests: a store on a fresh database per
// backend, the handler behind the auth middleware, a GraphQL client, and
// the fixture every query test reads.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/graph"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const (
	writeToken = "write-token-0123456789"
	readToken  = "read-token-0123456789"
)

// forEachBackend runs fn on SQLite and on MySQL, in parallel subtests, each
// with a fresh migrated database.
func forEachBackend(t *testing.T, fn func(t *testing.T, s *db.Store)) {
	t.Helper()
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, testkit.OpenStore(t, b.URL(t)))
		})
	}
}

// env is a GraphQL endpoint under test.
type env struct {
	store   *db.Store
	handler http.Handler
	logs    *testkit.SyncBuffer
}

func newEnv(t testing.TB, s *db.Store, opts graph.Options) *env {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	opts.Store = s
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tokens := &auth.Tokens{}
	tokens.Add(writeToken, auth.RoleWrite)
	tokens.Add(readToken, auth.RoleRead)
	return &env{store: s, handler: tokens.Middleware(graph.NewHandler(opts)), logs: logs}
}

// response is a decoded GraphQL response with its HTTP status and headers.
type response struct {
	Status int
	Header http.Header
	Raw    string
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// request describes one request; the zero value is an anonymous POST.
type request struct {
	query      string
	variables  map[string]any
	extensions map[string]any
	token      string
	method     string // default POST
}

func (e *env) do(t testing.TB, req request) response {
	t.Helper()
	var hr *http.Request
	if req.method == http.MethodGet {
		q := url.Values{"query": {req.query}}
		if req.variables != nil {
			q.Set("variables", mustJSON(t, req.variables))
		}
		if req.extensions != nil {
			q.Set("extensions", mustJSON(t, req.extensions))
		}
		hr = httptest.NewRequest(http.MethodGet, "/graphql?"+q.Encode(), nil)
	} else {
		body := map[string]any{"query": req.query}
		if req.variables != nil {
			body["variables"] = req.variables
		}
		if req.extensions != nil {
			body["extensions"] = req.extensions
		}
		hr = httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(mustJSON(t, body)))
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	return e.serve(t, hr)
}

func (e *env) serve(t testing.TB, hr *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, hr)
	res := response{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("response is not JSON (%d): %v\n%s", rec.Code, err, rec.Body.String())
	}
	return res
}

// query runs a read and fails the test on any error.
func (e *env) query(t testing.TB, query string, variables map[string]any) json.RawMessage {
	t.Helper()
	res := e.do(t, request{query: query, variables: variables})
	if len(res.Errors) > 0 || res.Status != http.StatusOK {
		t.Fatalf("query failed (%d): %s\nquery: %s", res.Status, res.Raw, query)
	}
	return res.Data
}

// mustFail runs a request and returns its only error, failing the test
// unless there is exactly one with the given code.
func (e *env) mustFail(t testing.TB, req request, code string) gqlError {
	t.Helper()
	res := e.do(t, req)
	if len(res.Errors) != 1 {
		t.Fatalf("want one %s error, got (%d): %s", code, res.Status, res.Raw)
	}
	if got := res.Errors[0].code(); got != code {
		t.Fatalf("want code %s, got %s: %s", code, got, res.Raw)
	}
	return res.Errors[0]
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decode[T any](t testing.TB, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// Fixture: hand-made performers whose every filter and order has a known
// answer. Feed ids are the names' positions in the NATO alphabet.
var (
	urlAlpha  = "https://ei.phncdn.com/pics/pornstars/000/000/001/(m=a)thumb_1.jpg"
	urlBravo  = "https://ei.phncdn.com/pics/pornstars/000/000/002/(m=b)thumb_2.jpg"
	urlDelta  = "https://ei.phncdn.com/pics/pornstars/000/000/004/(m=d)thumb_4.jpg"
	hashAlpha = db.URLHash(urlAlpha)
	// fixturePlaceholder is the BlurHash of the cached fixture image.
	fixturePlaceholder = "TEHV6nWB2yk8pyo0adR*.7kCMdnj"
	hashBravo          = db.URLHash(urlBravo)
	hashDelta          = db.URLHash(urlDelta)
	fixedEpoch         = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
)

func ptr[T any](v T) *T { return &v }

func thumbs(url string) []db.ProfileThumbnail {
	w, h := int32(234), int32(344)
	var out []db.ProfileThumbnail
	for _, typ := range []string{"pc", "mobile", "tablet"} {
		out = append(out, db.ProfileThumbnail{Type: typ, Width: &w, Height: &h, URL: url})
	}
	return out
}

// fixtureProfiles: Alpha..Foxtrot. Foxtrot is removed after loading.
func fixtureProfiles() []db.Profile {
	return []db.Profile{
		{FeedID: 1, PornstarFields: db.PornstarFields{
			Name: "Alpha Star", License: ptr("REGULAR"), WLStatus: ptr(true), Link: ptr("https://www.pornhub.com/pornstar/alpha"),
			HairColors: db.StringList{"Blonde"}, Ethnicities: db.StringList{"White"}, Tattoos: ptr(true), Piercings: ptr(false),
			BreastSize: ptr(int32(34)), BreastType: ptr("C"), Gender: ptr("female"), Orientation: ptr("straight"), Age: ptr(int32(25)),
			Subscriptions: ptr(int64(10)), MonthlySearches: ptr(int64(420000000)), Views: ptr(int64(1000)),
			VideosCount: ptr(int64(5)), PremiumVideosCount: ptr(int64(1)), WhiteLabelVideoCount: ptr(int64(2)),
			Rank: ptr(int64(1)), RankPremium: ptr(int64(7)), RankWL: ptr(int64(3)),
		}, Aliases: []string{"Ally", "A. Star"}, Thumbnails: thumbs(urlAlpha)},
		{FeedID: 2, PornstarFields: db.PornstarFields{
			Name: "bravo", License: ptr("PREMIUM"), WLStatus: ptr(false), HairColors: db.StringList{"Brunette", "Blonde"},
			Ethnicities: db.StringList{"Latina"}, Tattoos: ptr(false), Piercings: ptr(true), Gender: ptr("female"),
			Orientation: ptr("straight"), Views: ptr(int64(5000)), Rank: ptr(int64(2)), Subscriptions: ptr(int64(30)),
		}, Aliases: []string{"Zulu Queen"}, Thumbnails: thumbs(urlBravo)},
		{FeedID: 3, PornstarFields: db.PornstarFields{
			Name: "Charlie", License: ptr("REGULAR"), Tattoos: ptr(false), Piercings: ptr(false), Gender: ptr("male"),
			Orientation: ptr("gay"), Age: ptr(int32(40)), Subscriptions: ptr(int64(20)),
		}},
		{FeedID: 4, PornstarFields: db.PornstarFields{
			Name: "delta", License: ptr("REGULAR"), WLStatus: ptr(true), Ethnicities: db.StringList{"Middle Eastern", "White"},
			Tattoos: ptr(true), Piercings: ptr(true), BreastSize: ptr(int32(40)), Gender: ptr("couple"), Orientation: ptr("straight"),
			Age: ptr(int32(30)), Views: ptr(int64(1000)), Rank: ptr(int64(3)), Subscriptions: ptr(int64(10)),
		}, Aliases: []string{"Star Dust"}, Thumbnails: thumbs(urlDelta)},
		{FeedID: 5, PornstarFields: db.PornstarFields{
			Name: "Echo", License: ptr("PREMIUM"), Gender: ptr("female"), Orientation: ptr("straight"), Rank: ptr(int64(4)),
			Views: ptr(int64(10)), Age: ptr(int32(60)),
		}},
		{FeedID: 6, PornstarFields: db.PornstarFields{
			Name: "Foxtrot", Gender: ptr("female"), Rank: ptr(int64(5)),
		}},
	}
}

// loadFixture writes the fixture: the profiles, Foxtrot removed, Alpha's
// image cached, Bravo's failed, Delta's pending, and one performer made
// through the API ("Golf", no feed id). It returns Golf's database id.
func loadFixture(t testing.TB, s *db.Store) int64 {
	t.Helper()
	ctx := context.Background()
	if _, err := s.UpsertProfiles(ctx, fixtureProfiles()); err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if _, err := s.MarkRemoved(ctx, []int64{6}); err != nil {
		t.Fatal(err)
	}
	fetched := fixedEpoch
	err := s.UpsertImages(ctx, []db.ImageState{
		{URLHash: hashAlpha, URL: urlAlpha, Status: db.ImageCached, ContentSHA256: ptr(strings.Repeat("ab", 32)),
			ContentType: ptr("image/jpeg"), Bytes: ptr(int64(12345)), Width: ptr(int32(234)), Height: ptr(int32(344)),
			Attempts: 1, FetchedAt: &fetched, Placeholder: ptr(fixturePlaceholder)},
		{URLHash: hashBravo, URL: urlBravo, Status: db.ImageFailed, Attempts: 5, Error: ptr("HTTP 404"), FetchedAt: &fetched},
	})
	if err != nil {
		t.Fatal(err)
	}
	golf, err := s.Create(ctx, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Golf", Gender: ptr("male")}, Aliases: []string{"G"}})
	if err != nil {
		t.Fatal(err)
	}
	return golf.ID
}

// loadHead writes the head fixture (internal/samples) and returns its
// profiles in feed order.
func loadHead(t testing.TB, s *db.Store) []db.Profile {
	t.Helper()
	profiles := ingesttest.ReadFeed(t, samples.Head.Path(t))
	if _, err := s.UpsertProfiles(context.Background(), profiles); err != nil {
		t.Fatal(err)
	}
	return profiles
}
