package db_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/benchload"
)

// discoveryBenchSizes are the directory sizes the discovery benchmarks
// (BenchmarkFacets, BenchmarkSearch, BenchmarkSortedList) measure: the real
// feed's size and the size the ingest benchmarks load.
var discoveryBenchSizes = []int{21_000, 100_000}

// discoveryFeeds holds the parsed generated feeds by size, shared by the
// discovery benchmarks of one process.
var discoveryFeeds sync.Map // int -> []db.Profile

// discoveryFeed is feedgenProfiles(n), parsed once per process.
func discoveryFeed(b *testing.B, n int) []db.Profile {
	if p, ok := discoveryFeeds.Load(n); ok {
		return p.([]db.Profile)
	}
	p := feedgenProfiles(b, n)
	discoveryFeeds.Store(n, p)
	return p
}

// discoveryBench runs measure once per backend and size, on a fresh store
// holding a generated feed of that many performers, as the sub-benchmark
// "<backend>/<size>".
func discoveryBench(b *testing.B, measure func(b *testing.B, s *db.Store, profiles []db.Profile)) {
	ctx := context.Background()
	for _, backend := range dbtest.Backends() {
		for _, n := range discoveryBenchSizes {
			b.Run(fmt.Sprintf("%s/%d", backend.Name, n), func(b *testing.B) {
				profiles := discoveryFeed(b, n)
				s := benchStore(b, backend.URL(b))
				for part := range slices.Chunk(profiles, benchBatch) {
					if _, err := s.UpsertProfiles(ctx, part); err != nil {
						b.Fatal(err)
					}
				}
				measure(b, s, profiles)
			})
		}
	}
}

// benchWrites numbers the writes of writeOne, so that each changes its
// performer.
var benchWrites atomic.Int64

// writeOne changes the stats of one performer of profiles (the i-th,
// cycling), as a feed run does: the write after which the benchmarks'
// "cold" requests are measured.
func writeOne(b *testing.B, s *db.Store, profiles []db.Profile, i int) {
	p := profiles[i%len(profiles)]
	p.Views = ptr(1_000_000 + benchWrites.Add(1))
	p.ContentHash = p.ComputeContentHash()
	if _, err := s.UpsertProfiles(context.Background(), []db.Profile{p}); err != nil {
		b.Fatal(err)
	}
}

// measureCold calls fn b.N times, each after writeOne, and reports calls/s
// and the 99th percentile latency of fn alone.
func measureCold(b *testing.B, s *db.Store, profiles []db.Profile, fn func(i int) error) {
	latencies := make([]time.Duration, b.N)
	var spent time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		writeOne(b, s, profiles, i)
		b.StartTimer()
		start := time.Now()
		if err := fn(i); err != nil {
			b.Fatal(err)
		}
		latencies[i] = time.Since(start)
		spent += latencies[i]
	}
	b.StopTimer()
	reportLatencies(b, float64(b.N)/spent.Seconds(), latencies)
}

// reportLatencies reports requests/s over the benchmark's elapsed time and
// the 99th percentile of latencies, as the other benchmarks print them.
func reportLatencies(b *testing.B, rate float64, latencies []time.Duration) {
	slices.Sort(latencies)
	b.ReportMetric(rate, "req/s")
	b.ReportMetric(float64(latencies[min(len(latencies)-1, len(latencies)*99/100)].Microseconds())/1000, "p99_ms")
}

// BenchmarkSortedList measures a list page as the APIs ask for it (the
// first 20 by monthly_searches, most first, with the total) over a
// generated feed of each of discoveryBenchSizes, on SQLite and MySQL, from
// searchBenchClients concurrent callers: without a filter and with a common
// value (hair_color=blonde). It reports requests/s and the 99th percentile
// latency.
//
//	scripts/test-mysql.sh go test -run '^$' -bench BenchmarkSortedList ./db/
func BenchmarkSortedList(b *testing.B) {
	ctx := context.Background()
	order := []db.OrderKey{{Field: db.OrderMonthlySearches, Desc: true}}
	filters := []struct {
		name   string
		filter db.Filter
	}{
		{"no-filter", db.Filter{}},
		{"hair_color=blonde", db.Filter{HairColors: []string{"blonde"}}},
	}
	discoveryBench(b, func(b *testing.B, s *db.Store, _ []db.Profile) {
		for _, f := range filters {
			b.Run(f.name, func(b *testing.B) {
				r := benchload.Run(b, searchBenchClients, func(int) error {
					page, err := s.List(ctx, f.filter, order, db.Page{First: db.DefaultPageSize, WithTotal: true})
					if err == nil && len(page.Items) == 0 {
						err = fmt.Errorf("an empty page")
					}
					return err
				})
				reportLatencies(b, r.PerSecond, r.Latencies)
			})
		}
	})
}
