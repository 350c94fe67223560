package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/ingest/feedgen"
	"marquee/internal/testkit"
)

// TestRunChangeDetection runs a feed through its generations against a real
// broker and database (SQLite and MySQL): each run publishes exactly the
// profiles whose hash differs from the one last published, tombstones
// exactly the performers that left, and records what it published.
func TestRunChangeDetection(t *testing.T) {
	t.Parallel()
	const items = 300
	opts := func(g int) feedgen.Options {
		return feedgen.Options{Items: items, Seed: 11, Generation: g, ChangeRatio: 0.01}
	}
	gen0, gen1 := genFeed(t, opts(0)), genFeed(t, opts(1))
	feed0, feed1 := parseFeedBytes(t, gen0), parseFeedBytes(t, gen1)
	forward, back := diffFeeds(feed0, feed1), diffFeeds(feed1, feed0)
	// The expectations below come from the feeds themselves; feedgen says
	// how many there must be, so a generator change cannot empty them.
	g1, err := feedgen.Describe(opts(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(forward.changed) != g1.Changed || len(forward.added) != g1.Added || len(forward.removed) != g1.Removed ||
		g1.Changed == 0 || g1.Added == 0 || g1.Removed == 0 {
		t.Fatalf("generation 1 differs by %d changed, %d added, %d removed; feedgen.Describe says %+v",
			len(forward.changed), len(forward.added), len(forward.removed), g1)
	}
	if len(feed0.profiles) != items || len(feed0.rejects) != 0 {
		t.Fatalf("generation 0 parses to %d profiles and %d rejects, want %d and 0", len(feed0.profiles), len(feed0.rejects), items)
	}

	steps := []struct {
		name           string
		feed           []byte // written to the source file; nil leaves the file untouched
		force          bool
		wantStatus     string
		wantProfiles   []int64
		wantTombstones []int64
		wantHashes     map[int64]string // published_profiles afterwards (live performers)
	}{
		{"first run publishes every valid profile", gen0, false, db.RunCompleted, feed0.ids(), nil, feed0.hashes()},
		{"unchanged file is not modified and publishes nothing", nil, false, db.RunNotModified, nil, nil, feed0.hashes()},
		{"forced run of the same feed publishes no profile", gen0, true, db.RunCompleted, nil, nil, feed0.hashes()},
		{"generation 1 publishes the changed and new, tombstones the removed",
			gen1, false, db.RunCompleted, sortedUnion(forward.changed, forward.added), forward.removed, feed1.hashes()},
		{"removed performers that return are republished",
			gen0, false, db.RunCompleted, sortedUnion(back.changed, back.added), back.removed, feed0.hashes()},
	}

	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			store := testkit.OpenStore(t, backend.URL(t))
			kafka := startKafka(t)
			source := writeTemp(t, "feed.json", gen0)
			runner := newTestRunner(store, kafka.writer, source)
			runner.BatchSize = 50
			for _, step := range steps {
				if step.feed != nil {
					writeFeedFile(t, source, step.feed)
				}
				before := kafka.mark(t, bus.TopicPornstars)
				summary, row := runFeed(t, store, runner, step.force)
				msgs := kafka.since(t, bus.TopicPornstars, before)
				profiles, tombstones := published(t, msgs)

				if row.Status != step.wantStatus || summary.Err != nil {
					t.Fatalf("%s: status %s (error %v), want %s", step.name, row.Status, summary.Err, step.wantStatus)
				}
				if derefOr(row.Source, "") != source || row.HTTPStatus != nil {
					t.Errorf("%s: recorded source %q, http_status %s; want %q and none (a local file)",
						step.name, derefOr(row.Source, ""), show(row.HTTPStatus), source)
				}
				if !slices.Equal(profiles, step.wantProfiles) {
					t.Errorf("%s: published profiles of %d performers, want %d\n  unexpected: %v\n  missing: %v", step.name,
						len(profiles), len(step.wantProfiles), minus(profiles, step.wantProfiles), minus(step.wantProfiles, profiles))
				}
				if !slices.Equal(tombstones, step.wantTombstones) {
					t.Errorf("%s: tombstones %v, want %v", step.name, tombstones, step.wantTombstones)
				}
				if row.ItemsChanged != int64(len(step.wantProfiles)) || row.ItemsRemoved != int64(len(step.wantTombstones)) {
					t.Errorf("%s: run records changed=%d removed=%d, want %d and %d", step.name,
						row.ItemsChanged, row.ItemsRemoved, len(step.wantProfiles), len(step.wantTombstones))
				}
				if summary.Changed != row.ItemsChanged || summary.Removed != row.ItemsRemoved || summary.Valid != row.ItemsValid {
					t.Errorf("%s: summary %s disagrees with the recorded run %+v", step.name, summary, row.FeedRunResult)
				}
				if got := publishedHashes(t, store); !maps.Equal(got, step.wantHashes) {
					t.Errorf("%s: published_profiles holds %d live hashes, want %d (the feed's)", step.name, len(got), len(step.wantHashes))
				}
				checkProfileMessages(t, msgs, step.wantHashes)
			}
		})
	}
}

// checkProfileMessages checks every profile message as a loader reads it:
// a JSON profile under its feed id, with the content type and the hash of
// the feed item.
func checkProfileMessages(t *testing.T, msgs []bus.Message, wantHashes map[int64]string) {
	t.Helper()
	for _, m := range msgs {
		if m.Value == nil {
			if _, ok := m.Header(bus.HeaderContentType); ok {
				t.Errorf("tombstone %s carries a content-type", m.Key)
			}
			continue
		}
		if ct, _ := m.Header(bus.HeaderContentType); ct != bus.ContentTypeJSON {
			t.Errorf("profile %s: content-type %q", m.Key, ct)
		}
		var p db.Profile
		if err := json.Unmarshal(m.Value, &p); err != nil {
			t.Fatalf("profile %s: %v", m.Key, err)
		}
		if strconv.FormatInt(p.FeedID, 10) != m.Key || p.SchemaVersion != db.ProfileSchemaVersion {
			t.Errorf("profile under key %s has feed_id %d, schema_version %d", m.Key, p.FeedID, p.SchemaVersion)
		}
		if hash := p.ComputeContentHash(); hash != p.ContentHash || hash != wantHashes[p.FeedID] {
			t.Errorf("profile %s: content_hash %s, recomputed %s, feed's %s", m.Key, p.ContentHash, hash, wantHashes[p.FeedID])
		}
	}
}

// writeFeedFile replaces the feed file at path, moving its modification time
// on so that its pseudo-ETag changes even within the clock's resolution.
func writeFeedFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := writeTemp(t, "next.json", data)
	if err := renameWithNewMtime(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestRunBrokenFeed: a document that cannot be read to its end fails the
// run, records the error, tombstones nobody, and keeps recorded what it did
// publish before the break.
func TestRunBrokenFeed(t *testing.T) {
	t.Parallel()
	opts := feedgen.Options{Items: 120, Seed: 21}
	gen0 := genFeed(t, opts)
	opts.Generation, opts.ChangeRatio = 1, 0.5
	gen1 := genFeed(t, opts)
	doc1 := splitFeed(t, gen1)
	notJSON := slices.Clone(doc1.items)
	notJSON[60] = `{"id":1,"name":oops}`

	tests := []struct {
		name    string
		prior   []byte // fed first, in a completed run; nil for none
		broken  []byte
		overTCP bool // served over HTTP, the connection cut halfway through the body
		wantErr string
	}{
		{"truncated document in the first run", nil, gen0[:len(gen0)/2], false, "broken feed"},
		{"truncated document after a complete run", gen0, gen1[:len(gen1)/2], false, "broken feed"},
		{"an item that is not JSON", gen0, doc1.with(notJSON).bytes(), false, "item 60 is not valid JSON"},
		{"connection cut halfway through the body", gen0, gen1, true, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			kafka := startKafka(t)
			runner := newTestRunner(store, kafka.writer, "")
			if tt.prior != nil {
				runner.Source = writeTemp(t, "prior.json", tt.prior)
				if _, row := runFeed(t, store, runner, false); row.Status != db.RunCompleted {
					t.Fatalf("prior run: %s %v", row.Status, derefOr(row.Error, ""))
				}
			}
			hashesBefore := publishedHashes(t, store)

			if tt.overTCP {
				srv := newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
					w.Header().Set("Content-Length", strconv.Itoa(len(tt.broken)))
					w.Write(tt.broken[:len(tt.broken)/2])
					// Returning short of Content-Length makes the server drop the connection.
				})
				runner.Source = srv.URL + "/feed.json"
			} else {
				runner.Source = writeTemp(t, "broken.json", tt.broken)
			}
			before := kafka.mark(t, bus.TopicPornstars)
			summary, row := runFeed(t, store, runner, true)
			msgs := kafka.since(t, bus.TopicPornstars, before)
			profiles, tombstones := published(t, msgs)

			if row.Status != db.RunFailed || summary.Status != db.RunFailed || summary.Err == nil {
				t.Fatalf("status %s (summary %s, error %v), want failed", row.Status, summary.Status, summary.Err)
			}
			if !strings.Contains(derefOr(row.Error, ""), tt.wantErr) {
				t.Errorf("recorded error %q, want it to mention %q", derefOr(row.Error, ""), tt.wantErr)
			}
			if row.FinishedAt == nil {
				t.Errorf("a failed run has no finished_at")
			}
			if len(tombstones) != 0 || row.ItemsRemoved != 0 || row.RemovalsSuppressed {
				t.Errorf("a broken feed tombstoned %v (removed=%d, suppressed=%v), want nothing", tombstones, row.ItemsRemoved, row.RemovalsSuppressed)
			}
			if tt.prior == nil && len(profiles) == 0 {
				t.Fatalf("the first half of the document published nothing: the case tests nothing")
			}
			if row.ItemsChanged != int64(len(profiles)) {
				t.Errorf("run records changed=%d, %d profiles were published", row.ItemsChanged, len(profiles))
			}
			// What was published stays recorded; nothing else changed.
			want := maps.Clone(hashesBefore)
			for _, m := range msgs {
				var p db.Profile
				if err := json.Unmarshal(m.Value, &p); err != nil {
					t.Fatal(err)
				}
				want[p.FeedID] = p.ContentHash
			}
			if got := publishedHashes(t, store); !maps.Equal(got, want) {
				t.Errorf("published_profiles has %d live hashes, want %d: the %d published before the break and the %d before",
					len(got), len(want), len(profiles), len(hashesBefore))
			}
		})
	}
}

// TestRunRemovalValve: removals come only from a run that identified its
// performers. A complete feed whose distinct valid ids fell more than
// MaxShrink below the performers published before, or whose rejected share
// passes MaxRejected, removes nobody and records why; a feed whose items
// identify nobody fails as well; a feed that really shrank within the
// limits tombstones exactly the missing performers.
func TestRunRemovalValve(t *testing.T) {
	t.Parallel()
	full := genFeed(t, feedgen.Options{Items: 100, Seed: 31})
	doc := splitFeed(t, full)
	if parsed := parseFeedBytes(t, full); len(parsed.profiles) != len(doc.items) {
		t.Fatalf("the feed has %d valid items of %d: the cases below assume all", len(parsed.profiles), len(doc.items))
	}
	// unreadable gives the first n items the id "x<id>"; the rest are kept.
	unreadable := func(n int) []string {
		items := slices.Clone(doc.items)
		for i := range n {
			id := doc.id(t, i)
			items[i] = doc.replace(t, i, fmt.Sprintf(`"id":%d`, id), fmt.Sprintf(`"id":"x%d"`, id))
		}
		return items
	}
	sameID := slices.Clone(doc.items)
	for i := 1; i < len(sameID); i++ {
		sameID[i] = doc.replace(t, i, fmt.Sprintf(`"id":%d`, doc.id(t, i)), fmt.Sprintf(`"id":%d`, doc.id(t, 0)))
	}

	tests := []struct {
		name        string
		items       []string
		wantRemoved []int // indexes in the full feed of the performers tombstoned
		wantStatus  string
		wantError   string // the recorded error of a failed run
		wantReason  string // removals_suppressed_reason; "" for none
	}{
		{"shrank by 10% with clean ids: the missing are removed", doc.items[:90], span(90, 100), db.RunCompleted, "", ""},
		{"shrank by 5%: the missing are removed", doc.items[:95], span(95, 100), db.RunCompleted, "", ""},
		{"shrank by exactly 20%: the missing are removed", doc.items[:80], span(80, 100), db.RunCompleted, "", ""},
		{"shrank by 21%: suppressed", doc.items[:79], nil, db.RunCompleted, "",
			"feed shrank by 21% (79 distinct valid ids, 100 published before; limit 20%)"},
		{"shrank by 30%: suppressed", doc.items[:70], nil, db.RunCompleted, "",
			"feed shrank by 30% (70 distinct valid ids, 100 published before; limit 20%)"},
		{"empty feed: suppressed", nil, nil, db.RunCompleted, "",
			"feed shrank by 100% (0 distinct valid ids, 100 published before; limit 20%)"},
		{"every id unreadable: the run fails and removes nobody", unreadable(100), nil, db.RunFailed,
			"feed identifies nobody: none of its 100 items has a readable id; nothing removed",
			"no item has a readable id (100 items seen); 100% of items rejected (100 of 100; limit 5%); " +
				"feed shrank by 100% (0 distinct valid ids, 100 published before; limit 20%)"},
		{"every item has the same id: suppressed", sameID, nil, db.RunCompleted, "",
			"99% of items rejected (99 of 100; limit 5%); feed shrank by 99% (1 distinct valid id, 100 published before; limit 20%)"},
		{"60% of ids unreadable: suppressed", unreadable(60), nil, db.RunCompleted, "",
			"60% of items rejected (60 of 100; limit 5%); feed shrank by 60% (40 distinct valid ids, 100 published before; limit 20%)"},
		{"10% of ids unreadable: suppressed by the rejected share alone", unreadable(10), nil, db.RunCompleted, "",
			"10% of items rejected (10 of 100; limit 5%)"},
		{"5% of ids unreadable, within both limits: those performers are removed", unreadable(5), span(0, 5), db.RunCompleted, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			kafka := startKafka(t)
			runner := newTestRunner(store, kafka.writer, writeTemp(t, "full.json", full))
			if _, row := runFeed(t, store, runner, false); row.Status != db.RunCompleted {
				t.Fatalf("first run: %s", row.Status)
			}
			var wantTombstones []int64
			for _, i := range tt.wantRemoved {
				wantTombstones = append(wantTombstones, doc.id(t, i))
			}
			slices.Sort(wantTombstones)

			runner.Source = writeTemp(t, "next.json", doc.with(tt.items).bytes())
			before := kafka.mark(t, bus.TopicPornstars)
			summary, row := runFeed(t, store, runner, false)
			profiles, tombstones := published(t, kafka.since(t, bus.TopicPornstars, before))

			if row.Status != tt.wantStatus || derefOr(row.Error, "") != tt.wantError {
				t.Fatalf("status %s, error %q; want %s, %q", row.Status, derefOr(row.Error, ""), tt.wantStatus, tt.wantError)
			}
			if tt.wantStatus == db.RunFailed && !errors.Is(summary.Err, ErrFeedIdentifiesNobody) {
				t.Errorf("summary error %v, want ErrFeedIdentifiesNobody", summary.Err)
			}
			if len(profiles) != 0 {
				t.Errorf("published %d profiles of unchanged performers", len(profiles))
			}
			if row.RemovalsSuppressed != (tt.wantReason != "") || derefOr(row.RemovalsSuppressedReason, "") != tt.wantReason {
				t.Errorf("removals_suppressed = %v, reason %q; want %v, %q",
					row.RemovalsSuppressed, derefOr(row.RemovalsSuppressedReason, ""), tt.wantReason != "", tt.wantReason)
			}
			if summary.RemovalsSuppressed != tt.wantReason {
				t.Errorf("summary says removals suppressed %q, want %q", summary.RemovalsSuppressed, tt.wantReason)
			}
			if !slices.Equal(tombstones, wantTombstones) || row.ItemsRemoved != int64(len(wantTombstones)) || summary.Removed != row.ItemsRemoved {
				t.Errorf("tombstoned %v (removed=%d, summary %d), want %v", tombstones, row.ItemsRemoved, summary.Removed, wantTombstones)
			}
			if hashes := publishedHashes(t, store); len(hashes) != len(doc.items)-len(wantTombstones) {
				t.Errorf("published_profiles has %d live performers, want %d", len(hashes), len(doc.items)-len(wantTombstones))
			}
		})
	}
}

// span is the integers from lo up to hi, hi excluded.
func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestRunRejects: invalid items are recorded with index, id and reason,
// counted, and never taken for performers that left the feed.
func TestRunRejects(t *testing.T) {
	t.Parallel()
	full := genFeed(t, feedgen.Options{Items: 50, Seed: 41})
	doc := splitFeed(t, full)
	store := sqliteStore(t)
	kafka := startKafka(t)
	runner := newTestRunner(store, kafka.writer, writeTemp(t, "full.json", full))
	if _, row := runFeed(t, store, runner, false); row.Status != db.RunCompleted {
		t.Fatalf("first run: %s", row.Status)
	}
	hashesBefore := publishedHashes(t, store)

	items := slices.Clone(doc.items)
	invalid := doc.find(t, `"tattoos":`, 1)
	items[invalid] = doc.replace(t, invalid, `"tattoos":`, `"tattoos":"sometimes","x":`) // a published performer, now invalid
	badID := doc.replace(t, 0, fmt.Sprintf(`"id":%d`, doc.id(t, 0)), `"id":"abc"`)
	items = append(items, badID, doc.items[1]) // an unreadable id, then a duplicate of item 1
	last := len(items) - 1
	runner.Source = writeTemp(t, "rejects.json", doc.with(items).bytes())

	before := kafka.mark(t, bus.TopicPornstars)
	summary, row := runFeed(t, store, runner, false)
	profiles, tombstones := published(t, kafka.since(t, bus.TopicPornstars, before))

	if row.Status != db.RunCompleted {
		t.Fatalf("status %s (%s), want completed: rejected items do not fail a run", row.Status, derefOr(row.Error, ""))
	}
	if row.ItemsSeen != int64(len(items)) || row.ItemsRejected != 3 || row.ItemsValid != int64(len(items)-3) || summary.Rejected != 3 {
		t.Errorf("seen=%d valid=%d rejected=%d (summary rejected=%d), want %d, %d, 3",
			row.ItemsSeen, row.ItemsValid, row.ItemsRejected, summary.Rejected, len(items), len(items)-3)
	}
	if len(tombstones) != 0 || row.ItemsRemoved != 0 {
		t.Errorf("tombstoned %v: a rejected item is present, never removed", tombstones)
	}
	if len(profiles) != 0 {
		t.Errorf("published %v: nothing valid changed", profiles)
	}
	if got := publishedHashes(t, store); !maps.Equal(got, hashesBefore) {
		t.Errorf("published_profiles changed: a rejected performer keeps its last published state")
	}

	rejects, err := store.Rejects(context.Background(), row.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		index      int64
		feedID     *int64
		reasonPart string
	}{
		{int64(invalid), ptr(doc.id(t, invalid)), "attributes.tattoos"},
		{int64(last - 1), nil, "id: want a positive integer"},
		{int64(last), ptr(doc.id(t, 1)), "duplicate id"},
	}
	if len(rejects) != len(want) {
		t.Fatalf("recorded %d rejects, want %d: %+v", len(rejects), len(want), rejects)
	}
	for i, w := range want {
		got := rejects[i]
		if got.ItemIndex != w.index || !equalPtr(got.FeedID, w.feedID) || !strings.Contains(got.Reason, w.reasonPart) {
			t.Errorf("reject %d: index %d, feed id %v, reason %q; want index %d, feed id %v, reason with %q",
				i, got.ItemIndex, derefOr(got.FeedID, 0), got.Reason, w.index, derefOr(w.feedID, 0), w.reasonPart)
		}
	}
}

// TestRunImageRequests: a run asks for each distinct thumbnail URL once,
// skips cached images and failed ones inside the cool-down, and asks again
// for a failed one once the cool-down has passed.
func TestRunImageRequests(t *testing.T) {
	t.Parallel()
	doc := splitFeed(t, genFeed(t, feedgen.Options{Items: 60, Seed: 51}))
	// A last performer with the first one's image: the same URL in the
	// first and the last batch of the run.
	first := doc.find(t, `"urls":["`, 0)
	sharer := doc.replace(t, first, fmt.Sprintf(`"id":%d`, doc.id(t, first)), `"id":99999999`)
	feed := doc.with(append(slices.Clone(doc.items), sharer)).bytes()
	parsed := parseFeedBytes(t, feed)
	distinct := parsed.urlHashes()
	references := 0
	for _, p := range parsed.profiles {
		references += len(p.Thumbnails)
	}
	// Each item repeats its URL three times and performers share URLs:
	// without both, the dedupe is not tested.
	if len(parsed.rejects) != 0 || len(distinct) == 0 || references <= 3*len(distinct) {
		t.Fatalf("%d thumbnail references to %d URLs, %d rejects: the feed lacks repeated URLs", references, len(distinct), len(parsed.rejects))
	}

	store := sqliteStore(t)
	kafka := startKafka(t)
	runner := newTestRunner(store, kafka.writer, writeTemp(t, "feed.json", feed))
	hashes := slices.Sorted(maps.Keys(distinct))
	cached, failedRecently, failedLongAgo := hashes[0], hashes[1], hashes[2]
	start := time.Now().UTC()

	steps := []struct {
		name    string
		prepare func(t *testing.T)
		now     time.Time // the runner's clock
		want    []string
	}{
		{"first run requests every distinct URL once", nil, start, hashes},
		{"cached and recently failed images are not requested", func(t *testing.T) {
			err := store.UpsertImages(context.Background(), []db.ImageState{
				imageOutcome(cached, distinct[cached], db.ImageCached, start.Add(-time.Hour)),
				imageOutcome(failedRecently, distinct[failedRecently], db.ImageFailed, start.Add(-time.Hour)),
				imageOutcome(failedLongAgo, distinct[failedLongAgo], db.ImageFailed, start.Add(-25*time.Hour)),
			})
			if err != nil {
				t.Fatal(err)
			}
		}, start, minus(hashes, []string{cached, failedRecently})},
		{"a failed image is requested again after the cool-down", nil, start.Add(24 * time.Hour), minus(hashes, []string{cached})},
	}
	for _, step := range steps {
		if step.prepare != nil {
			step.prepare(t)
		}
		runner.now = func() time.Time { return step.now }
		before := kafka.mark(t, bus.TopicImageRequests)
		summary, row := runFeed(t, store, runner, true)
		msgs := kafka.since(t, bus.TopicImageRequests, before)
		if row.Status != db.RunCompleted {
			t.Fatalf("%s: status %s", step.name, row.Status)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, m.Key)
			var req bus.ImageRequest
			if err := json.Unmarshal(m.Value, &req); err != nil {
				t.Fatalf("%s: request %s: %v", step.name, m.Key, err)
			}
			if req.URLHash != m.Key || db.URLHash(req.URL) != m.Key || req.URL != distinct[m.Key] || !req.RequestedAt.Equal(step.now) {
				t.Errorf("%s: request under key %s is %+v", step.name, m.Key, req)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, step.want) {
			t.Errorf("%s: %d requests, want %d\n  unexpected: %v\n  missing: %v\n  repeated: %v", step.name, len(got), len(step.want),
				minus(got, step.want), minus(step.want, got), repeated(got))
		}
		if row.ImagesRequested != int64(len(step.want)) || summary.ImagesRequested != row.ImagesRequested {
			t.Errorf("%s: images_requested=%d (summary %d), want %d", step.name, row.ImagesRequested, summary.ImagesRequested, len(step.want))
		}
	}
}

func imageOutcome(urlHash, url, status string, fetchedAt time.Time) db.ImageState {
	st := db.ImageState{URLHash: urlHash, URL: url, Status: status, Attempts: 1, FetchedAt: &fetchedAt}
	if status == db.ImageFailed {
		st.Error = ptr("HTTP 404")
	}
	return st
}

// feedServer serves one feed document over HTTP with validators, answering
// 304 to a matching If-None-Match, and keeps each request's validators.
type feedServer struct {
	*testServer
	mu           sync.Mutex
	body         []byte
	etag         string
	lastModified string
}

func newFeedServer(t *testing.T) *feedServer {
	fs := &feedServer{}
	fs.testServer = newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		fs.mu.Lock()
		body, etag, lastModified := fs.body, fs.etag, fs.lastModified
		fs.mu.Unlock()
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", lastModified)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	return fs
}

func (fs *feedServer) serve(body []byte, etag, lastModified string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.body, fs.etag, fs.lastModified = body, etag, lastModified
}

// TestRunRecordsFeedRun: the feed_runs row of an HTTP run says where the
// feed came from, its validators, generation date and size, and every
// counter; an unchanged feed costs one conditional request, and the
// validators sent are always those of the last completed run.
func TestRunRecordsFeedRun(t *testing.T) {
	t.Parallel()
	feed := genFeed(t, feedgen.Options{Items: 40, Seed: 61})
	parsed := parseFeedBytes(t, feed)
	broken := feed[:len(feed)/3]
	const (
		modified1 = "Sun, 29 Oct 2023 04:15:03 GMT"
		modified2 = "Mon, 30 Oct 2023 04:15:03 GMT"
	)
	generated := time.Date(2023, 10, 29, 4, 15, 3, 0, time.UTC)

	store := sqliteStore(t)
	kafka := startKafka(t)
	srv := newFeedServer(t)
	runner := newTestRunner(store, kafka.writer, srv.URL+"/feed_pornstars.json?sig=s3cret&sv=2024")

	steps := []struct {
		name       string
		body       []byte
		etag       string
		modified   string
		sentETag   string // If-None-Match of the request
		want       db.FeedRunResult
		wantStatus string
	}{
		{"first run", feed, `"v1"`, modified1, "", db.FeedRunResult{
			HTTPStatus: ptr(int32(200)), ETag: ptr(`"v1"`), LastModified: ptr(modified1), GenerationDate: &generated,
			Bytes: int64(len(feed)), ItemsSeen: 40, ItemsValid: 40, ItemsChanged: 40, ImagesRequested: int64(len(parsed.urlHashes())),
		}, db.RunCompleted},
		{"unchanged feed: one conditional request", feed, `"v1"`, modified1, `"v1"`, db.FeedRunResult{
			HTTPStatus: ptr(int32(304)), ETag: ptr(`"v1"`), LastModified: ptr(modified1),
		}, db.RunNotModified},
		{"a new, broken document fails", broken, `"v2"`, modified2, `"v1"`, db.FeedRunResult{
			HTTPStatus: ptr(int32(200)), ETag: ptr(`"v2"`), LastModified: ptr(modified2), GenerationDate: &generated,
			Bytes: int64(len(broken)),
		}, db.RunFailed},
		{"the failed run's validators are not sent", feed, `"v1"`, modified1, `"v1"`, db.FeedRunResult{
			HTTPStatus: ptr(int32(304)), ETag: ptr(`"v1"`), LastModified: ptr(modified1),
		}, db.RunNotModified},
	}
	for i, step := range steps {
		srv.serve(step.body, step.etag, step.modified)
		before := kafka.mark(t, bus.TopicPornstars)
		summary, row := runFeed(t, store, runner, false)
		if row.Status != step.wantStatus || summary.Status != step.wantStatus {
			t.Fatalf("%s: status %s (summary %s, error %q), want %s", step.name, row.Status, summary.Status, derefOr(row.Error, ""), step.wantStatus)
		}
		if got := srv.requests(); got != i+1 {
			t.Fatalf("%s: %d requests in all, want %d", step.name, got, i+1)
		}
		sent := srv.header(i)
		if got := sent.Get("If-None-Match"); got != step.sentETag {
			t.Errorf("%s: sent If-None-Match %q, want %q", step.name, got, step.sentETag)
		}
		if step.sentETag != "" && sent.Get("If-Modified-Since") != modified1 {
			t.Errorf("%s: sent If-Modified-Since %q, want the last completed run's %q", step.name, sent.Get("If-Modified-Since"), modified1)
		}

		got := row.FeedRunResult
		if src := derefOr(got.Source, ""); strings.Contains(src, "s3cret") || !strings.HasPrefix(src, srv.URL+"/feed_pornstars.json") {
			t.Errorf("%s: recorded source %q: want the feed URL with its credentials hidden", step.name, src)
		}
		if !equalPtr(got.HTTPStatus, step.want.HTTPStatus) || !equalPtr(got.ETag, step.want.ETag) || !equalPtr(got.LastModified, step.want.LastModified) {
			t.Errorf("%s: http_status %s, etag %s, last_modified %s; want %s, %s, %s", step.name,
				show(got.HTTPStatus), show(got.ETag), show(got.LastModified),
				show(step.want.HTTPStatus), show(step.want.ETag), show(step.want.LastModified))
		}
		if !equalTime(got.GenerationDate, step.want.GenerationDate) {
			t.Errorf("%s: generation_date %v, want %v", step.name, got.GenerationDate, step.want.GenerationDate)
		}
		counters := func(r db.FeedRunResult) [8]int64 {
			return [8]int64{r.Bytes, r.ItemsSeen, r.ItemsValid, r.ItemsRejected, r.ItemsChanged, r.ItemsRemoved, r.ImagesRequested, boolInt(r.RemovalsSuppressed)}
		}
		if step.wantStatus != db.RunFailed && counters(got) != counters(step.want) {
			t.Errorf("%s: bytes, seen, valid, rejected, changed, removed, images, suppressed = %v, want %v", step.name, counters(got), counters(step.want))
		}
		if step.wantStatus == db.RunFailed {
			if got.Bytes != step.want.Bytes || got.Error == nil || !strings.Contains(*got.Error, "broken feed") {
				t.Errorf("%s: bytes %d, error %q; want %d bytes and the parse error", step.name, got.Bytes, derefOr(got.Error, ""), step.want.Bytes)
			}
		} else if got.Error != nil {
			t.Errorf("%s: error %q recorded", step.name, *got.Error)
		}
		if row.StartedAt == nil || got.FinishedAt == nil || got.FinishedAt.Before(*row.StartedAt) {
			t.Errorf("%s: started %v, finished %v", step.name, row.StartedAt, got.FinishedAt)
		}
		if step.wantStatus == db.RunNotModified {
			if msgs := kafka.since(t, bus.TopicPornstars, before); len(msgs) != 0 {
				t.Errorf("%s: published %d messages", step.name, len(msgs))
			}
		}
	}
}

// TestRunFetchFailure: a feed that cannot be fetched fails the run with the
// reason and, for an HTTP answer, its status; nothing is published.
func TestRunFetchFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int // answered by the server; 0: a missing local file
		wantHTTP   *int32
		wantErrHas string
	}{
		{"gone for good", http.StatusNotFound, ptr(int32(404)), "HTTP 404"},
		{"server error after the retries", http.StatusServiceUnavailable, ptr(int32(503)), "HTTP 503"},
		{"missing local file", 0, nil, "feed not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			pub := &memPublisher{}
			source := t.TempDir() + "/missing.json"
			if tt.status != 0 {
				source = newTestServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
					w.WriteHeader(tt.status)
				}).URL + "/feed.json"
			}
			summary, row := runFeed(t, store, newTestRunner(store, pub, source), false)
			if row.Status != db.RunFailed || summary.Err == nil {
				t.Fatalf("status %s, error %v; want failed", row.Status, summary.Err)
			}
			if !strings.Contains(derefOr(row.Error, ""), tt.wantErrHas) {
				t.Errorf("error %q, want it to mention %q", derefOr(row.Error, ""), tt.wantErrHas)
			}
			if !equalPtr(row.HTTPStatus, tt.wantHTTP) {
				t.Errorf("http_status %s, want %s", show(row.HTTPStatus), show(tt.wantHTTP))
			}
			if pub.count(bus.TopicPornstars)+pub.count(bus.TopicImageRequests) != 0 {
				t.Errorf("a failed fetch published messages")
			}
		})
	}
}

// TestRunPublishFailure: when Kafka refuses the profiles the run fails and
// records nothing as published, so the next run publishes them all.
func TestRunPublishFailure(t *testing.T) {
	t.Parallel()
	feed := genFeed(t, feedgen.Options{Items: 30, Seed: 71})
	store := sqliteStore(t)
	pub := &memPublisher{err: errors.New("kafka: broker not available")}
	runner := newTestRunner(store, pub, writeTemp(t, "feed.json", feed))

	summary, row := runFeed(t, store, runner, false)
	if row.Status != db.RunFailed || !strings.Contains(derefOr(row.Error, ""), "broker not available") || summary.Err == nil {
		t.Fatalf("status %s, error %q; want failed with the publisher's error", row.Status, derefOr(row.Error, ""))
	}
	if got := publishedHashes(t, store); len(got) != 0 {
		t.Errorf("%d profiles recorded as published though Kafka never acknowledged them", len(got))
	}

	pub.mu.Lock()
	pub.err = nil
	pub.mu.Unlock()
	_, row = runFeed(t, store, runner, false)
	if row.Status != db.RunCompleted || row.ItemsChanged != 30 || pub.count(bus.TopicPornstars) != 30 {
		t.Errorf("retry: status %s, changed %d, published %d; want completed, 30, 30", row.Status, row.ItemsChanged, pub.count(bus.TopicPornstars))
	}
}

// sortedUnion returns the sorted union of id lists.
func sortedUnion(lists ...[]int64) []int64 {
	var out []int64
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// minus returns the elements of a that are not in b.
func minus[T comparable](a, b []T) []T {
	var out []T
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// repeated returns the elements of a sorted slice that occur more than once.
func repeated[T comparable](sorted []T) []T {
	var out []T
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			out = append(out, sorted[i])
		}
	}
	return out
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestRunFieldWarnings: values their field's rule refuses are published as
// unknown (so downstream never sees them), counted on the run and recorded
// as warnings up to the per-run cap; the items are valid, not rejected.
func TestRunFieldWarnings(t *testing.T) {
	t.Parallel()
	manyNegative := func(n int) []byte {
		items := make([]string, n)
		for i := range items {
			items[i] = fmt.Sprintf(`{"id":%d,"name":"P%d","attributes":{"age":-1}}`, i+1, i+1)
		}
		return []byte(`{"items":[` + strings.Join(items, ",") + `]}`)
	}
	type warned struct {
		index  int64
		feedID int64
		field  string
		value  string
	}
	tests := []struct {
		name         string
		feed         []byte
		warnings     int64
		kept         int64
		first        []warned
		nullAgeOfIDs []int64
	}{
		{"a hand-written feed", []byte(`{"items":[
			{"id":1,"name":"Clean","attributes":{"age":30}},
			{"id":2,"name":"Negative age","attributes":{"age":-30,"gender":"female"}},
			{"id":3,"name":"Negative stats","attributes":{"age":"-1","stats":{"views":-5,"rank":-2}}}
		]}`), 4, 4, []warned{{1, 2, "age", "-30"}, {2, 3, "age", "-1"}, {2, 3, "views", "-5"}, {2, 3, "rank", "-2"}}, []int64{2, 3}},
		{"more warnings than the cap", manyNegative(db.MaxWarningsPerRun + 5), db.MaxWarningsPerRun + 5, db.MaxWarningsPerRun,
			[]warned{{0, 1, "age", "-1"}, {1, 2, "age", "-1"}}, []int64{1, int64(db.MaxWarningsPerRun + 5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := sqliteStore(t)
			pub := &memPublisher{}
			runner := newTestRunner(store, pub, writeTemp(t, "feed.json", tt.feed))
			_, row := runFeed(t, store, runner, false)
			if row.Status != db.RunCompleted || row.ItemsRejected != 0 || row.ItemsValid != row.ItemsSeen {
				t.Fatalf("run %s, seen %d, valid %d, rejected %d: a refused value does not reject its item",
					row.Status, row.ItemsSeen, row.ItemsValid, row.ItemsRejected)
			}
			if row.Warnings != tt.warnings {
				t.Errorf("run warnings = %d, want %d", row.Warnings, tt.warnings)
			}
			list, err := store.Warnings(context.Background(), row.ID, db.MaxWarningsPerRun, "")
			if err != nil {
				t.Fatal(err)
			}
			if list.Total != tt.kept || int64(len(list.Warnings)) != tt.kept {
				t.Errorf("kept %d warnings (total %d), want %d", len(list.Warnings), list.Total, tt.kept)
			}
			for i, want := range tt.first {
				w := list.Warnings[i]
				if w.ItemIndex != want.index || derefOr(w.FeedID, 0) != want.feedID || w.Field != want.field || w.Value != want.value ||
					!strings.HasPrefix(w.Reason, "must be an integer from 0 to ") {
					t.Errorf("warning %d = %+v, want %+v", i, w, want)
				}
			}
			ages := map[int64]json.RawMessage{}
			for _, m := range pub.msgs[bus.TopicPornstars] {
				var p struct {
					FeedID int64           `json:"feed_id"`
					Age    json.RawMessage `json:"age"`
				}
				if err := json.Unmarshal(m.Value, &p); err != nil {
					t.Fatal(err)
				}
				ages[p.FeedID] = p.Age
			}
			for _, id := range tt.nullAgeOfIDs {
				if string(ages[id]) != "null" {
					t.Errorf("published age of %d = %s, want null", id, ages[id])
				}
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	const url = "https://img.example.test/a/b.jpg"
	if got, want := keyOf(db.URLHash(url)), urlHashKey(sha256.Sum256([]byte(url))); got != want {
		t.Errorf("keyOf(URLHash(%q)) = %x, want the URL's SHA-256 %x", url, got, want)
	}
	// Strings that are not a URL hash still get keys of their own.
	odd := []string{"", "abc", strings.Repeat("g", 64), strings.Repeat("A", 64), strings.Repeat("a", 64)}
	seen := map[urlHashKey]string{}
	for _, s := range odd {
		k := keyOf(s)
		if prev, dup := seen[k]; dup {
			t.Errorf("keyOf(%q) = keyOf(%q)", s, prev)
		}
		seen[k] = s
	}
}
