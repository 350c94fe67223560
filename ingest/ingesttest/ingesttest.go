// Package ingesttest runs feed runs without Kafka for the tests of the
// packages that read what a run loads (the APIs).
package ingesttest

import (
	"context"
	"fmt"

	"marquee/bus"
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
