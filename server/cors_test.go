package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"marquee/server"
)

func TestParseCORSOrigins(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    string // String() of the result
		wantErr string // in the error
	}{
		{"empty", "", "", ""},
		{"only commas and spaces", " , ,", "", ""},
		{"any", "*", "*", ""},
		{"exact origins, sorted and deduplicated", "https://www.example.test, http://127.0.0.1:8081,https://www.example.test",
			"http://127.0.0.1:8081,https://www.example.test", ""},
		{"IPv6 host", "http://[::1]:3000", "http://[::1]:3000", ""},
		{"any with a list", "*,https://a.example.test", "", `give it alone`},
		{"trailing slash", "https://www.example.test/", "", "write https://www.example.test"},
		{"path", "https://www.example.test/app", "", "no path"},
		{"query", "https://www.example.test?x=1", "", "no path, query or fragment"},
		{"fragment", "https://www.example.test#top", "", "no path, query or fragment"},
		{"no scheme", "www.example.test", "", "is not an origin"},
		{"other scheme", "ftp://files.example.test", "", "is not an origin"},
		{"the null origin", "null", "", "is not an origin"},
		{"user info", "https://me@www.example.test", "", "no user name"},
		{"upper case", "https://WWW.Example.test", "", "write https://www.example.test"},
		{"default port", "https://www.example.test:443", "", "write https://www.example.test"},
		{"empty port", "http://127.0.0.1:", "", "port is empty"},
		{"port out of range", "http://127.0.0.1:70000", "", "from 1 to 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := server.ParseCORSOrigins(tt.list)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseCORSOrigins(%q) = %v, want an error containing %q", tt.list, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCORSOrigins(%q): %v", tt.list, err)
			}
			if got := c.String(); got != tt.want {
				t.Errorf("ParseCORSOrigins(%q) = %q, want %q", tt.list, got, tt.want)
			}
		})
	}
}

// TestCORS sends preflights and actual requests through the middleware in
// front of a handler that answers like the APIs do when they refuse: a
// preflight must never reach it.
func TestCORS(t *testing.T) {
	const (
		listed   = "https://www.example.test"
		unlisted = "https://evil.example.test"
	)
	// next stands for an API behind its rate limit: it refuses OPTIONS
	// as the APIs do and answers everything else with an ETag.
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("ETag", `"1"`)
		w.WriteHeader(http.StatusOK)
	})
	preflight := func(origin string) *http.Request {
		r := httptest.NewRequest(http.MethodOptions, "/api/v1/pornstars/1", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", http.MethodPatch)
		r.Header.Set("Access-Control-Request-Headers", "authorization,content-type,if-match")
		return r
	}
	actual := func(origin string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pornstars/1", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		return r
	}
	plainOptions := httptest.NewRequest(http.MethodOptions, "/api/v1/pornstars/1", nil)
	plainOptions.Header.Set("Origin", listed)

	const none = "" // the header is absent
	tests := []struct {
		name    string
		origins string
		req     *http.Request
		status  int
		headers map[string]string // want; none for absent
	}{
		{"preflight of a listed origin", listed + ",http://127.0.0.1:8081", preflight(listed), http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":      listed,
			"Access-Control-Allow-Methods":     "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, If-Match, If-None-Match",
			"Access-Control-Max-Age":           "7200",
			"Access-Control-Allow-Credentials": none,
			"Vary":                             "Origin",
			"Allow":                            none, // next never saw it
		}},
		{"preflight of an unlisted origin", listed, preflight(unlisted), http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":  none,
			"Access-Control-Allow-Methods": none,
			"Access-Control-Allow-Headers": none,
			"Vary":                         "Origin",
		}},
		{"preflight with any origin", "*", preflight(unlisted), http.StatusNoContent, map[string]string{
			"Access-Control-Allow-Origin":      "*",
			"Access-Control-Allow-Methods":     "GET, HEAD, POST, PUT, PATCH, DELETE",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type, If-Match, If-None-Match",
			"Access-Control-Max-Age":           "7200",
			"Access-Control-Allow-Credentials": none,
			"Vary":                             "Origin",
		}},
		{"actual request of a listed origin", listed, actual(listed), http.StatusOK, map[string]string{
			"Access-Control-Allow-Origin":      listed,
			"Access-Control-Expose-Headers":    "ETag, Link, Location, Retry-After, X-Request-Id",
			"Access-Control-Allow-Credentials": none,
			"Access-Control-Allow-Methods":     none,
			"Vary":                             "Origin",
			"ETag":                             `"1"`,
		}},
		{"actual request of an unlisted origin", listed, actual(unlisted), http.StatusOK, map[string]string{
			"Access-Control-Allow-Origin":   none,
			"Access-Control-Expose-Headers": none,
			"Vary":                          "Origin",
			"ETag":                          `"1"`,
		}},
		{"request without Origin, origins listed", listed, actual(""), http.StatusOK, map[string]string{
			"Access-Control-Allow-Origin": none,
			"Vary":                        "Origin", // a cache may serve it to a page later
			"ETag":                        `"1"`,
		}},
		{"actual request with any origin", "*", actual(unlisted), http.StatusOK, map[string]string{
			"Access-Control-Allow-Origin":      "*",
			"Access-Control-Expose-Headers":    "ETag, Link, Location, Retry-After, X-Request-Id",
			"Access-Control-Allow-Credentials": none,
			"Vary":                             none, // the same answer for every origin
		}},
		{"OPTIONS that is no preflight goes to the handler", listed, plainOptions, http.StatusMethodNotAllowed, map[string]string{
			"Allow":                       "GET, POST",
			"Access-Control-Allow-Origin": listed,
		}},
		{"CORS off: no headers, preflight refused by the handler", "", preflight(listed), http.StatusMethodNotAllowed, map[string]string{
			"Access-Control-Allow-Origin": none,
			"Vary":                        none,
			"Allow":                       "GET, POST",
		}},
		{"CORS off: actual request unchanged", "", actual(listed), http.StatusOK, map[string]string{
			"Access-Control-Allow-Origin": none,
			"Vary":                        none,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cors, err := server.ParseCORSOrigins(tt.origins)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			cors.Wrap(next).ServeHTTP(rec, tt.req)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			for name, want := range tt.headers {
				got := strings.Join(rec.Header().Values(name), ", ")
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
