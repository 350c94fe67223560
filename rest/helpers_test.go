package rest

// Shared test set-up: a REST handler over a fresh store per backend, the
// request helper every test uses (it validates each exchange against the
// OpenAPI document, see contract_test.go), and real-format fixtures.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"marquee/internal/compression"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/variant"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
	"marquee/server"
)

const (
	testWriteToken = "rest-write-token-0123456789"
	testReadToken  = "rest-read-token-0123456789"
	// testMaxBody is the body cap of the test API: small, so 413 is cheap.
	testMaxBody = 64 << 10
)

// testAPI is the REST handler over one test database, with the image
// bytes beside it, mounted as the server mounts them.
type testAPI struct {
	t       testing.TB
	store   *db.Store
	files   *imaging.FileStore
	handler http.Handler
	logs    *testkit.SyncBuffer
}

// apiOptions adjust newTestAPI.
type apiOptions struct {
	limiter *auth.Limiter
	maxBody int64
	// publicURL and imagesURL are Options.PublicURL and ImagesURL.
	publicURL, imagesURL string
	// renderBudget is the variant cache's Budget (default testRenderBudget).
	renderBudget time.Duration
	// files is the image store (default a new one).
	files *imaging.FileStore
}

// testCORS is the CORS policy in front of every test API, as mountAPI puts
// it there: a page of testOrigin may call it.
var testCORS, _ = server.ParseCORSOrigins(testOrigin)

const testOrigin = "https://www.example.test"

// testPlaceholder is the placeholder of every image setImage caches.
var testPlaceholder = "TEHV6nWB2yk8pyo0adR*.7kCMdnj"

// testWidths are the widths of image variants of every test API: the
// default of MARQUEE_IMAGES_WIDTHS.
var testWidths = []int{64, 128, 256, 512, 1024}

// forEachBackend runs fn on SQLite and on MySQL, each in a parallel subtest
// with a fresh migrated database.
func forEachBackend(t *testing.T, fn func(t *testing.T, api *testAPI)) {
	t.Helper()
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, newTestAPI(t, testkit.OpenStore(t, b.URL(t)), apiOptions{}))
		})
	}
}

func newTestAPI(t testing.TB, store *db.Store, o apiOptions) *testAPI {
	t.Helper()
	tokens, err := auth.ParseTokens(testWriteToken + "," + testReadToken + ":read")
	if err != nil {
		t.Fatal(err)
	}
	if o.maxBody == 0 {
		o.maxBody = testMaxBody
	}
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	files := o.files
	if files == nil {
		var err error
		if files, err = imaging.OpenFileStore(filepath.Join(t.TempDir(), "images")); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Options{
		Store:        store,
		Takedowns:    &imaging.Takedowns{Store: store, Files: files, Logger: logger},
		Logger:       logger,
		Limiter:      o.limiter,
		MaxBodyBytes: o.maxBody,
		PublicURL:    o.publicURL,
		ImagesURL:    o.imagesURL,
		ImageWidths:  testWidths,
	})
	variants, err := variant.NewCache(variant.Config{Index: store, Blobs: imaging.VariantObjects{Store: files},
		Originals: func(c string) (io.ReadCloser, error) {
			return imaging.Contents{Store: files}.Open(context.Background(), c)
		}, MaxPixels: 50_000_000, Budget: cmp.Or(o.renderBudget, testRenderBudget), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	images, err := NewFilesHandler(FilesOptions{Store: store, Content: imaging.Contents{Store: files}, Variants: variants, Widths: testWidths, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	// Every other path goes to the API, which answers unknown ones itself.
	mux := http.NewServeMux()
	mux.Handle("/", testCORS.Wrap(compression.Middleware(tokens.Middleware(h))))
	mux.Handle(FilesPattern, testCORS.Wrap(images))
	mux.Handle(FilesPreflightPattern, testCORS.Wrap(images))
	return &testAPI{t: t, store: store, files: files, handler: mux, logs: logs}
}

// req is one request of a test.
type req struct {
	method string
	path   string
	body   string
	// token is "write", "read", "bad" or "" (none).
	token   string
	ctype   string // Content-Type; defaults to application/json when body is set
	headers map[string]string
	// chunked sends the body without a Content-Length.
	chunked bool
	remote  string // RemoteAddr (default 192.0.2.1:1234)
}

// resp is what the handler answered.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends rq to the API and checks the exchange against the OpenAPI
// document and the problem-document rules.
func (api *testAPI) do(rq req) *resp {
	api.t.Helper()
	httpReq := buildRequest(rq)
	rec := httptest.NewRecorder()
	api.handler.ServeHTTP(rec, httpReq)
	out := &resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	checkExchange(api.t, rq, out)
	return out
}

func buildRequest(rq req) *http.Request {
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	r.RemoteAddr = "192.0.2.1:1234"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	if rq.chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(strings.NewReader(rq.body))
	}
	if rq.body != "" && rq.ctype == "" {
		r.Header.Set("Content-Type", "application/json")
	} else if rq.ctype != "" && rq.ctype != "-" {
		r.Header.Set("Content-Type", rq.ctype)
	}
	switch rq.token {
	case "write":
		r.Header.Set("Authorization", "Bearer "+testWriteToken)
	case "read":
		r.Header.Set("Authorization", "Bearer "+testReadToken)
	case "bad":
		r.Header.Set("Authorization", "Bearer not-a-known-token-000000")
	}
	for k, v := range rq.headers {
		r.Header.Set(k, v)
	}
	return r
}

// get is a GET without a token.
func (api *testAPI) get(path string) *resp {
	api.t.Helper()
	return api.do(req{method: http.MethodGet, path: path})
}

// wantStatus fails the test unless r has status want.
func (r *resp) wantStatus(t testing.TB, want int) *resp {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body: %s", r.status, want, r.body)
	}
	return r
}

// problemOf decodes a problem document.
func (r *resp) problem(t testing.TB) problemDoc {
	t.Helper()
	var p problemDoc
	r.json(t, &p)
	return p
}

// problemDoc is a problem document as a client decodes it.
type problemDoc struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Status      int    `json:"status"`
	Detail      string `json:"detail"`
	Instance    string `json:"instance"`
	ActiveRunID *int64 `json:"active_run_id"`
	ActiveRun   string `json:"active_run"`
	Errors      []struct {
		Pointer   *string `json:"pointer"`
		Parameter string  `json:"parameter"`
		Detail    string  `json:"detail"`
	} `json:"errors"`
}

// wantProblem checks status and problem type (its slug), and returns it.
func (r *resp) wantProblem(t testing.TB, status int, slug string) problemDoc {
	t.Helper()
	r.wantStatus(t, status)
	p := r.problem(t)
	if p.Type != problemTypePrefix+slug {
		t.Fatalf("problem type %q, want %q; body: %s", p.Type, problemTypePrefix+slug, r.body)
	}
	return p
}

// wantParameter checks a 400 naming parameter.
func (r *resp) wantParameter(t testing.TB, parameter string) {
	t.Helper()
	p := r.wantProblem(t, http.StatusBadRequest, "invalid-parameter")
	for _, e := range p.Errors {
		if e.Parameter == parameter {
			return
		}
	}
	t.Fatalf("400 does not name parameter %q: %s", parameter, r.body)
}

// wantPointer checks a 422 naming the member at pointer.
func (r *resp) wantPointer(t testing.TB, pointer string) {
	t.Helper()
	p := r.wantProblem(t, http.StatusUnprocessableEntity, "validation-failed")
	for _, e := range p.Errors {
		if e.Pointer != nil && *e.Pointer == pointer {
			return
		}
	}
	t.Fatalf("422 does not name pointer %q: %s", pointer, r.body)
}

// pornstarDoc is a performer as a client decodes it.
type pornstarDoc struct {
	ID          int64    `json:"id"`
	FeedID      *int64   `json:"feed_id"`
	Slug        string   `json:"slug"`
	Name        string   `json:"name"`
	Link        *string  `json:"link"`
	License     *string  `json:"license"`
	WLStatus    *bool    `json:"wl_status"`
	HairColors  []string `json:"hair_colors"`
	Ethnicities []string `json:"ethnicities"`
	Gender      *string  `json:"gender"`
	Age         *int32   `json:"age"`
	BreastSize  *int32   `json:"breast_size"`
	Views       *int64   `json:"views"`
	Rank        *int64   `json:"rank"`
	RankPremium *int64   `json:"rank_premium"`
	Monthly     *int64   `json:"monthly_searches"`
	VideosCount *int64   `json:"videos_count"`
	Aliases     []string `json:"aliases"`
	Thumbnails  []struct {
		Type    string `json:"type"`
		Width   *int32 `json:"width"`
		Height  *int32 `json:"height"`
		URL     string `json:"url"`
		URLHash string `json:"url_hash"`
		Image   struct {
			Status      string  `json:"status"`
			URL         *string `json:"url"`
			Srcset      *string `json:"srcset"`
			Placeholder *string `json:"placeholder"`
		} `json:"image"`
	} `json:"thumbnails"`
	Version   int64      `json:"version"`
	RemovedAt *time.Time `json:"removed_at"`
	DeletedAt *time.Time `json:"deleted_at"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

type pornstarPageDoc struct {
	Data       []pornstarDoc `json:"data"`
	NextCursor *string       `json:"next_cursor"`
	Total      int64         `json:"total"`
}

// seedHead writes the head fixture into the store and returns its
// profiles in feed order.
func (api *testAPI) seedHead() []db.Profile {
	api.t.Helper()
	profiles := ingesttest.ReadFeed(api.t, samples.Head.Path(api.t))
	if _, err := api.store.UpsertProfiles(context.Background(), profiles); err != nil {
		api.t.Fatalf("upsert: %v", err)
	}
	return profiles
}

// cacheImage records a cached outcome for url.
func (api *testAPI) setImage(url, status string) {
	api.t.Helper()
	now := time.Now().UTC()
	st := db.ImageState{URLHash: db.URLHash(url), URL: url, Status: status, Attempts: 1, FetchedAt: &now}
	if status == db.ImageCached {
		ct, size, w, h := "image/jpeg", int64(12345), int32(234), int32(344)
		sum := strings.Repeat("ab", 32)
		st.ContentType, st.Bytes, st.Width, st.Height, st.ContentSHA256 = &ct, &size, &w, &h, &sum
		st.Placeholder = &testPlaceholder
	} else {
		msg := "HTTP 404"
		st.Error = &msg
	}
	if err := api.store.UpsertImages(context.Background(), []db.ImageState{st}); err != nil {
		api.t.Fatalf("upsert image: %v", err)
	}
}

// cacheImageBytes stores body as the cached bytes of url, of type
// contentType, and returns the URL hash.
func (api *testAPI) cacheImageBytes(url, contentType string, body []byte) string {
	api.t.Helper()
	sum := sha256.Sum256(body)
	contentSHA256 := hex.EncodeToString(sum[:])
	path, err := api.files.Path(contentSHA256)
	if err != nil {
		api.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		api.t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		api.t.Fatal(err)
	}
	now, size := time.Now().UTC(), int64(len(body))
	st := db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached, Attempts: 1, FetchedAt: &now,
		ContentType: &contentType, Bytes: &size, ContentSHA256: &contentSHA256}
	if err := api.store.UpsertImages(context.Background(), []db.ImageState{st}); err != nil {
		api.t.Fatalf("upsert image: %v", err)
	}
	return st.URLHash
}

// create makes a performer through the API and returns it.
func (api *testAPI) create(body string) pornstarDoc {
	api.t.Helper()
	r := api.do(req{method: http.MethodPost, path: "/api/v1/pornstars", body: body, token: "write"}).wantStatus(api.t, http.StatusCreated)
	var p pornstarDoc
	r.json(api.t, &p)
	return p
}

func ptr[T any](v T) *T { return &v }

// testRenderBudget is the variant cache's budget in the tests: far above a
// render on a machine busy with the whole suite, where an encoder's first
// use (compiling it) alone can take seconds.
const testRenderBudget = 2 * time.Minute
