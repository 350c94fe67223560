package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/db/dbtest"
)

// apiLoadRate is the open-loop load of BenchmarkAPIDuringIngest: requests
// are started at this rate whatever the answers' latency, so a slow server
// meets a queue, not a politely waiting client.
const apiLoadRate = 100

// apiLoadRequests are what the load sends, in turn: the API's common reads,
// REST and GraphQL.
var apiLoadRequests = []struct {
	name, method, path, body string
}{
	{"rest-list", http.MethodGet, "/api/v1/pornstars?limit=20", ""},
	{"rest-filtered", http.MethodGet, "/api/v1/pornstars?hair_color=blonde&sort=-views&limit=20", ""},
	{"graphql-page", http.MethodPost, "/graphql", `{"query":"{ pornstars(first: 20) { totalCount edges { node { id name rank aliases thumbnails { url image { status } } } } } }"}`},
	{"rest-feed-runs", http.MethodGet, "/api/v1/feed-runs", ""},
}

// BenchmarkAPIDuringIngest starts `marquee run` (rate limit off) on an empty
// database, which begins a feed run of the generated 100,000-item feed at
// once (no run has succeeded yet): ingest, the embedded broker, the loader
// and the compactor all work in the process. Meanwhile an open-loop load
// sends 100 requests/s to the APIs until the feed is loaded. It reports the
// requests sent, the failed ones (any transport error or status other than
// 200), the p50 and p99 latency, and how long the run took to load.
// Target (issue 7): no request fails, p99 under 200 ms.
func BenchmarkAPIDuringIngest(b *testing.B) {
	if testing.Short() {
		b.Skip("a 100,000-item feed run is not short")
	}
	binary := buildMarquee(b)
	feed := startFeedServer(b, benchFeedItems, benchFeedSeed)
	for _, backend := range dbtest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			// One measurement per call, whatever b.N (see BenchmarkIngestOnce).
			m := measureAPIDuringIngest(b, binary, feed, backend.URL(b))
			b.ReportMetric(float64(m.sent), "requests")
			b.ReportMetric(float64(m.failed), "failed")
			b.ReportMetric(m.p50, "p50_ms")
			b.ReportMetric(m.p99, "p99_ms")
			b.ReportMetric(m.loaded.Seconds(), "feed_loaded_s")
			b.ReportMetric(float64(m.loaded.Nanoseconds()), "ns/op")
		})
	}
}

type apiLoadMeasurement struct {
	sent, failed int
	p50, p99     float64 // ms
	loaded       time.Duration
}

func measureAPIDuringIngest(b *testing.B, binary string, feed *feedServer, dbURL string) apiLoadMeasurement {
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(b))
	pprofAddr := ""
	if benchProfileDir != "" {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(b))
	}
	run := startProcess(b, binary, "run", "--db", dbURL, "--data-dir", filepath.Join(b.TempDir(), "data"),
		"--feed-url", feed.URL(), "--http-addr", addr, "--kafka-addr", "127.0.0.1:0",
		"--api-rate-limit", "0", "--log-format", "json", "--log-level", "warn", "--pprof-addr", pprofAddr)
	base := "http://" + addr
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	waitReady(b, client, base, run)

	type result struct {
		kind    string
		latency time.Duration
		err     error
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	send := func(i int) {
		defer wg.Done()
		req := apiLoadRequests[i%len(apiLoadRequests)]
		var body io.Reader
		if req.body != "" {
			body = strings.NewReader(req.body)
		}
		r, _ := http.NewRequest(req.method, base+req.path, body)
		if req.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		start := time.Now()
		res, err := client.Do(r)
		if err == nil {
			payload, readErr := io.ReadAll(res.Body)
			res.Body.Close()
			switch {
			case readErr != nil:
				err = readErr
			case res.StatusCode != http.StatusOK:
				err = fmt.Errorf("%s: %d %.200s", req.name, res.StatusCode, payload)
			case req.name == "graphql-page" && bytes.Contains(payload, []byte(`"errors"`)):
				err = fmt.Errorf("%s: %.200s", req.name, payload)
			}
		}
		mu.Lock()
		results = append(results, result{req.name, time.Since(start), err})
		mu.Unlock()
	}

	if pprofAddr != "" {
		go saveCPUProfile(b, pprofAddr, 30*time.Second, "api-during-ingest-"+dbScheme(dbURL)+".cpu")
	}
	start := time.Now()
	ticker := time.NewTicker(time.Second / apiLoadRate)
	defer ticker.Stop()
	nextCheck := start.Add(time.Second)
	loaded := time.Duration(0)
	for i := 0; loaded == 0; i++ {
		<-ticker.C
		wg.Add(1)
		go send(i)
		if time.Now().After(nextCheck) {
			nextCheck = time.Now().Add(time.Second)
			if run.exited() {
				b.Fatalf("marquee run exited: %v\n%s", run.err, tail(run.stderr.String()))
			}
			if feedLoaded(b, client, base) {
				loaded = time.Since(start)
			}
			if time.Since(start) > 15*time.Minute {
				b.Fatalf("the feed was not loaded within 15 minutes\n%s", tail(run.stderr.String()))
			}
		}
	}
	wg.Wait()
	if err := run.stop(b, 30*time.Second); err != nil {
		b.Errorf("marquee run did not stop cleanly: %v\n%s", err, tail(run.stderr.String()))
	}

	m := apiLoadMeasurement{sent: len(results), loaded: loaded}
	latencies := make([]time.Duration, 0, len(results))
	var firstErrs []string
	for _, r := range results {
		latencies = append(latencies, r.latency)
		if r.err != nil {
			m.failed++
			if len(firstErrs) < 5 {
				firstErrs = append(firstErrs, r.err.Error())
			}
		}
	}
	slices.Sort(latencies)
	m.p50 = float64(latencies[len(latencies)/2]) / float64(time.Millisecond)
	m.p99 = float64(latencies[len(latencies)*99/100]) / float64(time.Millisecond)
	b.Logf("%s: %d requests at %d/s while a %d-item feed run loaded in %.1f s: %d failed, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		redactURL(dbURL), m.sent, apiLoadRate, benchFeedItems, loaded.Seconds(), m.failed, m.p50, m.p99,
		float64(latencies[len(latencies)-1])/float64(time.Millisecond))
	for _, e := range firstErrs {
		b.Logf("failed: %s", e)
	}
	for _, req := range apiLoadRequests {
		var kind []time.Duration
		for _, r := range results {
			if r.kind == req.name {
				kind = append(kind, r.latency)
			}
		}
		slices.Sort(kind)
		ms := func(q int) float64 { return float64(kind[(len(kind)-1)*q/100]) / float64(time.Millisecond) }
		b.Logf("  %s: %d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms", req.name, len(kind), ms(50), ms(99), ms(100))
	}
	return m
}

// benchProfileDir, from MARQUEE_BENCH_PROFILE_DIR, is where benchmarks that
// run marquee as a process save CPU profiles of it; empty saves none.
var benchProfileDir = os.Getenv("MARQUEE_BENCH_PROFILE_DIR")

// saveCPUProfile saves a CPU profile of the process serving runtime
// profiles at addr, over the given duration, as name in benchProfileDir.
func saveCPUProfile(b *testing.B, addr string, duration time.Duration, name string) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(duration.Seconds()))
	client := &http.Client{Timeout: duration + 30*time.Second}
	res, err := client.Get(url)
	if err != nil {
		b.Logf("CPU profile: %v", err)
		return
	}
	defer res.Body.Close()
	path := filepath.Join(benchProfileDir, name)
	f, err := os.Create(path)
	if err == nil {
		_, err = io.Copy(f, res.Body)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		b.Logf("CPU profile: %v", err)
		return
	}
	b.Logf("CPU profile of %s saved in %s", duration, path)
}

// dbScheme is the scheme of a database URL: sqlite or mysql.
func dbScheme(dbURL string) string {
	scheme, _, _ := strings.Cut(dbURL, "://")
	return scheme
}

// feedLoaded reports whether the first feed run completed and every valid
// profile of it is in the database.
func feedLoaded(b *testing.B, client *http.Client, base string) bool {
	var runs struct {
		Data []struct {
			Status string `json:"status"`
			Valid  int64  `json:"items_valid"`
		} `json:"data"`
	}
	if !getJSON(client, base+"/api/v1/feed-runs", &runs) || len(runs.Data) == 0 || runs.Data[0].Status != "completed" {
		return false
	}
	var page struct {
		Total int64 `json:"total"`
	}
	return getJSON(client, base+"/api/v1/pornstars?limit=1", &page) && page.Total >= runs.Data[0].Valid
}

func getJSON(client *http.Client, url string, v any) bool {
	res, err := client.Get(url)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(v) == nil
}

// waitReady waits until the process answers /readyz with 200.
func waitReady(tb testing.TB, client *http.Client, base string, p *process) {
	deadline := time.Now().Add(time.Minute)
	for {
		if res, err := client.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if p.exited() || time.Now().After(deadline) {
			tb.Fatalf("%s not ready: %v\n%s", p.name, p.err, tail(p.stderr.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
