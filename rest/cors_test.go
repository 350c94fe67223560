package rest

import (
	"net/http"
	"strings"
	"testing"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// TestCORSPreflights sends, to every documented path of the API and the
// image bytes, mounted behind the CORS middleware as the server mounts
// them, a preflight of the allowed origin, one of another origin, and an
// OPTIONS that is no preflight; every exchange is checked against the
// OpenAPI document.
func TestCORSPreflights(t *testing.T) {
	api := newTestAPI(t, testkit.OpenStore(t, dbtest.SQLiteURL(t)), apiOptions{})
	preflight := func(origin string) map[string]string {
		return map[string]string{"Origin": origin, "Access-Control-Request-Method": http.MethodPatch,
			"Access-Control-Request-Headers": "authorization,content-type,if-match"}
	}
	tests := []struct {
		name        string
		headers     map[string]string
		status      int
		allowOrigin string
	}{
		{"preflight of the allowed origin", preflight(testOrigin), http.StatusNoContent, testOrigin},
		{"preflight of another origin", preflight("https://other.example.test"), http.StatusNoContent, ""},
		{"OPTIONS that is no preflight", map[string]string{"Origin": testOrigin}, http.StatusMethodNotAllowed, testOrigin},
	}
	paths := contract().doc.Paths.InMatchingOrder()
	if len(paths) == 0 {
		t.Fatal("no documented paths")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range paths {
				concrete := strings.NewReplacer("{id}", "1", "{slug}", "a-slug", "{url_hash}", strings.Repeat("0", 64)).Replace(path)
				r := api.do(req{method: http.MethodOptions, path: concrete, headers: tt.headers})
				if r.status != tt.status || r.header.Get("Access-Control-Allow-Origin") != tt.allowOrigin {
					t.Errorf("OPTIONS %s = %d with Access-Control-Allow-Origin %q, want %d and %q",
						path, r.status, r.header.Get("Access-Control-Allow-Origin"), tt.status, tt.allowOrigin)
				}
			}
		})
	}
}
