package main

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"marquee/demo"
	"marquee/internal/testkit"
	"marquee/server"
)

// demoWaitLimit bounds the wait for the demo's performers and images: far
// beyond what they take, so that a loaded machine never fails the test. The
// test asserts what is served, never how soon.
const demoWaitLimit = 5 * time.Minute

// TestRunDemo starts `marquee run --demo` on an empty data dir, with
// environment variables that would send it to a real feed, a database and
// any network: it ignores them, serves the generated performers with their
// images cached from the demo source alone, and its playground opens on a
// query that shows them.
func TestRunDemo(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data-demo")
	stderr := &testkit.SyncBuffer{}
	serving := make(chan net.Addr, 1)
	exit := make(chan int, 1)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	env := environment{
		stdout: io.Discard,
		stderr: stderr,
		lookupEnv: envFrom(map[string]string{
			"MARQUEE_FEED_URL":              "http://192.0.2.1/feed.json",
			"MARQUEE_DB":                    "mysql://marquee:secret@127.0.0.1:1/marquee",
			"MARQUEE_IMAGES_ALLOW_NETWORKS": "0.0.0.0/0",
		}),
		serverStarting: func(srv *server.Server) { serving <- srv.Addr() },
	}
	go func() {
		exit <- run(ctx, []string{"run", "--demo", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0"}, env)
	}()
	var baseURL string
	select {
	case addr := <-serving:
		baseURL = "http://" + addr.String()
	case code := <-exit:
		t.Fatalf("marquee run --demo exited %d before serving; stderr:\n%s", code, stderr)
	case <-time.After(waitLimit):
		t.Fatalf("marquee run --demo did not start serving; stderr:\n%s", stderr)
	}

	ignored := logLine(t, stderr.String(), "demo: these environment variables do not apply, the demo keeps to its own data dir and feed")
	if got, _ := json.Marshal(ignored["ignored"]); string(got) != `["MARQUEE_DB","MARQUEE_FEED_URL","MARQUEE_IMAGES_ALLOW_NETWORKS"]` {
		t.Errorf("ignored variables %s, want MARQUEE_DB, MARQUEE_FEED_URL and MARQUEE_IMAGES_ALLOW_NETWORKS", got)
	}
	recorded, err := os.ReadFile(filepath.Join(dataDir, demo.AddrFile))
	if err != nil {
		t.Fatal(err)
	}
	sourceAddr := strings.TrimSpace(string(recorded))
	if !strings.HasPrefix(sourceAddr, "127.0.0.1:") {
		t.Fatalf("the demo source listens on %q, want 127.0.0.1", sourceAddr)
	}

	// The first page, best ranked first, once more than 1,000 performers are
	// served and every image of the page is cached.
	page := waitForDemoPage(t, baseURL, stderr)
	imagePrefix := "http://" + sourceAddr + demo.ImagePrefix
	for _, p := range page.Data {
		for _, th := range p.Thumbnails {
			if !strings.HasPrefix(th.Image.SourceURL, imagePrefix) {
				t.Errorf("%s: image source %s is not the demo source's %s", p.Name, th.Image.SourceURL, imagePrefix)
			}
		}
	}

	// Every distinct image of the page is served at its /images/{url_hash}:
	// the bytes the demo source made for its URL.
	served := map[string]bool{}
	for _, p := range page.Data {
		for _, th := range p.Thumbnails {
			if served[th.URLHash] {
				continue
			}
			served[th.URLHash] = true
			if th.Image.URL != "/images/"+th.URLHash {
				t.Errorf("%s: image url %q, want /images/%s", p.Name, th.Image.URL, th.URLHash)
			}
			source, err := url.Parse(th.Image.SourceURL)
			if err != nil {
				t.Fatal(err)
			}
			code, contentType, body := get(t, baseURL+th.Image.URL)
			if code != http.StatusOK || contentType != "image/jpeg" || !bytes.Equal([]byte(body), demo.Image(source.Path)) {
				t.Errorf("GET %s = %d %s (%d bytes), want 200 image/jpeg with the demo image of %s", th.Image.URL, code, contentType, len(body), source.Path)
			}
		}
	}

	// The feed came from the demo source, too.
	code, _, body := get(t, baseURL+"/api/v1/feed-runs")
	var runs struct {
		Data []struct {
			Status string `json:"status"`
			Source string `json:"source"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &runs); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/v1/feed-runs = %d %v: %s", code, err, body)
	}
	wantSource := "http://" + sourceAddr + demo.FeedPath
	if len(runs.Data) != 1 || runs.Data[0].Status != "completed" || runs.Data[0].Source != wantSource {
		t.Errorf("feed runs %+v, want one completed run of %s", runs.Data, wantSource)
	}

	checkDemoPlayground(t, baseURL, page)

	stop()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("marquee run --demo exited %d, want 0; stderr:\n%s", code, stderr)
		}
	case <-time.After(waitLimit):
		t.Fatal("marquee run --demo did not exit after its context ended")
	}
}

// demoPage is a page of GET /api/v1/pornstars, as far as the demo test reads it.
type demoPage struct {
	Total int64 `json:"total"`
	Data  []struct {
		Name       string `json:"name"`
		Thumbnails []struct {
			URLHash string `json:"url_hash"`
			Image   struct {
				Status    string `json:"status"`
				URL       string `json:"url"`
				SourceURL string `json:"source_url"`
			} `json:"image"`
		} `json:"thumbnails"`
	} `json:"data"`
}

// waitForDemoPage polls the first page of performers until the total is over
// 1,000 and every thumbnail of the page is cached, and returns that page.
func waitForDemoPage(t *testing.T, baseURL string, stderr *testkit.SyncBuffer) demoPage {
	t.Helper()
	var page demoPage
	var last string
	deadline := time.Now().Add(demoWaitLimit)
	for time.Now().Before(deadline) {
		code, _, body := get(t, baseURL+"/api/v1/pornstars?limit=100")
		if code == http.StatusOK && json.Unmarshal([]byte(body), &page) == nil {
			thumbnails, cached := 0, 0
			for _, p := range page.Data {
				for _, th := range p.Thumbnails {
					thumbnails++
					if th.Image.Status == "cached" {
						cached++
					}
				}
			}
			if page.Total > 1000 && thumbnails > 0 && cached == thumbnails {
				return page
			}
			last = body
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(last) > 2000 {
		last = last[:2000] + "..."
	}
	t.Fatalf("the demo did not serve over 1,000 performers with cached images; last page:\n%s\nstderr:\n%s", last, stderr)
	return page
}

// checkDemoPlayground runs the query /playground/ opens on: it answers the
// demo's performers, best ranked first, with their cached images.
func checkDemoPlayground(t *testing.T, baseURL string, page demoPage) {
	t.Helper()
	code, _, body := get(t, baseURL+"/playground/")
	attr := regexp.MustCompile(`data-default-query="([^"]*)"`).FindStringSubmatch(body)
	if code != http.StatusOK || attr == nil {
		t.Fatalf("GET /playground/ = %d without a query to open on:\n%s", code, body)
	}
	request, _ := json.Marshal(map[string]string{"query": html.UnescapeString(attr[1])})
	resp, err := http.Post(baseURL+"/graphql", "application/json", bytes.NewReader(request))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Data struct {
			Pornstars struct {
				TotalCount int64
				Nodes      []struct {
					Name       string
					Thumbnails []struct{ Image struct{ Status, URL string } }
				}
			}
		}
		Errors []json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || len(answer.Errors) > 0 {
		t.Fatalf("the playground's query: %v %s", err, answer.Errors)
	}
	got := answer.Data.Pornstars
	if got.TotalCount != page.Total || len(got.Nodes) == 0 {
		t.Fatalf("the playground's query answered %d performers (%d on the page), want %d", got.TotalCount, len(got.Nodes), page.Total)
	}
	for i, node := range got.Nodes {
		if node.Name != page.Data[i].Name {
			t.Errorf("the playground's performer %d is %q, REST's is %q", i, node.Name, page.Data[i].Name)
		}
		for _, th := range node.Thumbnails {
			if th.Image.Status != "CACHED" || !strings.HasPrefix(th.Image.URL, "/images/") {
				t.Errorf("%s: image %+v, want CACHED at /images/...", node.Name, th.Image)
			}
		}
	}
}

// TestRunDemoRefuses: settings that contradict the demo are usage errors,
// reported before anything starts.
func TestRunDemoRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a feed", []string{"--feed-url", "https://example.com/feed.json"}, "--demo serves its own feed and fetches images only from it: drop --feed-url"},
		{"networks for the compactor", []string{"--images-allow-networks", "127.0.0.0/8"}, "drop --images-allow-networks"},
		{"private networks for the compactor", []string{"--images-allow-private-networks"}, "drop --images-allow-private-networks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data-demo")
			args := append([]string{"run", "--demo", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--kafka-addr", "127.0.0.1:0"}, tt.args...)
			code, _, stderr := runCLI(t.Context(), nil, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("run --demo %v = %d %q, want 2 saying %q", tt.args, code, stderr, tt.want)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("the refused run made its data dir (%v)", err)
			}
		})
	}
}
