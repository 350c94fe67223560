package rest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"marquee/db"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/rest"
)

// filesStore is an in-memory FilesImageStore that records the hashes asked.
type filesStore struct {
	mu     sync.Mutex
	images map[string]*db.Image
	err    error
	asked  []string
}

func (s *filesStore) Image(_ context.Context, urlHash string) (*db.Image, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, urlHash)
	if s.err != nil {
		return nil, s.err
	}
	img, ok := s.images[urlHash]
	if !ok {
		return nil, db.ErrNotFound
	}
	return img, nil
}

func filesHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func filesImage(urlHash, status string, contentSHA256, contentType *string) *db.Image {
	return &db.Image{ImageState: db.ImageState{URLHash: urlHash, URL: "https://ei.phncdn.com/" + urlHash[:8] + ".jpg",
		Status: status, ContentSHA256: contentSHA256, ContentType: contentType, Attempts: 1}}
}

// filesFixture serves a cached PNG, a cached image whose bytes are missing,
// a failed image and a record with a malformed content hash, next to a
// secret file the handler must never read.
type filesFixture struct {
	handler                                 http.Handler
	store                                   *filesStore
	body                                    []byte
	cached, missing, failed, corrupt, never string
	contentSHA256                           string
}

// newFilesFixture serves a directory image store, with a file beside it
// that no request may read.
func newFilesFixture(t testing.TB) *filesFixture {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("do not serve"), 0o600); err != nil {
		t.Fatal(err)
	}
	content, err := imaging.OpenFileStore(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	return newFilesFixtureOn(t, content)
}

// filesBackends are the image stores the handler's tests run on: the
// directory and a bucket of the in-process S3 fake.
var filesBackends = []struct {
	name string
	open func(t testing.TB) *filesFixture
}{
	{"directory", newFilesFixture},
	{"s3", func(t testing.TB) *filesFixture {
		srv := imagingtest.FakeS3(t)
		store, err := imaging.OpenS3Store(context.Background(), imaging.S3Options{Endpoint: srv.Endpoint, Region: "us-east-1", PathStyle: true,
			AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, Bucket: srv.Bucket, Prefix: "images"})
		if err != nil {
			t.Fatal(err)
		}
		return newFilesFixtureOn(t, store)
	}},
}

// onEachFilesBackend runs test on a fixture of each of filesBackends.
func onEachFilesBackend(t *testing.T, test func(t *testing.T, f *filesFixture)) {
	for _, backend := range filesBackends {
		t.Run(backend.name, func(t *testing.T) { test(t, backend.open(t)) })
	}
}

func newFilesFixtureOn(t testing.TB, content imaging.ObjectStore) *filesFixture {
	t.Helper()
	f := &filesFixture{body: []byte("\x89PNG\r\n\x1a\n pretend the rest of a PNG is here")}
	sum := sha256.Sum256(f.body)
	f.contentSHA256 = hex.EncodeToString(sum[:])
	key, _ := imaging.ContentKey(f.contentSHA256)
	if err := content.Put(context.Background(), key, bytes.NewReader(f.body), int64(len(f.body)), "image/png"); err != nil {
		t.Fatal(err)
	}
	png, missingSum, traversal := "image/png", filesHash("never stored"), "../secret"
	f.cached, f.missing, f.failed, f.corrupt, f.never = filesHash("cached"), filesHash("missing"), filesHash("failed"), filesHash("corrupt"), filesHash("never")
	f.store = &filesStore{images: map[string]*db.Image{
		f.cached:  filesImage(f.cached, db.ImageCached, &f.contentSHA256, &png),
		f.missing: filesImage(f.missing, db.ImageCached, &missingSum, &png),
		f.failed:  filesImage(f.failed, db.ImageFailed, nil, nil),
		f.corrupt: filesImage(f.corrupt, db.ImageCached, &traversal, &png),
	}}
	handler, err := rest.NewFilesHandler(rest.FilesOptions{Store: f.store, Content: imaging.Contents{Store: content}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(rest.FilesPattern, handler)
	f.handler = mux
	return f
}

func (f *filesFixture) do(method, target string, header ...string) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Result()
}

func TestFilesServesCachedBytes(t *testing.T) { onEachFilesBackend(t, testFilesServesCachedBytes) }

func testFilesServesCachedBytes(t *testing.T, f *filesFixture) {
	etag := `"` + f.contentSHA256 + `"`
	for _, tc := range []struct {
		name       string
		method     string
		header     []string
		wantStatus int
		wantBody   string
	}{
		{"GET", http.MethodGet, nil, http.StatusOK, string(f.body)},
		{"HEAD", http.MethodHead, nil, http.StatusOK, ""},
		{"If-None-Match with the ETag", http.MethodGet, []string{"If-None-Match", etag}, http.StatusNotModified, ""},
		{"If-None-Match with a list", http.MethodGet, []string{"If-None-Match", `"abc", ` + etag}, http.StatusNotModified, ""},
		{"If-None-Match weak", http.MethodGet, []string{"If-None-Match", "W/" + etag}, http.StatusNotModified, ""},
		{"If-None-Match *", http.MethodGet, []string{"If-None-Match", "*"}, http.StatusNotModified, ""},
		{"If-None-Match on HEAD", http.MethodHead, []string{"If-None-Match", etag}, http.StatusNotModified, ""},
		{"If-None-Match of other bytes", http.MethodGet, []string{"If-None-Match", `"` + strings.Repeat("0", 64) + `"`}, http.StatusOK, string(f.body)},
		{"a byte range", http.MethodGet, []string{"Range", "bytes=0-3"}, http.StatusPartialContent, string(f.body[:4])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(tc.method, "/images/"+f.cached, tc.header...)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
				t.Fatalf("%s = %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
			h := resp.Header
			if h.Get("ETag") != etag || h.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("ETag %q, Cache-Control %q; want the quoted content hash and immutable caching", h.Get("ETag"), h.Get("Cache-Control"))
			}
			if tc.wantStatus == http.StatusNotModified {
				return
			}
			if h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("Content-Type %q, X-Content-Type-Options %q; want image/png, nosniff", h.Get("Content-Type"), h.Get("X-Content-Type-Options"))
			}
			if tc.wantStatus == http.StatusOK && h.Get("Content-Length") != strconv.Itoa(len(f.body)) {
				t.Errorf("Content-Length %q, want %d", h.Get("Content-Length"), len(f.body))
			}
		})
	}
}

func TestFilesProblems(t *testing.T) { onEachFilesBackend(t, testFilesProblems) }

func testFilesProblems(t *testing.T, f *filesFixture) {
	for _, tc := range []struct {
		name       string
		method     string
		target     string
		wantStatus int
		wantType   string
		// wantAsked: the store is consulted (never for a malformed hash).
		wantAsked bool
	}{
		{"an unknown hash", http.MethodGet, "/images/" + f.never, 404, "not-found", true},
		{"a failed image", http.MethodGet, "/images/" + f.failed, 404, "not-found", true},
		{"a cached image whose bytes are missing", http.MethodGet, "/images/" + f.missing, 404, "not-found", true},
		{"a record with a malformed content hash", http.MethodGet, "/images/" + f.corrupt, 500, "internal", true},
		{"HEAD of an unknown hash", http.MethodHead, "/images/" + f.never, 404, "", true},
		{"upper-case hex", http.MethodGet, "/images/" + strings.ToUpper(f.cached), 400, "invalid-parameter", false},
		{"63 digits", http.MethodGet, "/images/" + f.cached[:63], 400, "invalid-parameter", false},
		{"65 digits", http.MethodGet, "/images/" + f.cached + "0", 400, "invalid-parameter", false},
		{"not hex", http.MethodGet, "/images/" + strings.Repeat("g", 64), 400, "invalid-parameter", false},
		{"an encoded path", http.MethodGet, "/images/..%2Fsecret", 400, "invalid-parameter", false},
		{"an encoded traversal of hash length", http.MethodGet, "/images/" + strings.Repeat("a", 55) + "%2F..%2F..", 400, "invalid-parameter", false},
		{"a content hash as URL hash", http.MethodGet, "/images/" + f.contentSHA256, 404, "not-found", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.store.asked = nil
			resp := f.do(tc.method, tc.target)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if (len(f.store.asked) > 0) != tc.wantAsked {
				t.Errorf("the store was asked %q; want asked: %v", f.store.asked, tc.wantAsked)
			}
			if tc.method == http.MethodHead {
				return
			}
			checkFilesProblem(t, resp, body, tc.wantStatus, tc.wantType)
			if strings.Contains(string(body), "do not serve") {
				t.Error("the answer contains the secret file")
			}
		})
	}
}

func TestFilesStoreFailureIsInternal(t *testing.T) {
	f := newFilesFixture(t)
	f.store.err = errors.New("store: get image: database error (mysql 2006) at db.internal:3306")
	resp := f.do(http.MethodGet, "/images/"+f.cached)
	body, _ := io.ReadAll(resp.Body)
	checkFilesProblem(t, resp, body, http.StatusInternalServerError, "internal")
	if strings.Contains(string(body), "mysql") || strings.Contains(string(body), "db.internal") {
		t.Errorf("the answer leaks the internal error: %s", body)
	}
}

func TestFilesMethods(t *testing.T) {
	f := newFilesFixture(t)
	handler, err := rest.NewFilesHandler(rest.FilesOptions{Store: f.store, Content: nopContent{}})
	if err != nil {
		t.Fatal(err)
	}
	// Mounted without a method in its pattern, the handler refuses writes itself.
	mux := http.NewServeMux()
	mux.Handle("/images/{url_hash}", handler)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/images/"+f.cached, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	checkFilesProblem(t, resp, body, http.StatusMethodNotAllowed, "method-not-allowed")
	if resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q, want GET, HEAD", resp.Header.Get("Allow"))
	}
	if _, err := rest.NewFilesHandler(rest.FilesOptions{Store: f.store}); err == nil {
		t.Error("NewFilesHandler without a content store succeeded")
	}
}

type nopContent struct{}

func (nopContent) Open(context.Context, string) (io.ReadSeekCloser, error) {
	return nil, os.ErrNotExist
}

func checkFilesProblem(t testing.TB, resp *http.Response, body []byte, wantStatus int, wantType string) {
	t.Helper()
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body %q is not a problem document: %v", body, err)
	}
	if resp.StatusCode != wantStatus || p.Status != wantStatus || p.Type != "urn:marquee:problem:"+wantType || p.Title == "" || p.Detail == "" {
		t.Errorf("problem %d %+v, want status %d and type %s with a title and detail", resp.StatusCode, p, wantStatus, wantType)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on an error, want no-store", cc)
	}
}
