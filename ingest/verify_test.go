package ingest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testkit"
)

// loadProfiles writes profiles as the loader does.
func loadProfiles(t *testing.T, store *db.Store, profiles []db.Profile) {
	t.Helper()
	if _, err := store.UpsertProfiles(context.Background(), profiles); err != nil {
		t.Fatalf("load profiles: %v", err)
	}
}

func sortedProfiles(pf parsedFeed) []db.Profile {
	out := make([]db.Profile, 0, len(pf.profiles))
	for _, id := range pf.ids() {
		out = append(out, pf.profiles[id])
	}
	return out
}

// TestVerifyEqualFeed: a database loaded with a feed equals it, on every
// backend, with every oddity of the generated feed (non-ASCII names, NBSP,
// repaired escapes, absent attributes, 64-bit stats).
func TestVerifyEqualFeed(t *testing.T) {
	t.Parallel()
	feed := genFeed(t, feedgen.Options{Items: 60, Seed: 91})
	profiles := sortedProfiles(parseFeedBytes(t, feed))
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			loadProfiles(t, store, profiles)
			diffs, header, err := Verify(context.Background(), store, bytes.NewReader(feed))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				t.Errorf("difference in a database loaded with the feed: %s", d)
			}
			if header.Items != len(profiles) {
				t.Errorf("Verify read %d items, want %d", header.Items, len(profiles))
			}
		})
	}
}

// TestVerifyDifferences: each way the database can differ from the feed is
// one Difference naming the feed id and, for a field, the field.
func TestVerifyDifferences(t *testing.T) {
	t.Parallel()
	feed := genFeed(t, feedgen.Options{Items: 30, Seed: 92})
	doc := splitFeed(t, feed)
	parsed := parseFeedBytes(t, feed)
	all := sortedProfiles(parsed)
	// The performer each case tampers with: one that has every attribute.
	targetIndex := doc.find(t, `"gender":`, 4)
	id := doc.id(t, targetIndex)
	target := parsed.profiles[id]
	const stranger = 999_000_001 // a feed id that is not in the feed

	changed := func(change func(*db.Profile)) db.Profile {
		p := target
		p.Aliases = slices.Clone(p.Aliases)
		change(&p)
		p.ContentHash = ""
		return p
	}
	except := func(skip int64) []db.Profile {
		var out []db.Profile
		for _, p := range all {
			if p.FeedID != skip {
				out = append(out, p)
			}
		}
		return out
	}
	rejectedItems := slices.Clone(doc.items)
	rejectedItems[targetIndex] = doc.replace(t, targetIndex, `"gender":`, `"gender":7,"was":`)
	if rejects := parseFeedBytes(t, doc.with(rejectedItems).bytes()).rejects; len(rejects) != 1 || derefOr(rejects[0].FeedID, 0) != id {
		t.Fatalf("the tampered feed has rejects %+v, want one of feed id %d", rejects, id)
	}

	type want struct {
		feedID         int64
		field          string
		feed, database string
	}
	tests := []struct {
		name    string
		feed    []byte // nil: the feed as loaded
		prepare func(t *testing.T, store *db.Store)
		want    []want
	}{
		{"equal", nil, func(t *testing.T, store *db.Store) { loadProfiles(t, store, all) }, nil},
		{"a changed stat", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, all)
			loadProfiles(t, store, []db.Profile{changed(func(p *db.Profile) { p.Views = ptr(*target.Views + 1) })})
		}, []want{{id, "views", fmt.Sprint(*target.Views), fmt.Sprint(*target.Views + 1)}}},
		{"a changed alias list", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, all)
			loadProfiles(t, store, []db.Profile{changed(func(p *db.Profile) { p.Aliases = append(p.Aliases, "Someone Else") })})
		}, []want{{id, "aliases", "", ""}}},
		{"an unknown value that became known", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, all)
			loadProfiles(t, store, []db.Profile{changed(func(p *db.Profile) {
				if p.Age != nil {
					p.Age = nil
				} else {
					p.Age = ptr(int32(30))
				}
			})})
		}, []want{{id, "age", "", ""}}},
		{"a missing performer", nil, func(t *testing.T, store *db.Store) { loadProfiles(t, store, except(id)) },
			[]want{{id, "", "present", "missing"}}},
		{"an extra performer, not removed", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, append(slices.Clone(all), testProfile(t, stranger, "Stranger")))
		}, []want{{stranger, "", "absent", "present, not marked removed"}}},
		{"an extra performer, removed", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, append(slices.Clone(all), testProfile(t, stranger, "Stranger")))
			markRemoved(t, store, stranger)
		}, nil},
		{"a removed performer that is in the feed", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, all)
			markRemoved(t, store, id)
		}, []want{{id, "", "present", "marked removed"}}},
		{"a rejected item keeps its last good state", doc.with(rejectedItems).bytes(), func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, all)
			loadProfiles(t, store, []db.Profile{changed(func(p *db.Profile) { p.Views = ptr(int64(1)) })})
		}, nil},
		{"every difference is listed, by feed id", nil, func(t *testing.T, store *db.Store) {
			loadProfiles(t, store, append(except(all[0].FeedID), testProfile(t, stranger, "Stranger")))
			markRemoved(t, store, id)
		}, []want{{all[0].FeedID, "", "present", "missing"}, {id, "", "present", "marked removed"},
			{stranger, "", "absent", "present, not marked removed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			tt.prepare(t, store)
			source := tt.feed
			if source == nil {
				source = feed
			}
			diffs, _, err := Verify(context.Background(), store, bytes.NewReader(source))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != len(tt.want) {
				for _, d := range diffs {
					t.Logf("difference: %s", d)
				}
				t.Fatalf("%d differences, want %d", len(diffs), len(tt.want))
			}
			for i, w := range tt.want {
				d := diffs[i]
				if d.FeedID != w.feedID || d.Field != w.field {
					t.Errorf("difference %d: %s; want feed id %d, field %q", i, d, w.feedID, w.field)
				}
				if (w.feed != "" && d.Feed != w.feed) || (w.database != "" && d.Database != w.database) || d.Feed == d.Database {
					t.Errorf("difference %d: feed %q, database %q; want %q and %q", i, d.Feed, d.Database, w.feed, w.database)
				}
				if !strings.Contains(d.String(), fmt.Sprint(w.feedID)) {
					t.Errorf("difference %d reads %q: it does not name the feed id", i, d)
				}
			}
		})
	}
}

// TestVerifyBrokenFeed: a feed that cannot be read to its end is an error,
// never a list of differences.
func TestVerifyBrokenFeed(t *testing.T) {
	t.Parallel()
	feed := genFeed(t, feedgen.Options{Items: 20, Seed: 93})
	store := sqliteStore(t)
	diffs, _, err := Verify(context.Background(), store, bytes.NewReader(feed[:len(feed)/2]))
	if err == nil || !strings.Contains(err.Error(), "broken feed") {
		t.Errorf("error %v, want the broken document named", err)
	}
	if len(diffs) != 0 {
		t.Errorf("%d differences from a broken feed", len(diffs))
	}
}

func markRemoved(t *testing.T, store *db.Store, feedIDs ...int64) {
	t.Helper()
	if n, err := store.MarkRemoved(context.Background(), feedIDs); err != nil || n != int64(len(feedIDs)) {
		t.Fatalf("mark removed: %d, %v", n, err)
	}
}
