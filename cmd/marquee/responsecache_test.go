package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/ingest/ingesttest"
	"marquee/internal/samples"
	"marquee/internal/testkit"
	"marquee/server"
)

// cacheRead is one read a client repeats.
type cacheRead struct {
	name, method, path, body string
	header                   map[string]string
}

// cacheAnswer is what a client sees of one answer.
type cacheAnswer struct {
	status int
	header http.Header
	body   string
}

// TestResponseCache runs both APIs as `run` and `api` mount them, with the
// response cache on, and checks what clients see: a repeated read is
// answered from the cache with the same status, headers and bytes; every
// kind of write (either API, the loader's upserts, image outcomes, another
// process's store) shows in the next identical read; roles and codings get
// their own answers; a bad token is refused every time; HEAD and
// If-None-Match are answered from a kept GET; hits are counted under
// the route that made the answer.
func TestResponseCache(t *testing.T) {
	const (
		writeToken = "response-cache-write-token-0123"
		readToken  = "response-cache-read-token-01234"
	)
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			url := backend.URL(t)
			store := testkit.OpenStore(t, url)
			sample := ingesttest.ReadFeed(t, samples.Head.Path(t))
			samples.SeedCopies(t, store, sample, 3)
			files, err := imaging.OpenFileStore(filepath.Join(t.TempDir(), "images"))
			if err != nil {
				t.Fatal(err)
			}
			srv := server.New(server.Options{})
			cfg := Config{APITokens: writeToken + "," + readToken + ":read", ResponseCacheBytes: 4 << 20}
			if err := mountAPI(srv, cfg, store, files, slog.New(slog.DiscardHandler), environment{}, false); err != nil {
				t.Fatal(err)
			}
			api := httptest.NewServer(srv.Handler())
			t.Cleanup(api.Close)
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: time.Minute}
			send := func(rd cacheRead) cacheAnswer {
				t.Helper()
				req, _ := http.NewRequest(rd.method, api.URL+rd.path, strings.NewReader(rd.body))
				if rd.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range rd.header {
					req.Header.Set(k, v)
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
				return cacheAnswer{res.StatusCode, res.Header, string(b)}
			}
			hitsRE := regexp.MustCompile(`(?m)^marquee_response_cache_lookups_total\{result="hit"\} (\d+)$`)
			hits := func() int {
				t.Helper()
				m := hitsRE.FindStringSubmatch(send(cacheRead{method: http.MethodGet, path: "/metrics"}).body)
				if m == nil {
					return 0
				}
				n, _ := strconv.Atoi(m[1])
				return n
			}
			// sendCounting sends rd and reports whether the cache answered.
			sendCounting := func(rd cacheRead) (cacheAnswer, bool) {
				t.Helper()
				before := hits()
				a := send(rd)
				return a, hits() > before
			}
			first, err := store.GetByFeedID(context.Background(), sample[0].FeedID)
			if err != nil {
				t.Fatal(err)
			}
			second, err := store.GetByFeedID(context.Background(), sample[1].FeedID)
			if err != nil {
				t.Fatal(err)
			}
			bearer := func(token string) map[string]string { return map[string]string{"Authorization": "Bearer " + token} }
			restList := cacheRead{name: "REST list", method: http.MethodGet, path: "/api/v1/pornstars?sort=name&limit=50"}
			restOne := cacheRead{name: "REST one", method: http.MethodGet, path: fmt.Sprintf("/api/v1/pornstars/%d", first.ID)}
			gqlList := cacheRead{name: "GraphQL list", method: http.MethodPost, path: "/graphql",
				body: `{"query":"{ pornstars(first: 50) { edges { node { id name thumbnails { image { status } } } } } }"}`}

			t.Run("a hit is the answer", func(t *testing.T) {
				for _, rd := range []cacheRead{restList, restOne, gqlList} {
					for _, coding := range []string{"", "gzip", "zstd", "br"} {
						rd := rd
						rd.header = map[string]string{"Accept-Encoding": coding}
						made, _ := sendCounting(rd)
						kept, hit := sendCounting(rd)
						if made.status != http.StatusOK || !hit {
							t.Fatalf("%s %q: status %d, second answer from the cache %v; want 200 and a hit", rd.name, coding, made.status, hit)
						}
						if kept.body != made.body {
							t.Errorf("%s %q: the kept answer's bytes differ from the made one's", rd.name, coding)
						}
						for _, h := range []string{"Content-Type", "Content-Encoding", "Vary", "ETag", "Content-Length"} {
							if strings.Join(kept.header[h], ", ") != strings.Join(made.header[h], ", ") {
								t.Errorf("%s %q: %s %q from the cache, %q made", rd.name, coding, h, kept.header[h], made.header[h])
							}
						}
					}
				}
			})

			t.Run("roles and codings are kept apart", func(t *testing.T) {
				variants := []struct {
					name   string
					header map[string]string
				}{
					{"anonymous identity", map[string]string{}},
					{"anonymous gzip", map[string]string{"Accept-Encoding": "gzip"}},
					{"read token", bearer(readToken)},
					{"write token", bearer(writeToken)},
				}
				// Reads no other subtest sends.
				for _, rd := range []cacheRead{
					{name: "REST", method: http.MethodGet, path: fmt.Sprintf("/api/v1/pornstars/%d/aliases", first.ID)},
					{name: "GraphQL", method: http.MethodPost, path: "/graphql", body: `{"query":"{ pornstars(first: 2) { edges { node { name } } } }"}`},
				} {
					for _, v := range variants {
						rd.header = v.header
						if a, hit := sendCounting(rd); hit || a.status != http.StatusOK {
							t.Errorf("%s, %s first: status %d, from the cache %v; want 200 made by the API", rd.name, v.name, a.status, hit)
						}
					}
					for _, v := range variants {
						rd.header = v.header
						if a, hit := sendCounting(rd); !hit || a.status != http.StatusOK {
							t.Errorf("%s, %s again: status %d, from the cache %v; want 200 from the cache", rd.name, v.name, a.status, hit)
						}
					}
				}
			})

			t.Run("a bad token is never answered from the cache", func(t *testing.T) {
				for _, rd := range []cacheRead{restList, gqlList} {
					send(rd) // kept for anonymous callers
					rd.header = bearer("not-a-token-of-this-server")
					for range 2 {
						if a, hit := sendCounting(rd); a.status != http.StatusUnauthorized || hit {
							t.Errorf("%s with a bad token: status %d, from the cache %v; want 401 made by the API", rd.name, a.status, hit)
						}
					}
				}
			})

			t.Run("HEAD and If-None-Match", func(t *testing.T) {
				for _, coding := range []string{"", "gzip"} {
					rd := restOne
					rd.header = map[string]string{"Accept-Encoding": coding}
					made := send(rd)
					head := rd
					head.method = http.MethodHead
					if a, hit := sendCounting(head); a.status != http.StatusOK || !hit || a.body != "" || a.header.Get("ETag") == "" {
						t.Errorf("HEAD %q: status %d, hit %v, body %d bytes, ETag %q; want 200 from the cache, no body, an ETag",
							coding, a.status, hit, len(a.body), a.header.Get("ETag"))
					}
					cond := rd
					cond.header = map[string]string{"Accept-Encoding": coding, "If-None-Match": made.header.Get("ETag")}
					if a, hit := sendCounting(cond); a.status != http.StatusNotModified || !hit || a.body != "" || a.header.Get("ETag") != made.header.Get("ETag") {
						t.Errorf("If-None-Match %q: status %d, hit %v, body %d bytes, ETag %q; want 304 from the cache with ETag %q",
							coding, a.status, hit, len(a.body), a.header.Get("ETag"), made.header.Get("ETag"))
					}
					cond.header["If-None-Match"] = `"another"`
					if a := send(cond); a.status != http.StatusOK || a.body != made.body {
						t.Errorf("If-None-Match of another ETag %q: status %d; want the whole answer", coding, a.status)
					}
				}
			})

			// Every answer so far was a read, most of them from the cache.
			t.Run("hits name their route", func(t *testing.T) {
				metrics := send(cacheRead{method: http.MethodGet, path: "/metrics"}).body
				for _, line := range strings.Split(metrics, "\n") {
					if strings.HasPrefix(line, "marquee_http_requests_total{") && strings.Contains(line, `route="/api/v1/pornstars/{id}"`) {
						t.Logf("%s", line)
					}
					if strings.HasPrefix(line, "marquee_http_requests_total{") && strings.Contains(line, `route="/api/v1/"`) &&
						(strings.Contains(line, `code="200"`) || strings.Contains(line, `code="304"`)) {
						t.Errorf("a REST answer is counted under the API's prefix, not its route: %s", line)
					}
				}
			})

			renamed := func(p db.Profile, name string) db.Profile {
				p.Name = name
				p.ContentHash = ""
				return p
			}
			other := testkit.OpenStore(t, url) // another process's store on the same database
			var posted string                  // the path of the performer the REST POST made
			writes := []struct {
				name  string
				write func(t *testing.T)
				read  cacheRead
				want  string // in the next answer
				gone  string // no longer in the next answer
			}{
				{
					name: "REST POST",
					write: func(t *testing.T) {
						rd := cacheRead{method: http.MethodPost, path: "/api/v1/pornstars", body: `{"name":"Posted Performer"}`, header: bearer(writeToken)}
						a := send(rd)
						if a.status != http.StatusCreated {
							t.Fatalf("POST: status %d: %s", a.status, a.body)
						}
						var created struct{ ID int64 }
						if err := json.Unmarshal([]byte(a.body), &created); err != nil || created.ID == 0 {
							t.Fatalf("POST: no id in %s (%v)", a.body, err)
						}
						posted = fmt.Sprintf("/api/v1/pornstars/%d", created.ID)
					},
					read: restList, want: "Posted Performer",
				},
				{
					name: "REST PATCH",
					write: func(t *testing.T) {
						rd := cacheRead{method: http.MethodPatch, path: restOne.path, body: `{"name":"Patched Performer"}`,
							header: map[string]string{"Authorization": "Bearer " + writeToken, "Content-Type": "application/merge-patch+json"}}
						if a := send(rd); a.status != http.StatusOK {
							t.Fatalf("PATCH: status %d: %s", a.status, a.body)
						}
					},
					read: restOne, want: "Patched Performer",
				},
				{
					name: "GraphQL mutation",
					write: func(t *testing.T) {
						body, _ := json.Marshal(map[string]any{
							"query":     `mutation($id: ID!) { updatePornstar(id: $id, input: {name: "Mutated Performer"}) { name } }`,
							"variables": map[string]any{"id": globalID(t, send(gqlList).body, "Patched Performer")},
						})
						rd := cacheRead{method: http.MethodPost, path: "/graphql", body: string(body), header: bearer(writeToken)}
						if a := send(rd); a.status != http.StatusOK || strings.Contains(a.body, `"errors"`) {
							t.Fatalf("mutation: status %d: %s", a.status, a.body)
						}
					},
					read: gqlList, want: "Mutated Performer", gone: "Patched Performer",
				},
				{
					name: "loader's UpsertProfiles",
					write: func(t *testing.T) {
						if _, err := store.UpsertProfiles(context.Background(), []db.Profile{renamed(sample[1], "Loaded Performer")}); err != nil {
							t.Fatal(err)
						}
					},
					read: cacheRead{name: "REST second", method: http.MethodGet, path: fmt.Sprintf("/api/v1/pornstars/%d", second.ID)},
					want: "Loaded Performer",
				},
				{
					name: "UpsertImages",
					write: func(t *testing.T) {
						later, msg := time.Now().Add(time.Hour).UTC(), "gone upstream"
						th := sample[1].Thumbnails[0]
						st := db.ImageState{URLHash: th.URLHash, URL: th.URL, Status: db.ImageFailed, Attempts: 2, Error: &msg, FetchedAt: &later}
						if err := store.UpsertImages(context.Background(), []db.ImageState{st}); err != nil {
							t.Fatal(err)
						}
					},
					read: gqlList, want: `"FAILED"`,
				},
				{
					name: "another store's write",
					write: func(t *testing.T) {
						if _, err := other.UpsertProfiles(context.Background(), []db.Profile{renamed(sample[1], "Elsewhere Performer")}); err != nil {
							t.Fatal(err)
						}
					},
					read: gqlList, want: "Elsewhere Performer", gone: "Loaded Performer",
				},
				{
					name: "another store's new performer",
					write: func(t *testing.T) {
						if _, err := other.UpsertProfiles(context.Background(), []db.Profile{renamed(sample[3], "Joined Performer")}); err != nil {
							t.Fatal(err)
						}
					},
					// Three seeded, one posted, one joined: the total is
					// counted again, not the one kept for the older data.
					read: restList, want: `"total":5`,
				},
				{
					name: "REST DELETE",
					write: func(t *testing.T) {
						if posted == "" {
							t.Fatal("the REST POST made no performer")
						}
						rd := cacheRead{method: http.MethodDelete, path: posted, header: bearer(writeToken)}
						if a := send(rd); a.status != http.StatusNoContent {
							t.Fatalf("DELETE: status %d: %s", a.status, a.body)
						}
					},
					read: restList, gone: "Posted Performer",
				},
			}
			for _, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					send(w.read)
					if before, hit := sendCounting(w.read); !hit || w.want != "" && strings.Contains(before.body, w.want) {
						t.Fatalf("before the write: from the cache %v, answer has %q already: %v", hit, w.want, strings.Contains(before.body, w.want))
					}
					w.write(t)
					after := send(w.read)
					if after.status != http.StatusOK || !strings.Contains(after.body, w.want) || w.gone != "" && strings.Contains(after.body, w.gone) {
						t.Errorf("after the write: status %d, want %q in it, %q not: %s", after.status, w.want, w.gone, after.body)
					}
				})
			}
		})
	}
}

// globalID returns the GraphQL id of the performer named name in a list
// answer.
func globalID(t *testing.T, body, name string) string {
	t.Helper()
	var doc struct {
		Data struct {
			Pornstars struct {
				Edges []struct {
					Node struct{ ID, Name string }
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc.Data.Pornstars.Edges {
		if e.Node.Name == name {
			return e.Node.ID
		}
	}
	t.Fatalf("no performer %q in %s", name, body)
	return ""
}

// TestResponseCacheAcrossAPIProcesses runs two `marquee api` processes on
// one database, each with its response cache, as a deployment scales the
// API out: a write through one shows in the very next read through the
// other, whose cache held the older answer (no replica here, so no lag).
func TestResponseCacheAcrossAPIProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the binary")
	}
	binary := buildMarquee(t)
	const token = "two-processes-write-token-0123"
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			url := backend.URL(t)
			testkit.OpenStore(t, url) // migrated before both start
			client := &http.Client{Timeout: time.Minute}
			var bases []string
			for range 2 {
				addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
				p := startProcess(t, binary, "api", "--db", url, "--data-dir", t.TempDir(), "--http-addr", addr,
					"--api-tokens", token, "--api-rate-limit", "0", "--kafka-brokers", "127.0.0.1:1", "--log-format", "json")
				waitReady(t, client, "http://"+addr, p)
				bases = append(bases, "http://"+addr)
			}
			reader, writer := bases[0], bases[1]
			send := func(base, method, path, body string) (int, http.Header, string) {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if method != http.MethodGet && !strings.HasPrefix(path, "/graphql") {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, res.Header, string(b)
			}
			hitsRE := regexp.MustCompile(`(?m)^marquee_response_cache_lookups_total\{result="hit"\} (\d+)$`)
			hits := func() int {
				_, _, metrics := send(reader, http.MethodGet, "/metrics", "")
				m := hitsRE.FindStringSubmatch(metrics)
				if m == nil {
					return 0
				}
				n, _ := strconv.Atoi(m[1])
				return n
			}
			code, _, body := send(writer, http.MethodPost, "/api/v1/pornstars", `{"name":"Written Through B"}`)
			if code != http.StatusCreated {
				t.Fatalf("create through B = %d %s", code, body)
			}
			var created struct{ ID int64 }
			if err := json.Unmarshal([]byte(body), &created); err != nil {
				t.Fatal(err)
			}
			const list = "/api/v1/pornstars?sort=name&limit=50"
			const graphql = `{"query":"{ pornstars(first: 50) { edges { node { name } } } }"}`
			for round, want := range []string{"Written Through B", "Renamed Through B", ""} {
				// Each read twice through A, the second from its cache.
				before := hits()
				for range 2 {
					_, _, restBody := send(reader, http.MethodGet, list, "")
					_, _, graphqlBody := send(reader, http.MethodPost, "/graphql", graphql)
					for name, got := range map[string]string{"REST": restBody, "GraphQL": graphqlBody} {
						if want != "" && !strings.Contains(got, want) || want == "" && strings.Contains(got, "Through B") {
							t.Fatalf("round %d: %s list through A = %.300s, want it to show %q as B left it", round, name, got, want)
						}
					}
				}
				if got := hits() - before; got != 2 {
					t.Fatalf("round %d: A's cache answered %d of the repeated reads, want 2: the test would not show staleness", round, got)
				}
				switch round {
				case 0:
					code, _, body = send(writer, http.MethodPatch, fmt.Sprintf("/api/v1/pornstars/%d", created.ID), `{"name":"Renamed Through B"}`)
				case 1:
					code, _, body = send(writer, http.MethodDelete, fmt.Sprintf("/api/v1/pornstars/%d", created.ID), "")
				}
				if round < 2 && code >= 300 {
					t.Fatalf("write %d through B = %d %s", round, code, body)
				}
			}
		})
	}
}
