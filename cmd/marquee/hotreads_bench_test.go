package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/ingest/ingesttest"
	"marquee/internal/benchload"
	"marquee/internal/responsecache"
	"marquee/internal/samples"
	"marquee/internal/testkit"
	"marquee/server"
)

const (
	// hotReadPerformers is the real feed's size.
	hotReadPerformers = 21000
	hotReadClients    = 32
	// hotReadIDs is how many performers the single-performer read cycles
	// through: more than a page, fewer than a cache that holds them all.
	hotReadIDs = 2000
	// browserEncodings is what a browser sends.
	browserEncodings = "gzip, deflate, br, zstd"
)

// hotRead is one kind of read, and the requests of it the clients cycle through.
type hotRead struct {
	name     string
	requests []hotRequest
}

type hotRequest struct {
	method, path, body string
}

// hotReadPages is how many pages of each list the clients cycle through.
const hotReadPages = 40

// hotGraphQLPage is the GraphQL page of 50 a directory asks for.
const hotGraphQLPage = `query Page($after: String) { pornstars(first: 50, after: $after) { totalCount
  pageInfo { hasNextPage endCursor }
  edges { node { id name slug rank views subscriptions aliases thumbnails { type width height url image { status url } } } } } }`

// hotReadKinds are the reads of issue 20's first target: the first
// hotReadPages pages of 50 of the REST list and of GraphQL, and one
// performer by id, as clients walking them ask for them.
func hotReadKinds(b *testing.B, api string, ids []int64) []hotRead {
	one := hotRead{name: "rest-one"}
	for _, id := range ids {
		one.requests = append(one.requests, hotRequest{http.MethodGet, fmt.Sprintf("/api/v1/pornstars/%d", id), ""})
	}
	list := hotRead{name: "rest-list"}
	graphql := hotRead{name: "graphql-page"}
	var restCursor, graphqlCursor *string
	for range hotReadPages {
		path := "/api/v1/pornstars?limit=50"
		if restCursor != nil {
			path += "&cursor=" + *restCursor
		}
		list.requests = append(list.requests, hotRequest{http.MethodGet, path, ""})
		var restPage struct {
			NextCursor *string `json:"next_cursor"`
		}
		hotDecode(b, api, list.requests[len(list.requests)-1], &restPage)
		restCursor = restPage.NextCursor

		body, _ := json.Marshal(map[string]any{"query": hotGraphQLPage, "variables": map[string]any{"after": graphqlCursor}})
		graphql.requests = append(graphql.requests, hotRequest{http.MethodPost, "/graphql", string(body)})
		var graphqlPage struct {
			Data struct {
				Pornstars struct {
					PageInfo struct{ EndCursor *string }
				}
			}
		}
		hotDecode(b, api, graphql.requests[len(graphql.requests)-1], &graphqlPage)
		graphqlCursor = graphqlPage.Data.Pornstars.PageInfo.EndCursor
		if restCursor == nil || graphqlCursor == nil {
			b.Fatal("the lists end before the pages the benchmark walks")
		}
	}
	return []hotRead{list, one, graphql}
}

// hotDecode sends r uncompressed and decodes its JSON answer into v.
func hotDecode(b *testing.B, api string, r hotRequest, v any) {
	req, _ := http.NewRequest(r.method, api+r.path, strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	res, err := hotClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) {
		b.Fatalf("%s %s: %d %v %.300s", r.method, r.path, res.StatusCode, err, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHotReads measures the hot reads as `api` and `run` serve them
// (mountAPI: tokens, CORS, response cache, compression, both APIs) over
// loopback HTTP, with the real feed's number of performers (the head
// sample, copied), 32 clients asking for what a browser asks for (every
// coding), rate limit off, on SQLite and MySQL; with the response cache of
// MARQUEE_RESPONSE_CACHE_BYTES' default and with it off. Beside each, in the
// same run, a server answers the same bytes and headers from a map: the
// ceiling of this machine's HTTP stack and load generator. It prints req/s,
// p99_ms, ceiling_req/s and %_of_ceiling (issue 20's target: at least 50,
// p99 under 20 ms). In the cold row an operation is, through the API with
// the cache and through the one without (each first in turn), a write (one
// performer created, untimed) and the first read of each kind after it, so
// that the two are measured side by side, in the same moments: ns/op is the six
// reads together; p50_ms and p99_ms are of the single reads through the
// cache, each kind's p50 follows, and the same figures without the cache
// end in _uncached.
//
//	scripts/test-mysql.sh go test -run '^$' -bench BenchmarkHotReads ./cmd/marquee/
func BenchmarkHotReads(b *testing.B) {
	if testing.Short() {
		b.Skip("loads 21,000 performers")
	}
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			store := testkit.OpenStore(b, backend.URL(b))
			samples.SeedCopies(b, store, ingesttest.ReadFeed(b, samples.Head.Path(b)), hotReadPerformers)
			ids := hotReadPerformerIDs(b, store)
			caches := []struct {
				name  string
				bytes int64
				api   string
			}{{"cache", responsecache.DefaultMaxBytes, ""}, {"no cache", 0, ""}}
			for i := range caches {
				cache := &caches[i]
				cache.api = startHotReadAPI(b, store, cache.bytes)
				for _, kind := range hotReadKinds(b, cache.api, ids) {
					b.Run(kind.name+"/"+cache.name, func(b *testing.B) {
						ceiling := startMemoryServer(b, cache.api, kind.requests)
						// The API last: b.N follows the last load's speed.
						most := benchload.Run(b, hotReadClients, func(i int) error {
							return hotSend(ceiling, kind.requests[i%len(kind.requests)])
						})
						got := benchload.Run(b, hotReadClients, func(i int) error {
							return hotSend(cache.api, kind.requests[i%len(kind.requests)])
						})
						got.Report(b)
						b.ReportMetric(most.PerSecond, "ceiling_req/s")
						b.ReportMetric(100*got.PerSecond/most.PerSecond, "%_of_ceiling")
					})
				}
			}
			b.Run("cold", func(b *testing.B) {
				kinds := hotReadKinds(b, caches[0].api, ids)
				// byKind[c][k] are the latencies of kind k through caches[c].
				byKind := make([][][]time.Duration, len(caches))
				for c := range caches {
					byKind[c] = make([][]time.Duration, len(kinds))
				}
				b.ResetTimer()
				for w := range b.N {
					for i := range caches {
						// Each first in turn: the second reads what the
						// first's reads left warm.
						c := (i + w) % len(caches)
						cache := caches[c]
						b.StopTimer()
						if _, err := store.Create(context.Background(), db.PornstarInput{PornstarFields: db.PornstarFields{
							Name: fmt.Sprintf("Cold Read %s %d %d", cache.name, b.N, w)}}); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
						for k, kind := range kinds {
							began := time.Now()
							if err := hotSend(cache.api, kind.requests[w%len(kind.requests)]); err != nil {
								b.Fatal(err)
							}
							byKind[c][k] = append(byKind[c][k], time.Since(began))
						}
					}
				}
				b.StopTimer()
				for c, cache := range caches {
					suffix := ""
					if cache.bytes == 0 {
						suffix = "_uncached"
					}
					all := benchload.Result{Latencies: slices.Concat(byKind[c]...)}
					all.Sort()
					b.ReportMetric(benchload.Milliseconds(all.Quantile(0.5)), "p50_ms"+suffix)
					b.ReportMetric(benchload.Milliseconds(all.Quantile(0.99)), "p99_ms"+suffix)
					for k, kind := range kinds {
						one := benchload.Result{Latencies: byKind[c][k]}
						one.Sort()
						b.ReportMetric(benchload.Milliseconds(one.Quantile(0.5)), kind.name+"_p50_ms"+suffix)
					}
				}
			})
		})
	}
}

// hotReadPerformerIDs returns the ids of hotReadIDs performers spread over
// the whole table.
func hotReadPerformerIDs(b *testing.B, store *db.Store) []int64 {
	var ids []int64
	page := db.Page{First: 100}
	for len(ids) < hotReadIDs*5 {
		got, err := store.List(context.Background(), db.Filter{}, nil, page)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range got.Items {
			ids = append(ids, p.ID)
		}
		if !got.HasNextPage || len(got.Cursors) == 0 {
			break
		}
		page.After = got.Cursors[len(got.Cursors)-1]
	}
	spread := make([]int64, 0, hotReadIDs)
	for i := 0; i < len(ids) && len(spread) < hotReadIDs; i += max(1, len(ids)/hotReadIDs) {
		spread = append(spread, ids[i])
	}
	return spread
}

// startHotReadAPI serves both APIs as mountAPI mounts them, with a
// response cache of cacheBytes (0: off) and no rate limit.
func startHotReadAPI(b *testing.B, store *db.Store, cacheBytes int64) string {
	files, err := imaging.OpenFileStore(filepath.Join(b.TempDir(), "images"))
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Options{})
	cfg := Config{ResponseCacheBytes: byteSize(cacheBytes)}
	if err := mountAPI(srv, cfg, store, files, slog.New(slog.DiscardHandler), environment{}, false); err != nil {
		b.Fatal(err)
	}
	api := httptest.NewServer(srv.Handler())
	b.Cleanup(api.Close)
	return api.URL
}

// startMemoryServer answers each of requests with the status, headers and
// bytes the API at base gave for it, from memory.
func startMemoryServer(b *testing.B, base string, requests []hotRequest) string {
	type answer struct {
		header http.Header
		body   []byte
	}
	answers := map[string]answer{}
	for _, r := range requests {
		res, err := hotDo(base, r)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %d %v %.200s", r.method, r.path, res.StatusCode, err, body)
		}
		answers[r.method+" "+r.path+" "+r.body] = answer{res.Header, body}
	}
	memory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
		}
		a, ok := answers[r.Method+" "+r.URL.RequestURI()+" "+string(body)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.Write(a.body)
	}))
	b.Cleanup(memory.Close)
	return memory.URL
}

var hotClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
	DisableCompression: true, MaxIdleConnsPerHost: 2 * hotReadClients}}

func hotDo(base string, r hotRequest) (*http.Response, error) {
	req, err := http.NewRequest(r.method, base+r.path, strings.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept-Encoding", browserEncodings)
	return hotClient.Do(req)
}

// hotSend sends r and reads the whole answer, which must be a 200.
func hotSend(base string, r hotRequest) error {
	return benchload.Drain(hotDo(base, r))
}
