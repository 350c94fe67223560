package graph_test

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"marquee/db"
	"marquee/graph"
	"marquee/internal/testkit"
)

// harnessPage opens the playground in a window of its own (the playground
// refuses to be framed, even by its own origin), clicks GraphiQL's run button
// once the editor is up, and posts the result pane's text to /report once it
// shows data. Only this test serves it.
const harnessPage = `<!doctype html>
<html><body>
<script>
var pg = window.open('PLAYGROUND', 'playground', 'width=1200,height=800');
var lastClick = 0;
function poll() {
  var doc = null;
  try { doc = pg && pg.document; } catch (e) {}
  var pane = doc && doc.querySelector('.result-window');
  if (lastClick && pane && pane.textContent.indexOf('"data"') >= 0) {
    fetch('/report', {method: 'POST', body: pane.textContent});
    return;
  }
  // The button can be there before GraphiQL listens to it: click again
  // every second until a result shows.
  var button = doc && doc.querySelector('.graphiql-execute-button');
  if (button && Date.now() - lastClick > 1000) { lastClick = Date.now(); button.click(); }
  setTimeout(poll, 100);
}
poll();
</script>
</body></html>`

// TestPlaygroundInBrowser opens /playground in headless Chromium with every
// host but 127.0.0.1 unreachable, runs the query it opens on (the one in the
// address, else its own) and reads the result from the page: the embedded
// GraphiQL works with no internet access. It needs Debian's chromium;
// without it the test skips, except under CI=true.
func TestPlaygroundInBrowser(t *testing.T) {
	chromium := testkit.Chromium(t)
	s := testkit.OpenStore(t, dbtestSQLite(t))
	loadFixture(t, s)
	tests := []struct {
		name       string
		playground string   // the address the page opens
		want       []string // in the result pane's first screen (it draws no more)
	}{
		{"query in the address", "/playground/?query=" + url.QueryEscape(`{ pornstarByFeedId(feedId: 1) { name aliases } }`),
			[]string{`"name": "Alpha Star"`, `"Ally"`, `"A. Star"`}},
		{"the query it opens on", "/playground/",
			[]string{`"totalCount": 6`, `"name": "Alpha Star"`, `"status": "CACHED"`, `"url": "/images/` + hashAlpha + `"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			result, requested := runPlayground(t, chromium, s, tt.playground)
			t.Logf("GraphiQL shows: %s", strings.Join(strings.Fields(result), " "))
			for _, want := range tt.want {
				if !strings.Contains(result, want) {
					t.Errorf("the result lacks %s: %s", want, result)
				}
			}
			seen := strings.Join(requested, "\n")
			for _, want := range []string{"GET /playground/", "GET /playground/graphiql.min.js", "POST /graphql"} {
				if !strings.Contains(seen, want) {
					t.Errorf("the browser did not request %s; requests:\n%s", want, seen)
				}
			}
		})
	}
}

// runPlayground serves the playground over s and opens it at address in
// Chromium, inside the harness page; it returns what GraphiQL's result pane
// showed and the requests the browser made.
func runPlayground(t *testing.T, chromium string, s *db.Store, address string) (result string, requested []string) {
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.Handle("/graphql", graph.NewHandler(graph.Options{Store: s, Introspection: true}))
	mux.Handle("/playground/", graph.Playground("/graphql"))
	reports := make(chan string, 1)
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case reports <- string(body):
		default:
		}
	})
	mux.HandleFunc("/harness", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(harnessPage, "PLAYGROUND", template.JSEscapeString(address), 1)))
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requested = append(requested, r.Method+" "+r.URL.Path)
		mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	defer srv.Close()

	// Chromium itself sometimes crashes at start on a loaded machine (a
	// segmentation fault before it loads anything): such a crash is
	// retried, twice at most; anything else fails the test.
	for attempt := 1; ; attempt++ {
		var err error
		result, err = testkit.RunChromium(t, chromium, srv.URL+"/harness", reports)
		if err == nil {
			break
		}
		if errors.Is(err, testkit.ErrNoReport) || attempt == 3 {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("%v; requests: %v", err, requested)
		}
		t.Logf("attempt %d: %v; trying again", attempt, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return result, append([]string(nil), requested...)
}
