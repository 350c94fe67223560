// Package samples gives tests the real feed sample and the API benchmarks
// their 20,000 performers made of it. It is apart from testkit because it
// parses with package ingest, whose own tests use testkit. For tests only.
package samples

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"marquee/db"
	"marquee/ingest"
)

// RealHead is the path of the real 100-item feed sample from a package one
// directory below the repository root (graph, rest, ...).
const RealHead = "../../shared/feeds/real-head-100.json"

// ReadFeed parses the feed at path; any rejected item fails the test.
func ReadFeed(tb testing.TB, path string) []db.Profile {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("feed sample: %v (the samples live in ../shared/feeds beside the repository)", err)
	}
	defer f.Close()
	var profiles []db.Profile
	_, err = ingest.ParseFeed(f, func(_ int, p db.Profile) error {
		profiles = append(profiles, p)
		return nil
	}, func(r ingest.Reject) error { return fmt.Errorf("unexpected reject: %s", r.Reason) })
	if err != nil {
		tb.Fatalf("parse %s: %v", path, err)
	}
	return profiles
}

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
