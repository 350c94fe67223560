package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/ingest/ingesttest"
	"marquee/internal/compression"
	"marquee/internal/samples"
	"marquee/internal/testkit"
	"marquee/server"
)

// pageQuery is a GraphQL page of 50 performers with what a site's list
// shows: names, stats, aliases and thumbnails with their images' states.
const pageQuery = `{"query":"{ pornstars(first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { node { id name rank views subscriptions aliases thumbnails { type width height url image { status url } } } } } }"}`

// TestAPICompression sends the answers of both APIs, as `run` and `api`
// mount them, in each coding a client asks for: the bytes of a page of 50
// per coding (logged), the same JSON once decoded, the coding's own ETag
// that still revalidates with 304, no coding under the size floor nor for
// image bytes, and `Vary: Accept-Encoding` on every API answer.
func TestAPICompression(t *testing.T) {
	const token = "compression-test-token-0123"
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			samples.SeedCopies(t, store, ingesttest.ReadFeed(t, samples.Head.Path(t)), 60)
			files, err := imaging.OpenFileStore(filepath.Join(t.TempDir(), "images"))
			if err != nil {
				t.Fatal(err)
			}
			srv := server.New(server.Options{})
			cfg := Config{APITokens: token, GraphQLIntrospection: true}
			if err := mountAPI(srv, cfg, store, files, slog.New(slog.DiscardHandler), environment{}, false); err != nil {
				t.Fatal(err)
			}
			api := httptest.NewServer(srv.Handler())
			t.Cleanup(api.Close)
			// The transport must not ask for gzip itself and hide the coding.
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}
			send := func(method, path, body string, header map[string]string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
				for k, v := range header {
					req.Header.Set(k, v)
				}
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				return res, b
			}

			pages := []struct {
				name, method, path, body string
			}{
				{"REST page of 50", http.MethodGet, "/api/v1/pornstars?limit=50", ""},
				{"GraphQL page of 50", http.MethodPost, "/graphql", pageQuery},
				{"OpenAPI document", http.MethodGet, "/api/v1/openapi.json", ""},
			}
			codings := []struct {
				accept string
				coding compression.Coding
			}{
				{"zstd", compression.Zstd},
				{"br", compression.Brotli},
				{"gzip", compression.Gzip},
				{"gzip, deflate, br, zstd", compression.Zstd},
				{"zstd;q=0.5, br;q=0.9, gzip;q=0.1", compression.Brotli},
			}
			for _, page := range pages {
				plainRes, plain := send(page.method, page.path, page.body, nil)
				if plainRes.StatusCode != http.StatusOK || plainRes.Header.Get("Content-Encoding") != "" ||
					plainRes.Header.Get("Vary") != "Accept-Encoding" {
					t.Fatalf("%s without Accept-Encoding: %d %v", page.name, plainRes.StatusCode, plainRes.Header)
				}
				if page.path == "/api/v1/pornstars?limit=50" {
					var list struct{ Data []json.RawMessage }
					if err := json.Unmarshal(plain, &list); err != nil || len(list.Data) != 50 {
						t.Fatalf("%s: %d performers (%v)", page.name, len(list.Data), err)
					}
				}
				for _, c := range codings {
					res, body := send(page.method, page.path, page.body, map[string]string{"Accept-Encoding": c.accept})
					if res.StatusCode != http.StatusOK || res.Header.Get("Content-Encoding") != c.coding.String() ||
						res.Header.Get("Vary") != "Accept-Encoding" || res.Header.Get("Content-Length") != "" && res.ContentLength != int64(len(body)) {
						t.Fatalf("%s with %q: %d %v", page.name, c.accept, res.StatusCode, res.Header)
					}
					decoded, err := compression.Decompress(c.coding, body)
					if err != nil {
						t.Fatalf("%s in %s: %v", page.name, c.coding, err)
					}
					if !sameJSON(t, decoded, plain) {
						t.Errorf("%s in %s decodes to other JSON", page.name, c.coding)
					}
					if want := compression.ETag(plainRes.Header.Get("ETag"), c.coding); res.Header.Get("ETag") != want {
						t.Errorf("%s in %s: ETag %q, want %q", page.name, c.coding, res.Header.Get("ETag"), want)
					}
					t.Logf("%s: %d bytes, %s %d (%.1f%%)", page.name, len(plain), c.coding, len(body), 100*float64(len(body))/float64(len(plain)))
				}
			}

			// Revalidation: the coding's ETag is current; the plain one is
			// too, and each 304 names the tag the client holds.
			list := "/api/v1/pornstars?limit=50"
			plainRes, _ := send(http.MethodGet, list, "", nil)
			for _, c := range codings[:3] {
				res, _ := send(http.MethodGet, list, "", map[string]string{"Accept-Encoding": c.accept})
				etag := res.Header.Get("ETag")
				for _, held := range []string{etag, plainRes.Header.Get("ETag"), `"stale", ` + etag} {
					notModified, body := send(http.MethodGet, list, "", map[string]string{"Accept-Encoding": c.accept, "If-None-Match": held})
					if notModified.StatusCode != http.StatusNotModified || len(body) != 0 || notModified.Header.Get("Content-Encoding") != "" {
						t.Errorf("If-None-Match %s with %s: %d %v", held, c.coding, notModified.StatusCode, notModified.Header)
					}
					if want := strings.TrimPrefix(held, `"stale", `); notModified.Header.Get("ETag") != want {
						t.Errorf("If-None-Match %s with %s: 304 names %s, want %s", held, c.coding, notModified.Header.Get("ETag"), want)
					}
				}
				if stale, _ := send(http.MethodGet, list, "", map[string]string{"Accept-Encoding": c.accept, "If-None-Match": `"stale-` + c.coding.String() + `"`}); stale.StatusCode != http.StatusOK {
					t.Errorf("a stale %s tag: %d, want 200", c.coding, stale.StatusCode)
				}
			}

			// A write with If-Match naming a compressed representation of
			// the performer's current version.
			performer := "/api/v1/pornstars/1"
			got, _ := send(http.MethodGet, performer, "", map[string]string{"Accept-Encoding": "br"})
			if got.Header.Get("Content-Encoding") != "br" {
				t.Fatalf("a performer in br: %v", got.Header)
			}
			patched, body := send(http.MethodPatch, performer, `{"age": 33}`, map[string]string{
				"Authorization": "Bearer " + token, "If-Match": got.Header.Get("ETag"), "Content-Type": "application/merge-patch+json"})
			if patched.StatusCode != http.StatusOK {
				t.Errorf("PATCH with If-Match %s: %d %s", got.Header.Get("ETag"), patched.StatusCode, body)
			}
			if res, _ := send(http.MethodPatch, performer, `{"age": 34}`, map[string]string{
				"Authorization": "Bearer " + token, "If-Match": got.Header.Get("ETag"), "Content-Type": "application/merge-patch+json"}); res.StatusCode != http.StatusPreconditionFailed {
				t.Errorf("PATCH with an outdated If-Match: %d, want 412", res.StatusCode)
			}

			small := "/api/v1/pornstars/1/aliases"
			hash := cacheImage(t, store, files, "https://cdn.example/pic.jpg", bytes.Repeat([]byte("compressible "), 400))
			for _, tc := range []struct {
				name, method, path string
				header             map[string]string
				wantCoding         string
				wantVary           bool
			}{
				{"under the floor", http.MethodGet, small, map[string]string{"Accept-Encoding": "gzip, br, zstd"}, "", true},
				{"under the floor, identity refused", http.MethodGet, small, map[string]string{"Accept-Encoding": "gzip, identity;q=0"}, "gzip", true},
				{"a problem document, identity refused", http.MethodGet, "/api/v1/pornstars/999999", map[string]string{"Accept-Encoding": "zstd, identity;q=0"}, "zstd", true},
				{"HEAD", http.MethodHead, list, map[string]string{"Accept-Encoding": "gzip, br, zstd"}, "", true},
				{"identity preferred", http.MethodGet, list, map[string]string{"Accept-Encoding": "gzip;q=0.5, identity"}, "", true},
				{"image bytes", http.MethodGet, "/images/" + hash, map[string]string{"Accept-Encoding": "gzip, br, zstd"}, "", false},
				{"image bytes, identity refused", http.MethodGet, "/images/" + hash, map[string]string{"Accept-Encoding": "gzip, identity;q=0"}, "", false},
			} {
				res, body := send(tc.method, tc.path, "", tc.header)
				if got := res.Header.Get("Content-Encoding"); got != tc.wantCoding {
					t.Errorf("%s: Content-Encoding %q, want %q", tc.name, got, tc.wantCoding)
				}
				if got := res.Header.Get("Vary") == "Accept-Encoding"; got != tc.wantVary {
					t.Errorf("%s: Vary %q", tc.name, res.Header.Get("Vary"))
				}
				if tc.method == http.MethodHead && len(body) != 0 {
					t.Errorf("%s: a body of %d bytes", tc.name, len(body))
				}
				if tc.wantCoding == "" && tc.method == http.MethodGet && res.ContentLength != int64(len(body)) {
					t.Errorf("%s: Content-Length %d for %d bytes", tc.name, res.ContentLength, len(body))
				}
			}
		})
	}
}

// sameJSON reports whether two JSON documents hold the same values.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}

// cacheImage stores body as the cached bytes of url (typed image/jpeg) and
// returns its URL hash.
func cacheImage(t *testing.T, store *db.Store, files *imaging.FileStore, url string, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	contentSHA256 := hex.EncodeToString(sum[:])
	path, err := files.Path(contentSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	now, size, contentType := time.Now().UTC(), int64(len(body)), "image/jpeg"
	st := db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached, Attempts: 1, FetchedAt: &now,
		ContentType: &contentType, Bytes: &size, ContentSHA256: &contentSHA256}
	if err := store.UpsertImages(context.Background(), []db.ImageState{st}); err != nil {
		t.Fatal(err)
	}
	return st.URLHash
}

// BenchmarkCompression: what compressing a page of 50 costs and saves. A
// REST and a GraphQL page of 50 (SQLite, the head fixture) are recorded
// once; then a handler answers those bytes from memory through
// compression.Middleware, in each coding: "identity" is the uncompressed
// ceiling (beside "no-middleware", the same handler unwrapped), the others
// add their ns/op and report the bytes sent.
//
//	go test -run '^$' -bench BenchmarkCompression ./cmd/marquee/
func BenchmarkCompression(b *testing.B) {
	store := testkit.OpenStore(b, dbtest.SQLiteURL(b))
	samples.SeedCopies(b, store, ingesttest.ReadFeed(b, samples.Head.Path(b)), 60)
	files, err := imaging.OpenFileStore(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Options{})
	if err := mountAPI(srv, Config{GraphQLIntrospection: true}, store, files, slog.New(slog.DiscardHandler), environment{}, false); err != nil {
		b.Fatal(err)
	}
	for _, page := range []struct {
		name   string
		method string
		path   string
		body   string
	}{
		{"rest-page-50", http.MethodGet, "/api/v1/pornstars?limit=50", ""},
		{"graphql-page-50", http.MethodPost, "/graphql", pageQuery},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(page.method, page.path, strings.NewReader(page.body))
		req.Header.Set("Content-Type", "application/json")
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", page.name, rec.Code, rec.Body)
		}
		recorded, header := rec.Body.Bytes(), rec.Header()
		plain := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, name := range []string{"Content-Type", "ETag"} {
				w.Header()[name] = header[name]
			}
			w.Write(recorded)
		})
		memory := compression.Middleware(plain)
		serve := func(b *testing.B, h http.Handler, acceptEncoding string) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", acceptEncoding)
			}
			var sent int
			b.ReportAllocs()
			for b.Loop() {
				w := &countingWriter{header: http.Header{}}
				h.ServeHTTP(w, req)
				sent = w.bytes
			}
			b.ReportMetric(float64(sent), "bytes")
		}
		// Without the middleware: what "identity" adds to an answer.
		b.Run(page.name+"/no-middleware", func(b *testing.B) { serve(b, plain, "") })
		for _, c := range append([]compression.Coding{compression.Identity}, compression.Codings...) {
			b.Run(page.name+"/"+c.String(), func(b *testing.B) {
				accept := ""
				if c != compression.Identity {
					accept = c.String()
				}
				serve(b, memory, accept)
			})
		}
	}
}

// countingWriter is a ResponseWriter that counts the body's bytes.
type countingWriter struct {
	header http.Header
	bytes  int
}

func (w *countingWriter) Header() http.Header         { return w.header }
func (w *countingWriter) WriteHeader(int)             {}
func (w *countingWriter) Write(p []byte) (int, error) { w.bytes += len(p); return len(p), nil }
