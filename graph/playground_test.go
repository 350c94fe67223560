package graph_test

import (
	"bytes"
	"encoding/json"
	"html"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/internal/compression"
)

func TestPlaygroundServesPageAndAssets(t *testing.T) {
	h := graph.Playground("/graphql")
	get := func(target string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	page := get("/playground/", nil)
	if page.Code != http.StatusOK || page.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("page: %d %v", page.Code, page.Header())
	}
	csp := page.Header().Get("Content-Security-Policy")
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, directive) {
			t.Errorf("CSP %q lacks %q", csp, directive)
		}
	}
	body := page.Body.String()
	if !strings.Contains(body, `data-endpoint="/graphql"`) {
		t.Errorf("the page does not name the endpoint:\n%s", body)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Errorf("the page loads something from another host:\n%s", body)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1)
	if len(refs) != 5 {
		t.Fatalf("want 5 assets in the page, got %v", refs)
	}
	wantTypes := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	for _, ref := range refs {
		target := "/playground/" + ref[1]
		name, version, _ := strings.Cut(ref[1], "?v=")
		plain := get(target, nil)
		if plain.Code != http.StatusOK || plain.Header().Get("Content-Type") != wantTypes[name[strings.LastIndex(name, "."):]] {
			t.Fatalf("%s: %d %v", target, plain.Code, plain.Header())
		}
		if plain.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || plain.Header().Get("ETag") != `"`+version+`"` {
			t.Errorf("%s: caching headers %v", target, plain.Header())
		}
		for _, enc := range []struct {
			accept string
			coding compression.Coding
		}{{"gzip", compression.Gzip}, {"br, gzip", compression.Brotli}, {"gzip, br, zstd", compression.Zstd}} {
			coded := get(target, map[string]string{"Accept-Encoding": enc.accept})
			if coded.Header().Get("Content-Encoding") != enc.coding.String() || coded.Body.Len() >= plain.Body.Len() ||
				coded.Header().Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s with %q: not in %s: %v", target, enc.accept, enc.coding, coded.Header())
			}
			decoded, err := compression.Decompress(enc.coding, coded.Body.Bytes())
			if err != nil || !bytes.Equal(decoded, plain.Body.Bytes()) {
				t.Fatalf("%s: the %s body differs (%v)", target, enc.coding, err)
			}
			t.Logf("%s: %d bytes, %s %d", name, plain.Body.Len(), enc.coding, coded.Body.Len())
			etag := coded.Header().Get("ETag")
			if etag != compression.ETag(plain.Header().Get("ETag"), enc.coding) {
				t.Errorf("%s in %s: ETag %s", target, enc.coding, etag)
			}
			revalidated := get(target, map[string]string{"Accept-Encoding": enc.accept, "If-None-Match": etag})
			if revalidated.Code != http.StatusNotModified || revalidated.Body.Len() != 0 {
				t.Errorf("%s in %s: revalidation answered %d", target, enc.coding, revalidated.Code)
			}
		}
		if got := get(target, map[string]string{"If-None-Match": plain.Header().Get("ETag")}); got.Code != http.StatusNotModified {
			t.Errorf("%s: revalidation answered %d", target, got.Code)
		}
		if got := get("/playground/"+name, nil); got.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%s without its version is cached for good", name)
		}
	}

	if got := get("/playground?query=%7B__typename%7D", nil); got.Code != http.StatusMovedPermanently || got.Header().Get("Location") != "/playground/?query=%7B__typename%7D" {
		t.Errorf("redirect: %d %v", got.Code, got.Header())
	}
	if got := get("/playground/secret.txt", nil); got.Code != http.StatusNotFound {
		t.Errorf("unknown file: %d", got.Code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/playground/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestPlaygroundAssetsArePinned: the committed assets are the npm builds the
// lock file pins, and the lock file names no host (npm ci resolves names
// through whatever registry is configured).
func TestPlaygroundAssetsArePinned(t *testing.T) {
	raw, err := os.ReadFile("playground/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "://") || strings.Contains(string(raw), `"resolved"`) {
		t.Fatal("package-lock.json names a host: strip resolved and funding URLs")
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(raw, &lock); err != nil {
		t.Fatal(err)
	}
	for pkg, major := range map[string]string{"graphiql": "3.", "react": "18.", "react-dom": "18."} {
		p := lock.Packages["node_modules/"+pkg]
		if !strings.HasPrefix(p.Version, major) || p.Integrity == "" {
			t.Errorf("%s: locked %q, want %sx with an integrity hash", pkg, p.Version, major)
		}
	}
	for file, pkg := range map[string]string{"react.production.min.js": "react", "react-dom.production.min.js": "react-dom"} {
		asset, err := os.ReadFile("playground/assets/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if v := lock.Packages["node_modules/"+pkg].Version; !bytes.Contains(asset, []byte(`"`+v+`"`)) {
			t.Errorf("%s is not %s %s: run make playground", file, pkg, v)
		}
	}
}

// TestPlaygroundOpensOnPerformers: the page opens on PlaygroundQuery, which
// answers a page of performers, best ranked first, with their thumbnails,
// each image's state and where a cached one is served.
func TestPlaygroundOpensOnPerformers(t *testing.T) {
	page := httptest.NewRecorder()
	graph.Playground("/graphql").ServeHTTP(page, httptest.NewRequest(http.MethodGet, "/playground/", nil))
	attr := regexp.MustCompile(`data-default-query="([^"]*)"`).FindStringSubmatch(page.Body.String())
	if attr == nil || html.UnescapeString(attr[1]) != graph.PlaygroundQuery {
		t.Fatalf("the page does not open on PlaygroundQuery:\n%s", page.Body)
	}
	type thumbnail struct {
		Type  string
		Image struct {
			Status string
			URL    *string
		}
	}
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		loadFixture(t, s)
		e := newEnv(t, s, graph.Options{})
		got := decode[struct {
			Pornstars struct {
				TotalCount int
				PageInfo   struct{ HasNextPage bool }
				Nodes      []struct {
					Name       string
					Thumbnails []thumbnail
				}
			}
		}](t, e.query(t, graph.PlaygroundQuery, nil)).Pornstars
		var names []string
		states := map[string][]string{}
		for _, node := range got.Nodes {
			names = append(names, node.Name)
			for _, th := range node.Thumbnails {
				state := th.Type + " " + th.Image.Status
				if th.Image.URL != nil {
					state += " " + *th.Image.URL
				}
				states[node.Name] = append(states[node.Name], state)
			}
		}
		wantNames := []string{"Alpha Star", "bravo", "delta", "Echo", "Charlie", "Golf"}
		alpha := "/images/" + hashAlpha
		wantStates := map[string][]string{
			"Alpha Star": {"pc CACHED " + alpha, "mobile CACHED " + alpha, "tablet CACHED " + alpha},
			"bravo":      {"pc FAILED", "mobile FAILED", "tablet FAILED"},
			"delta":      {"pc PENDING", "mobile PENDING", "tablet PENDING"},
		}
		if got.TotalCount != 6 || got.PageInfo.HasNextPage || !slices.Equal(names, wantNames) || !maps.EqualFunc(states, wantStates, slices.Equal) {
			t.Errorf("PlaygroundQuery answered %d performers %v with thumbnails %v (next page: %v); want 6 %v with %v",
				got.TotalCount, names, states, got.PageInfo.HasNextPage, wantNames, wantStates)
		}
	})
}
