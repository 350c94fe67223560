package graph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"marquee/auth"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/graph"
	"marquee/ingest/ingesttest"
	"marquee/internal/benchload"
	"marquee/internal/samples"
	"marquee/internal/testkit"
)

const (
	benchPerformers = 20000
	benchClients    = 32
	benchQuery      = `query Page($after: String) { pornstars(first: 50, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { node { id name rank views subscriptions aliases thumbnails { type width height url image { status url } } } } } }`
)

// BenchmarkGraphQLPage: requests/s and p99 latency of a page of 50
// performers with aliases and thumbnails, 32 concurrent clients walking the
// list by cursor, against MariaDB holding the head fixture multiplied
// to 20,000 performers. "memory" answers the same response bytes from
// memory over the same HTTP stack in the same run: the ceiling of this
// machine, which "graphql" reports its share of. "graphql" reads aliases
// and thumbnails through the store's children cache, as `marquee api` does
// (the walk fills it within its first 400 pages); "graphql-uncached" turns
// the cache off, as after a feed run that changed every performer.
func BenchmarkGraphQLPage(b *testing.B) {
	// The GC target `marquee api` and `marquee run` serve with (apiGCPercent
	// in cmd/marquee), so the numbers are those of the binary.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	s := testkit.OpenStore(b, dbtest.MySQLURL(b))
	samples.SeedCopies(b, s, ingesttest.ReadFeed(b, samples.Head.Path(b)), benchPerformers)
	tokens := &auth.Tokens{}
	api := httptest.NewServer(tokens.Middleware(graph.NewHandler(graph.Options{Store: s})))
	defer api.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients * 2}, Timeout: time.Minute}

	firstPage := fetchPage(b, client, api.URL, "")
	memory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(firstPage)
	}))
	defer memory.Close()

	var ceiling float64
	b.Run("memory", func(b *testing.B) {
		ceiling, _ = load(b, client, memory.URL)
	})
	b.Run("graphql", func(b *testing.B) {
		perSecond, _ := load(b, client, api.URL)
		if ceiling > 0 {
			b.ReportMetric(100*perSecond/ceiling, "%_of_ceiling")
		}
	})
	// The same without the store's children cache: every page reads its
	// aliases and thumbnails (as after a feed run changed every performer).
	uncachedStore := db.NewStore(s.DB())
	uncachedStore.SetChildrenCacheEntries(0)
	uncached := httptest.NewServer(tokens.Middleware(graph.NewHandler(graph.Options{Store: uncachedStore})))
	defer uncached.Close()
	b.Run("graphql-uncached", func(b *testing.B) {
		perSecond, _ := load(b, client, uncached.URL)
		if ceiling > 0 {
			b.ReportMetric(100*perSecond/ceiling, "%_of_ceiling")
		}
	})
}

// load sends b.N requests from benchClients clients, each walking the list
// page by page, and reports requests/s and the 99th percentile latency.
func load(b *testing.B, client *http.Client, target string) (perSecond, p99ms float64) {
	var sent atomic.Int64
	latencies := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			after := ""
			for sent.Add(1) <= int64(b.N) {
				began := time.Now()
				body := fetchPage(b, client, target, after)
				latencies[c] = append(latencies[c], time.Since(began))
				after = nextCursor(b, body)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(latencies...)
	got := benchload.Result{PerSecond: float64(len(all)) / elapsed.Seconds(), Latencies: all}
	got.Sort()
	got.Report(b)
	return got.PerSecond, benchload.Milliseconds(got.Quantile(0.99))
}

func fetchPage(b *testing.B, client *http.Client, target, after string) []byte {
	vars := map[string]any{}
	if after != "" {
		vars["after"] = after
	}
	reqBody, _ := json.Marshal(map[string]any{"query": benchQuery, "variables": vars})
	res, err := client.Post(target, "application/json", bytes.NewReader(reqBody))
	if err != nil {
		b.Error(err)
		return nil
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) {
		b.Errorf("status %d, %v: %.300s", res.StatusCode, err, body)
	}
	return body
}

// nextCursor returns the page's end cursor, or "" after the last page (the
// walk starts again). pageInfo comes first in the response, so the client
// finds it without decoding the page: the clients share the CPU with the
// server they measure.
func nextCursor(b *testing.B, body []byte) string {
	if bytes.Contains(body, []byte(`"hasNextPage":false`)) {
		return ""
	}
	_, rest, ok := bytes.Cut(body, []byte(`"endCursor":"`))
	cursor, _, ok2 := bytes.Cut(rest, []byte(`"`))
	if !ok || !ok2 {
		b.Errorf("no endCursor in %.300s", body)
		return ""
	}
	return string(cursor)
}
