// Package ingesttest runs feed runs without Kafka, and reads feed files, for
// the tests of the packages that read what a run loads (the APIs).
package ingesttest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"marquee/bus"
	"marquee/db"
	"marquee/ingest"
)

// LoadingPublisher hands what a feed run publishes on marquee.pornstars
// straight to the real loader, as the load service does after Kafka, and
// drops image requests (no compactor). A profile the loader dead-letters
// fails the publish.
type LoadingPublisher struct{ Loader *ingest.Loader }

// Publish loads the profiles and tombstones of msgs when topic is
// marquee.pornstars.
func (p LoadingPublisher) Publish(ctx context.Context, topic string, msgs ...bus.Message) error {
	if topic != bus.TopicPornstars {
		return nil
	}
	dead, err := p.Loader.HandleProfiles(ctx, msgs)
	if err == nil && len(dead) > 0 {
		err = fmt.Errorf("dead-lettered %d profiles: %v", len(dead), dead[0].Err)
	}
	return err
}

// ReadFeed parses the feed file at path into its profiles, in feed order;
// any rejected item fails the test.
func ReadFeed(tb testing.TB, path string) []db.Profile {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("feed: %v", err)
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
