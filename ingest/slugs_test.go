package ingest_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest"
	"marquee/ingest/feedgen"
	"marquee/ingest/ingesttest"
	"marquee/internal/testkit"
)

// TestFeedRunSlugs: after a feed run of a generated feed of the real feed's
// size, every performer has its own slug, from its link (as it is, or with
// a clash suffix); the next day's feed, with changed, new and departed
// performers, gives the new ones theirs and changes none.
func TestFeedRunSlugs(t *testing.T) {
	t.Parallel()
	const items = 21_000
	opts := func(g int) feedgen.Options {
		return feedgen.Options{Items: items, Seed: 21, Generation: g, ChangeRatio: 0.1}
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			source := filepath.Join(t.TempDir(), "feed.json")

			writeFeed(t, source, opts(0))
			runFeedOnce(t, store, source)
			first := checkSlugs(t, store)
			if len(first) < items*95/100 {
				t.Fatalf("%d performers loaded from %d items", len(first), items)
			}

			writeFeed(t, source, opts(1))
			runFeedOnce(t, store, source)
			second := checkSlugs(t, store)
			kept, added := 0, 0
			for feedID, p := range second {
				before, ok := first[feedID]
				if !ok {
					added++
					continue
				}
				kept++
				if p.Slug != before.Slug {
					t.Errorf("feed id %d: slug %q became %q", feedID, before.Slug, p.Slug)
				}
			}
			if kept != len(first) || added == 0 {
				t.Errorf("the second run kept %d of %d performers and added %d: the feed did not change as planned", kept, len(first), added)
			}
		})
	}
}

// writeFeed writes the feed feedgen makes for o to path.
func writeFeed(t *testing.T, path string, o feedgen.Options) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := feedgen.Write(f, o); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// runFeedOnce carries out one forced feed run of source, loading what it
// publishes straight into store, and fails the test unless it completed.
func runFeedOnce(t *testing.T, store *db.Store, source string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	runner := &ingest.Runner{Store: store, Fetcher: ingest.NewFetcher("Marquee/test", logger), Logger: logger, Source: source,
		MaxShrink: 0.2, MaxRejected: 0.05, Publisher: ingesttest.LoadingPublisher{Loader: &ingest.Loader{Store: store, Logger: logger}}}
	if _, err := store.QueueRun(ctx, db.RequestedByCLI, true); err != nil {
		t.Fatal(err)
	}
	run, err := store.ClaimRun(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if summary, err := runner.Run(ctx, run); err != nil || summary.Status != db.RunCompleted {
		t.Fatalf("feed run: %+v, %v", summary, err)
	}
}

// checkSlugs checks that every performer, removed or not, has a slug of
// its own, and that a performer whose link ends in a slug has that slug
// or that slug with a clash suffix. It returns the performers by feed id.
func checkSlugs(t *testing.T, store *db.Store) map[int64]db.Pornstar {
	t.Helper()
	var rows []db.Pornstar
	err := store.DB().W.NewSelect().Model(&rows).Column("id", "external_id", "slug", "link").Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byFeedID := make(map[int64]db.Pornstar, len(rows))
	owner := make(map[string]int64, len(rows))
	suffixed := 0
	for _, p := range rows {
		if !db.IsSlug(p.Slug) {
			t.Errorf("performer %d: slug %q", p.ID, p.Slug)
		}
		if other, taken := owner[p.Slug]; taken {
			t.Errorf("performers %d and %d share the slug %q", other, p.ID, p.Slug)
		}
		owner[p.Slug] = p.ID
		if p.Link == nil || p.ExternalID == nil {
			t.Fatalf("performer %d has no link or feed id", p.ID)
		}
		segment := strings.ToLower((*p.Link)[strings.LastIndexByte(*p.Link, '/')+1:])
		if db.IsSlug(segment) && p.Slug != segment {
			suffixed++
			base, suffix, _ := cutLast(p.Slug, "-")
			if n, err := strconv.Atoi(suffix); base != segment || err != nil || n < 2 {
				t.Errorf("performer %d (link %s): slug %q", p.ID, *p.Link, p.Slug)
			}
		}
		byFeedID[*p.ExternalID] = p
	}
	if suffixed > len(rows)/100 {
		t.Errorf("%d of %d performers have a suffixed slug: the feed's links are unique", suffixed, len(rows))
	}
	t.Logf("%d performers, %d with a clash suffix", len(rows), suffixed)
	return byFeedID
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
