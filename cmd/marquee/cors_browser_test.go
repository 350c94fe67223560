package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"marquee/db/dbtest"
	"marquee/internal/testkit"
	"marquee/server"
)

const corsTestToken = "cors-browser-test-token"

// corsPage is a site's page on its own origin: it reads a performer over
// REST, patches it with its token and the ETag it read, sends a stale
// If-Match, queries GraphQL, and posts what it could read (or how each
// fetch failed) to its own origin's /report.
const corsPage = `<!doctype html>
<html><body><script>
const params = new URLSearchParams(location.search);
const api = params.get('api'), id = params.get('id'), token = params.get('token');
async function call(name, path, init) {
  try {
    const res = await fetch(api + path, init);
    const body = await res.json();
    return {status: res.status, etag: res.headers.get('ETag'), requestId: res.headers.get('X-Request-Id'), body: body};
  } catch (e) {
    return {error: e.name};
  }
}
(async () => {
  const out = {};
  out.get = await call('get', '/api/v1/pornstars/' + id);
  const etag = out.get.etag || '"1"';
  const patch = (tag) => ({method: 'PATCH', body: JSON.stringify({views: 4321}), headers: {
    'Authorization': 'Bearer ' + token, 'Content-Type': 'application/merge-patch+json', 'If-Match': tag}});
  out.patch = await call('patch', '/api/v1/pornstars/' + id, patch(etag));
  out.stale = await call('stale', '/api/v1/pornstars/' + id, patch(etag));
  out.graphql = await call('graphql', '/graphql', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({query: '{ pornstars { nodes { databaseId name views } } }'})});
  await fetch('/report', {method: 'POST', body: JSON.stringify(out)});
})();
</script></body></html>`

// pageCall is one fetch() as the page saw it.
type pageCall struct {
	Error     string          `json:"error"` // the rejection's name; empty when the answer was readable
	Status    int             `json:"status"`
	ETag      string          `json:"etag"`
	RequestID string          `json:"requestId"`
	Body      json.RawMessage `json:"body"`
}

// TestCORSInBrowser serves corsPage from one loopback origin and `marquee
// api` from another, and lets headless Chromium run it: with the page's
// origin listed in --cors-origins the page reads REST and GraphQL answers,
// their ETag and request id, writes with its token and If-Match, and reads
// the 412 of a stale one; with another origin listed every fetch fails as
// a browser fails it, and nothing is written.
func TestCORSInBrowser(t *testing.T) {
	chromium := testkit.Chromium(t)
	reports := make(chan string, 1)
	page := http.NewServeMux()
	page.HandleFunc("GET /site", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, corsPage)
	})
	page.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case reports <- string(body):
		default:
		}
	})
	site := httptest.NewServer(page) // 127.0.0.1, a port of its own
	defer site.Close()

	tests := []struct {
		name    string
		origins string
		allowed bool
	}{
		{"origin listed", "https://www.example.test," + site.URL, true},
		{"any origin", "*", true},
		{"origin not listed", "https://www.example.test,http://127.0.0.1:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startAPICommand(t, "--cors-origins", tt.origins)
			id, etag := createPerformer(t, base)
			address := site.URL + "/site?" + url.Values{"api": {base}, "id": {strconv.FormatInt(id, 10)}, "token": {corsTestToken}}.Encode()
			report, err := testkit.RunChromium(t, chromium, address, reports)
			if err != nil {
				t.Fatal(err)
			}
			var calls map[string]pageCall
			if err := json.Unmarshal([]byte(report), &calls); err != nil {
				t.Fatalf("report %q: %v", report, err)
			}
			t.Logf("the page saw: %s", report)
			if !tt.allowed {
				for _, name := range []string{"get", "patch", "stale", "graphql"} {
					if calls[name].Error != "TypeError" {
						t.Errorf("%s: %+v, want fetch to reject with a TypeError", name, calls[name])
					}
				}
				if _, _, body := get(t, base+"/api/v1/pornstars/"+strconv.FormatInt(id, 10)); !strings.Contains(body, `"views":null`) {
					t.Errorf("the performer after the refused page: %s, want it unchanged", body)
				}
				return
			}
			if c := calls["get"]; c.Status != http.StatusOK || c.ETag != etag || c.RequestID == "" {
				t.Errorf("GET: %+v, want 200 with ETag %s and a request id", c, etag)
			}
			if c := calls["patch"]; c.Status != http.StatusOK || c.ETag == "" || c.ETag == etag || !strings.Contains(string(c.Body), `"views":4321`) {
				t.Errorf("PATCH with If-Match %s: %+v, want 200 with the new views and a new ETag", etag, c)
			}
			if c := calls["stale"]; c.Status != http.StatusPreconditionFailed {
				t.Errorf("PATCH with a stale If-Match: %+v, want a readable 412", c)
			}
			if c := calls["graphql"]; c.Status != http.StatusOK || !strings.Contains(string(c.Body), `"views":4321`) {
				t.Errorf("GraphQL: %+v, want the patched performer", c)
			}
		})
	}
}

// TestCORSPreflightBeforeRateLimit holds that preflights cost no rate
// budget and are answered however spent it is, while the actual request
// that is refused carries what lets the page read its 429 and Retry-After.
func TestCORSPreflightBeforeRateLimit(t *testing.T) {
	const origin = "https://www.example.test"
	// One request per 1,000 s: the first actual request spends the budget.
	base := startAPICommand(t, "--cors-origins", origin, "--api-rate-limit", "0.001")
	send := func(method, path string, headers map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), method, base+path, nil)
		req.Header.Set("Origin", origin)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	preflight := map[string]string{"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,if-match"}
	paths := []string{"/api/v1/pornstars/1", "/graphql", "/images/" + strings.Repeat("ab", 32)}
	tests := []struct {
		name       string
		method     string
		path       string
		headers    map[string]string
		wantStatus int
	}{
		{"preflight of REST", http.MethodOptions, paths[0], preflight, http.StatusNoContent},
		{"preflight of GraphQL", http.MethodOptions, paths[1], preflight, http.StatusNoContent},
		{"preflight of the images", http.MethodOptions, paths[2], preflight, http.StatusNoContent},
		{"the first actual request", http.MethodGet, "/api/v1/pornstars", nil, http.StatusOK},
		{"the budget is spent", http.MethodGet, "/api/v1/pornstars", nil, http.StatusTooManyRequests},
		{"preflight of REST after", http.MethodOptions, paths[0], preflight, http.StatusNoContent},
		{"preflight of GraphQL after", http.MethodOptions, paths[1], preflight, http.StatusNoContent},
		{"images are not limited", http.MethodGet, paths[2], nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := send(tt.method, tt.path, tt.headers)
			if res.StatusCode != tt.wantStatus {
				t.Errorf("%s %s = %d, want %d", tt.method, tt.path, res.StatusCode, tt.wantStatus)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, origin)
			}
			if tt.method == http.MethodOptions {
				if got := res.Header.Get("Access-Control-Allow-Headers"); got != server.CORSAllowHeaders {
					t.Errorf("Access-Control-Allow-Headers = %q", got)
				}
			} else if got := res.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "Retry-After") {
				t.Errorf("Access-Control-Expose-Headers = %q, want Retry-After among them", got)
			}
		})
	}
}

// startAPICommand runs `marquee api` (startAPI) on a fresh SQLite database,
// with corsTestToken as its write token and args added, until the test
// ends, and returns its base URL.
func startAPICommand(t *testing.T, args ...string) string {
	t.Helper()
	return startAPI(t, append([]string{"--db", dbtest.SQLiteURL(t), "--api-tokens", corsTestToken, "--log-format", "json"}, args...)...)
}

// createPerformer makes a performer through REST and returns its id and ETag.
func createPerformer(t *testing.T, base string) (int64, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/api/v1/pornstars", strings.NewReader(`{"name": "Seen From Another Origin"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+corsTestToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var created struct {
		ID int64 `json:"id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d, %v", res.StatusCode, err)
	}
	return created.ID, res.Header.Get("ETag")
}
