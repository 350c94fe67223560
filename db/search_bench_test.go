package db_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/ingest"
	"marquee/ingest/feedgen"
	"marquee/internal/benchload"
)

// searchBenchClients call the store at once, as API requests would.
const searchBenchClients = 8

// feedgenProfiles parses a generated feed of n performers (realistic
// names and aliases, `marquee dev gen-feed`), leaving out the items the
// parser rejects.
func feedgenProfiles(tb testing.TB, n int) []db.Profile {
	tb.Helper()
	var feed bytes.Buffer
	if err := feedgen.Write(&feed, feedgen.Options{Items: n, Seed: 15}); err != nil {
		tb.Fatal(err)
	}
	var profiles []db.Profile
	_, err := ingest.ParseFeed(&feed, func(_ int, p db.Profile) error {
		profiles = append(profiles, p)
		return nil
	}, func(ingest.Reject) error { return nil })
	if err != nil {
		tb.Fatal(err)
	}
	return profiles
}

// BenchmarkSearch measures one search page as the APIs ask for it (the
// first 20 by relevance, with the total) over a generated feed of each of
// discoveryBenchSizes, on SQLite and MySQL, per kind of q: "warm" from
// searchBenchClients concurrent callers while nothing is written, "cold"
// one request at a time, each the first after a one-performer write (the
// discovery index then catches up first). It reports requests/s and the
// 99th percentile latency. Target (issue 15): under 10 ms at the real
// feed's size.
//
//	scripts/test-mysql.sh go test -run '^$' -bench BenchmarkSearch ./db/
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	discoveryBench(b, func(b *testing.B, s *db.Store, profiles []db.Profile) {
		kinds := searchBenchQueries(profiles)
		// The discovery index is built by the first search of a Store.
		if _, err := s.List(ctx, db.Filter{Q: "a"}, nil, db.Page{}); err != nil {
			b.Fatal(err)
		}
		for _, kind := range slices.Sorted(maps.Keys(kinds)) {
			queries := kinds[kind]
			search := func(i int) error {
				_, err := s.List(ctx, db.Filter{Q: queries[i%len(queries)]}, nil, db.Page{First: db.DefaultPageSize, WithTotal: true})
				return err
			}
			b.Run(kind+"/warm", func(b *testing.B) {
				r := benchload.Run(b, searchBenchClients, search)
				reportLatencies(b, r.PerSecond, r.Latencies)
			})
			b.Run(kind+"/cold", func(b *testing.B) {
				measureCold(b, s, profiles, search)
			})
		}
	})
}

// searchBenchQueries are queries of each kind taken from the generated
// names, which the benchmark cycles through.
func searchBenchQueries(profiles []db.Profile) map[string][]string {
	kinds := map[string][]string{"one letter": {"a", "m", "s", "k"}, "no match": {"qqqzx", "zzyzx jolie"}}
	for i := 0; i < len(profiles); i += len(profiles) / 50 {
		words := strings.Fields(profiles[i].Name)
		if len(words) < 2 {
			continue
		}
		kinds["whole name"] = append(kinds["whole name"], profiles[i].Name)
		kinds["three letters"] = append(kinds["three letters"], string([]rune(words[0])[:min(3, len([]rune(words[0])))]))
		kinds["two words, reversed"] = append(kinds["two words, reversed"], words[len(words)-1]+" "+words[0])
	}
	return kinds
}
