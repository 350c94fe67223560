package samples

import (
	"context"
	"testing"
	"time"

	"marquee/db"
)

// SeedCopies writes n performers: sample copied over and over with distinct
// feed ids (and ranks shifted per copy, so that orderings interleave the
// copies), and records every image of the sample as cached. The API
// benchmarks use it for their 20,000 performers.
func SeedCopies(tb testing.TB, store *db.Store, sample []db.Profile, n int) {
	tb.Helper()
	ctx := context.Background()
	batch := make([]db.Profile, 0, 500)
	flush := func() {
		if _, err := store.UpsertProfiles(ctx, batch); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := range n {
		p := sample[i%len(sample)]
		copyNo := int64(i / len(sample))
		p.FeedID += copyNo * 10_000_000
		if p.Rank != nil {
			rank := *p.Rank + copyNo
			p.Rank = &rank
		}
		p.ContentHash = "" // the store hashes the changed profile
		batch = append(batch, p)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	var states []db.ImageState
	seen := map[string]bool{}
	now := time.Now().UTC()
	ct, size, w, h := "image/jpeg", int64(23456), int32(234), int32(344)
	for _, p := range sample {
		for _, t := range p.Thumbnails {
			if !seen[t.URLHash] {
				seen[t.URLHash] = true
				states = append(states, db.ImageState{URLHash: t.URLHash, URL: t.URL, Status: db.ImageCached, Attempts: 1,
					ContentType: &ct, Bytes: &size, Width: &w, Height: &h, FetchedAt: &now})
			}
		}
	}
	if err := store.UpsertImages(ctx, states); err != nil {
		tb.Fatal(err)
	}
	if total, err := store.Count(ctx, db.Filter{}); err != nil || total != int64(n) {
		tb.Fatalf("seeded %d performers (%v), want %d", total, err, n)
	}
}
