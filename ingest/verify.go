package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"

	"marquee/db"
)

// verifyStore is what Verify needs of db.Store.
type verifyStore interface {
	EachFeedRecord(ctx context.Context, fn func(db.FeedRecord) error) error
}

// Difference is one way in which the database differs from a feed.
type Difference struct {
	FeedID   int64
	Field    string // a profile field, or "" for the performer as a whole
	Feed     string // the feed's value as JSON, or a description
	Database string
}

func (d Difference) String() string {
	if d.Field == "" {
		return fmt.Sprintf("feed_id=%d: feed: %s; database: %s", d.FeedID, d.Feed, d.Database)
	}
	return fmt.Sprintf("feed_id=%d %s: feed %s; database %s", d.FeedID, d.Field, d.Feed, d.Database)
}

// Verify lists every difference between the database and the feed read from
// r: the one definition of "the database equals the feed". Every valid item
// must be present, not removed, and equal field by field; every feed-managed
// performer that is neither in the feed nor a rejected item must be removed.
// Rejected items are not compared (a rejected performer keeps its last good
// state). A broken document is an error.
func Verify(ctx context.Context, store verifyStore, r io.Reader) ([]Difference, FeedHeader, error) {
	feed := map[int64]db.Profile{}
	rejected := map[int64]bool{}
	header, err := ParseFeed(r, func(_ int, p db.Profile) error {
		feed[p.FeedID] = p
		return nil
	}, func(rej Reject) error {
		if rej.FeedID != nil {
			rejected[*rej.FeedID] = true
		}
		return nil
	})
	if err != nil {
		return nil, header, fmt.Errorf("verify: %w", err)
	}
	var diffs []Difference
	err = store.EachFeedRecord(ctx, func(rec db.FeedRecord) error {
		id := rec.Profile.FeedID
		want, inFeed := feed[id]
		delete(feed, id)
		switch {
		case inFeed && rec.Removed:
			diffs = append(diffs, Difference{FeedID: id, Feed: "present", Database: "marked removed"})
		case inFeed:
			fields, err := compareProfiles(want, rec.Profile)
			if err != nil {
				return err
			}
			diffs = append(diffs, fields...)
		case !rec.Removed && !rejected[id]:
			diffs = append(diffs, Difference{FeedID: id, Feed: "absent", Database: "present, not marked removed"})
		}
		return nil
	})
	if err != nil {
		return nil, header, fmt.Errorf("verify: %w", err)
	}
	for id := range feed {
		diffs = append(diffs, Difference{FeedID: id, Feed: "present", Database: "missing"})
	}
	sort.SliceStable(diffs, func(i, j int) bool { return diffs[i].FeedID < diffs[j].FeedID })
	return diffs, header, nil
}

// compareProfiles compares two profiles field by field through their JSON
// form (the topic's), so every field is covered without listing it here.
func compareProfiles(feed, stored db.Profile) ([]Difference, error) {
	a, err := profileFields(feed)
	if err != nil {
		return nil, err
	}
	b, err := profileFields(stored)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var diffs []Difference
	for _, k := range keys {
		if !bytes.Equal(a[k], b[k]) {
			diffs = append(diffs, Difference{FeedID: feed.FeedID, Field: k, Feed: string(a[k]), Database: string(b[k])})
		}
	}
	return diffs, nil
}

func profileFields(p db.Profile) (map[string]json.RawMessage, error) {
	p.ContentHash, p.SchemaVersion = "", 0
	// No aliases and no thumbnails read the same either way.
	if p.Aliases == nil {
		p.Aliases = []string{}
	}
	if p.Thumbnails == nil {
		p.Thumbnails = []db.ProfileThumbnail{}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	err = json.Unmarshal(raw, &fields)
	return fields, err
}
