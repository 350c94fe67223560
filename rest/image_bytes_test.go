package rest

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/demo"
	"marquee/internal/testkit"
)

// TestImageBytes asks for image bytes as clients do, through the server's
// mount of the bytes beside the API, on every backend: each answer is
// checked against the OpenAPI document (api.do), which is how the
// document's getImageBytes answers are shown to be true.
func TestImageBytes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		body := []byte("\x89PNG\r\n\x1a\n the rest of a PNG would be here")
		size := strconv.Itoa(len(body))
		cached := api.cacheImageBytes("https://ei.phncdn.com/pics/cached.png", "image/png", body)
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		other := `"` + strings.Repeat("0", 64) + `"`

		// A cached record whose bytes are gone, and a failed image.
		gone := api.cacheImageBytes("https://ei.phncdn.com/pics/gone.png", "image/png", []byte("deleted below"))
		img, err := api.store.Image(t.Context(), gone)
		if err != nil {
			t.Fatal(err)
		}
		path, _ := api.files.Path(*img.ContentSHA256)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		failedURL := "https://ei.phncdn.com/pics/failed.png"
		api.setImage(failedURL, db.ImageFailed)

		for _, tc := range []struct {
			name    string
			method  string
			path    string
			headers map[string]string
			status  int
			// body is what a GET shows; contentRange the Content-Range.
			body, contentRange string
			problem            string
		}{
			{name: "GET", path: "/images/" + cached, status: 200, body: string(body)},
			{name: "HEAD", method: http.MethodHead, path: "/images/" + cached, status: 200},
			{name: "If-None-Match with the ETag", path: "/images/" + cached, headers: map[string]string{"If-None-Match": etag}, status: 304},
			{name: "If-None-Match with other bytes", path: "/images/" + cached, headers: map[string]string{"If-None-Match": other}, status: 200, body: string(body)},
			{name: "If-Match with other bytes", path: "/images/" + cached, headers: map[string]string{"If-Match": other}, status: 412, problem: "precondition-failed"},
			{name: "If-Match with the ETag", path: "/images/" + cached, headers: map[string]string{"If-Match": etag}, status: 200, body: string(body)},
			{name: "one range", path: "/images/" + cached, headers: map[string]string{"Range": "bytes=0-3"}, status: 206,
				body: string(body[:4]), contentRange: "bytes 0-3/" + size},
			{name: "the last bytes", path: "/images/" + cached, headers: map[string]string{"Range": "bytes=-5"}, status: 206,
				body: string(body[len(body)-5:]), contentRange: "bytes " + strconv.Itoa(len(body)-5) + "-" + strconv.Itoa(len(body)-1) + "/" + size},
			{name: "two ranges", path: "/images/" + cached, headers: map[string]string{"Range": "bytes=0-1,4-5"}, status: 206},
			{name: "HEAD of a range", method: http.MethodHead, path: "/images/" + cached, headers: map[string]string{"Range": "bytes=0-3"}, status: 206,
				contentRange: "bytes 0-3/" + size},
			{name: "a range past the end", path: "/images/" + cached, headers: map[string]string{"Range": "bytes=" + size + "-"}, status: 416,
				contentRange: "bytes */" + size, problem: "range-not-satisfiable"},
			{name: "If-Range with other bytes", path: "/images/" + cached, headers: map[string]string{"If-Range": other, "Range": "bytes=0-3"}, status: 200, body: string(body)},
			{name: "a range of another unit", path: "/images/" + cached, headers: map[string]string{"Range": "items=0-3"}, status: 200, body: string(body)},
			{name: "not a URL hash", path: "/images/" + strings.ToUpper(cached), status: 400, problem: "invalid-parameter"},
			{name: "an unknown hash", path: "/images/" + db.URLHash("https://ei.phncdn.com/never.png"), status: 404, problem: "not-found"},
			{name: "a failed image", path: "/images/" + db.URLHash(failedURL), status: 404, problem: "not-found"},
			{name: "bytes that are gone", path: "/images/" + gone, status: 404, problem: "not-found"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				method := tc.method
				if method == "" {
					method = http.MethodGet
				}
				r := api.do(req{method: method, path: tc.path, headers: tc.headers}).wantStatus(t, tc.status)
				if tc.problem != "" {
					if method == http.MethodGet {
						r.wantProblem(t, tc.status, tc.problem)
					}
					if tc.status == 400 && r.problem(t).Errors[0].Parameter != "url_hash" {
						t.Errorf("400 does not name url_hash: %s", r.body)
					}
				}
				if got := r.header.Get("Content-Range"); got != tc.contentRange {
					t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
				}
				if tc.status >= 300 {
					return
				}
				if r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != filesCacheControl {
					t.Errorf("ETag %q, Cache-Control %q; want %s and %s", r.header.Get("ETag"), r.header.Get("Cache-Control"), etag, filesCacheControl)
				}
				if method == http.MethodHead {
					if len(r.body) != 0 {
						t.Errorf("HEAD answered %d bytes of body", len(r.body))
					}
					return
				}
				mediaType, params, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
				switch {
				case tc.body != "":
					if string(r.body) != tc.body || mediaType != "image/png" {
						t.Errorf("%s %q, want image/png %q", mediaType, r.body, tc.body)
					}
				case mediaType != "multipart/byteranges" || params["boundary"] == "" ||
					!strings.Contains(string(r.body), "Content-Range: bytes 0-1/"+size) || !strings.Contains(string(r.body), "Content-Range: bytes 4-5/"+size):
					t.Errorf("two ranges: %s %q, want multipart/byteranges of 0-1 and 4-5", r.header.Get("Content-Type"), r.body)
				}
			})
		}

		t.Run("a failing database", func(t *testing.T) {
			if err := api.store.DB().Close(); err != nil {
				t.Fatal(err)
			}
			r := api.get("/images/" + cached)
			p := r.wantProblem(t, http.StatusInternalServerError, "internal")
			if strings.Contains(p.Detail, "closed") || !strings.Contains(api.logs.String(), "closed") {
				t.Errorf("500 %q, log %q: want the cause logged, not told", p.Detail, api.logs.String())
			}
		})
	})
}

// TestImageVariantBytes asks for variants as pages do, checked against the
// OpenAPI document like TestImageBytes: a demo JPEG at an allowed width, its
// conditional and range forms, a width not allowed, an original that does
// not decode, and a render past its budget.
func TestImageVariantBytes(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			api := newTestAPI(t, testkit.OpenStore(t, b.URL(t)), apiOptions{})
			photo := api.cacheImageBytes("https://ei.phncdn.com/pics/photo.jpg", "image/jpeg", demo.Image("/pics/photo.jpg"))
			fake := api.cacheImageBytes("https://ei.phncdn.com/pics/fake.png", "image/png", []byte("\x89PNG\r\n\x1a\n not really a PNG"))
			first := api.do(req{method: http.MethodGet, path: "/images/" + photo + "?w=64", headers: map[string]string{"Accept": "image/webp"}}).wantStatus(t, 200)
			etag := first.header.Get("ETag")
			for _, tc := range []struct {
				name     string
				method   string
				path     string
				headers  map[string]string
				status   int
				wantType string
				problem  string
			}{
				{name: "negotiated", path: "/images/" + photo + "?w=64", headers: map[string]string{"Accept": "image/webp"}, status: 200, wantType: "image/webp"},
				{name: "explicit AVIF", path: "/images/" + photo + "?w=128&format=avif", status: 200, wantType: "image/avif"},
				{name: "HEAD", method: http.MethodHead, path: "/images/" + photo + "?w=64", headers: map[string]string{"Accept": "image/webp"}, status: 200, wantType: "image/webp"},
				{name: "If-None-Match with the variant's ETag", path: "/images/" + photo + "?w=64", headers: map[string]string{"Accept": "image/webp", "If-None-Match": etag}, status: 304},
				{name: "a range", path: "/images/" + photo + "?w=64", headers: map[string]string{"Accept": "image/webp", "Range": "bytes=0-3"}, status: 206, wantType: "image/webp"},
				{name: "a width not allowed", path: "/images/" + photo + "?w=65", status: 400, problem: "invalid-parameter"},
				{name: "an original that does not decode", path: "/images/" + fake + "?w=64", status: 422, problem: "unrenderable-image"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					method := tc.method
					if method == "" {
						method = http.MethodGet
					}
					r := api.do(req{method: method, path: tc.path, headers: tc.headers}).wantStatus(t, tc.status)
					if tc.problem != "" {
						r.wantProblem(t, tc.status, tc.problem)
						return
					}
					if tc.status == 200 || tc.status == 206 {
						if got := r.header.Get("Content-Type"); tc.status == 200 && got != tc.wantType {
							t.Errorf("Content-Type %q, want %q", got, tc.wantType)
						}
					}
				})
			}

			busy := newTestAPI(t, api.store, apiOptions{renderBudget: time.Nanosecond, files: api.files})
			r := busy.do(req{method: http.MethodGet, path: "/images/" + photo + "?w=512&format=png"})
			r.wantProblem(t, http.StatusServiceUnavailable, "render-busy")
			if r.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
}
