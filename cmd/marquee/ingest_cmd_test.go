package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/samples"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// feedCounts are what a feed leaves in the database.
type feedCounts struct {
	performers, aliases, thumbnails, distinctURLs, cachedImages int
}

func countFeedRows(t *testing.T, dbURL string) feedCounts {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, db.Options{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var c feedCounts
	for _, q := range []struct {
		sql string
		to  *int
	}{
		{"SELECT COUNT(*) FROM pornstars WHERE removed_at IS NULL", &c.performers},
		{"SELECT COUNT(*) FROM aliases", &c.aliases},
		{"SELECT COUNT(*) FROM thumbnails", &c.thumbnails},
		{"SELECT COUNT(DISTINCT url_hash) FROM thumbnails", &c.distinctURLs},
		{"SELECT COUNT(*) FROM images WHERE status = 'cached'", &c.cachedImages},
	} {
		if err := d.R.QueryRowContext(ctx, q.sql).Scan(q.to); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// endToEnd is what TestIngestOnceEndToEnd expects of a head sample and of
// the older and bare-array samples of the same performers.
type endToEnd struct {
	older, bareArray samples.Sample
	// The rows after the head, after the older generation and after the
	// bare array.
	afterHead, afterOlder, afterBareArray feedCounts
}

var endToEndSamples = map[string]endToEnd{
	samples.Head.Name: {samples.Older, samples.BareArray,
		feedCounts{100, 274, 291, 96, 96}, feedCounts{100, 274, 291, 96, 104}, feedCounts{100, 274, 291, 96, 104}},
	samples.RealHead.Name: {samples.RealOlder, samples.RealBareArray,
		feedCounts{100, 305, 288, 96, 96}, feedCounts{100, 305, 288, 96, 104}, feedCounts{100, 305, 288, 96, 104}},
}

// TestIngestOnceEndToEnd runs `marquee ingest --once` on a head sample (the
// fixture, and the real head when MARQUEE_TEST_SAMPLES names it), then on
// the older and bare-array samples of the same performers, through the
// embedded broker into SQLite and MySQL, its compactor fetching from a local
// server that stands in for the image hosts: the summary line, the rows
// written, the images fetched (once per distinct URL, however often the feed
// runs), the bytes stored (once, although the older generation names them
// on the di. host), an unchanged re-run, and `dev verify`.
func TestIngestOnceEndToEnd(t *testing.T) {
	for _, head := range samples.Head.WithReal() {
		t.Run(head.Name, func(t *testing.T) { testIngestOnceEndToEnd(t, head, endToEndSamples[head.Name]) })
	}
}

func testIngestOnceEndToEnd(t *testing.T, head samples.Sample, want endToEnd) {
	headFeed, olderFeed, bareFeed := head.Path(t), want.older.Path(t), want.bareArray.Path(t)
	headImages := feedImageRequests(t, headFeed)
	olderImages := feedImageRequests(t, headFeed, olderFeed)
	allImages := feedImageRequests(t, headFeed, olderFeed, bareFeed)
	storedFiles := want.afterHead.cachedImages // the older generation's bytes are the head's
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			dbURL := backend.URL(t)
			dataDir := t.TempDir()
			images, hook := imageHosts(t)
			ingestOnce := func(feed string, extra ...string) (int, string, string) {
				args := append([]string{"ingest", "--once", "--feed", feed, "--db", dbURL, "--data-dir", dataDir,
					"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, extra...)
				return runPipeline(t.Context(), hook, args...)
			}
			steps := []struct {
				name        string
				feed        string
				extra       []string
				wantSummary string
				wantRows    feedCounts
				wantImages  map[string]int // the requests per path, so far
				wantVerify  int
			}{
				{"first run of the head", headFeed, nil,
					"status=completed seen=100 valid=100 rejected=0 changed=100 removed=0 images_requested=96",
					want.afterHead, headImages, exitOK},
				{"unchanged file: not modified, nothing published", headFeed, nil,
					"status=not_modified seen=0 valid=0 rejected=0 changed=0 removed=0 images_requested=0",
					want.afterHead, headImages, exitOK},
				{"forced re-run: fetched, nothing changed, every image cached", headFeed, []string{"--force"},
					"status=completed seen=100 valid=100 rejected=0 changed=0 removed=0 images_requested=0",
					want.afterHead, headImages, exitOK},
				{"the older generation on the di. host: its URLs fetched, the same bytes stored once; removals suppressed by the shrink valve", olderFeed, nil,
					"status=completed seen=8 valid=8 rejected=0 changed=8 removed=0 images_requested=8",
					want.afterOlder, olderImages, exitFailure},
				{"the bare array (its image is the head's): removals suppressed by the shrink valve", bareFeed, nil,
					"status=completed seen=1 valid=1 rejected=0 changed=1 removed=0 images_requested=0",
					want.afterBareArray, allImages, exitFailure},
			}
			for _, step := range steps {
				code, stdout, stderr := ingestOnce(step.feed, step.extra...)
				if code != exitOK || strings.TrimSpace(stdout) != step.wantSummary {
					t.Fatalf("%s: exit %d, stdout %q, want %q\nstderr:\n%s", step.name, code, stdout, step.wantSummary, tail(stderr))
				}
				if got := countFeedRows(t, dbURL); got != step.wantRows {
					t.Errorf("%s: rows %+v, want %+v", step.name, got, step.wantRows)
				}
				checkImageRequests(t, images, step.wantImages, step.name)
				if n := countStoredImages(t, dataDir); n != storedFiles {
					t.Errorf("%s: %d files in the image store, want %d", step.name, n, storedFiles)
				}
				code, stdout, _ = runCLI(t.Context(), nil, "dev", "verify", "--feed", step.feed, "--db", dbURL)
				if code != step.wantVerify {
					t.Errorf("%s: dev verify exit %d, want %d\n%s", step.name, code, step.wantVerify, tail(stdout))
				}
			}
		})
	}
}

// TestIngestOnceSmallSamples checks the exact outcome of the other samples
// (the fixtures, and the real ones when MARQUEE_TEST_SAMPLES names them),
// each into a fresh database.
func TestIngestOnceSmallSamples(t *testing.T) {
	want := map[string]struct {
		summary string
		rows    feedCounts
	}{
		samples.Older.Name: {"status=completed seen=8 valid=8 rejected=0 changed=8 removed=0 images_requested=8",
			feedCounts{8, 33, 24, 8, 8}},
		samples.BareArray.Name: {"status=completed seen=1 valid=1 rejected=0 changed=1 removed=0 images_requested=1",
			feedCounts{1, 1, 3, 1, 1}},
		// Broken items are rejected and the rest loaded; the same image on
		// two hosts is two URLs, both cached.
		samples.Quirks.Name: {"status=completed seen=12 valid=6 rejected=6 changed=6 removed=0 images_requested=7",
			feedCounts{6, 8, 15, 7, 7}},
		samples.RealOlder.Name: {"status=completed seen=8 valid=8 rejected=0 changed=8 removed=0 images_requested=8",
			feedCounts{8, 29, 24, 8, 8}},
		samples.RealBareArray.Name: {"status=completed seen=1 valid=1 rejected=0 changed=1 removed=0 images_requested=1",
			feedCounts{1, 4, 3, 1, 1}},
	}
	var all []samples.Sample
	for _, s := range []samples.Sample{samples.Older, samples.BareArray, samples.Quirks} {
		all = append(all, s.WithReal()...)
	}
	for _, sample := range all {
		t.Run(sample.Name, func(t *testing.T) {
			tc := want[sample.Name]
			feed := sample.Path(t)
			dataDir := t.TempDir()
			dbURL := "sqlite://" + filepath.Join(dataDir, "marquee.db")
			images, hook := imageHosts(t)
			code, stdout, stderr := runPipeline(t.Context(), hook, "ingest", "--once", "--feed", feed,
				"--data-dir", dataDir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
			if code != exitOK || strings.TrimSpace(stdout) != tc.summary {
				t.Fatalf("exit %d, stdout %q, want %q\n%s", code, stdout, tc.summary, tail(stderr))
			}
			if got := countFeedRows(t, dbURL); got != tc.rows {
				t.Errorf("rows %+v, want %+v", got, tc.rows)
			}
			checkImageRequests(t, images, feedImageRequests(t, feed), sample.Name)
			if code, out, _ := runCLI(t.Context(), nil, "dev", "verify", "--feed", feed, "--data-dir", dataDir); code != exitOK {
				t.Errorf("dev verify exit %d:\n%s", code, tail(out))
			}
		})
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
