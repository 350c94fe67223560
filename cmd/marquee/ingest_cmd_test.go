package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
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

// TestIngestOnceEndToEnd runs `marquee ingest --once` on the real samples
// through the embedded broker into SQLite and MySQL, its compactor fetching
// from a local server that stands in for the real image hosts: the summary
// line, the rows written, the images fetched (once per distinct URL, however
// often the feed runs), an unchanged re-run, and `dev verify`.
func TestIngestOnceEndToEnd(t *testing.T) {
	feeds := "../../../shared/feeds/"
	headPaths := feedImagePaths(t, feeds+"real-head-100.json")
	allPaths := feedImagePaths(t, feeds+"real-2024-12-bare-array.json")
	for p := range headPaths {
		allPaths[p] = true
	}
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			dbURL := backend.URL(t)
			dataDir := t.TempDir()
			images, hook := imageHosts(t)
			ingestOnce := func(feed string, extra ...string) (int, string, string) {
				args := append([]string{"ingest", "--once", "--feed", feeds + feed, "--db", dbURL, "--data-dir", dataDir,
					"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, extra...)
				return runPipeline(t.Context(), hook, args...)
			}
			steps := []struct {
				name        string
				feed        string
				extra       []string
				wantSummary string
				wantRows    feedCounts
				wantImages  map[string]bool // the paths requested once each, so far
				wantVerify  int
			}{
				{"first run of the real head", "real-head-100.json", nil,
					"status=completed seen=100 valid=100 rejected=0 changed=100 removed=0 images_requested=96",
					feedCounts{100, 305, 288, 96, 96}, headPaths, exitOK},
				{"unchanged file: not modified, nothing published", "real-head-100.json", nil,
					"status=not_modified seen=0 valid=0 rejected=0 changed=0 removed=0 images_requested=0",
					feedCounts{100, 305, 288, 96, 96}, headPaths, exitOK},
				{"forced re-run: fetched, nothing changed, every image cached", "real-head-100.json", []string{"--force"},
					"status=completed seen=100 valid=100 rejected=0 changed=0 removed=0 images_requested=0",
					feedCounts{100, 305, 288, 96, 96}, headPaths, exitOK},
				{"the bare-array sample (its image is the head's): removals suppressed by the shrink valve", "real-2024-12-bare-array.json", nil,
					"status=completed seen=1 valid=1 rejected=0 changed=1 removed=0 images_requested=0",
					feedCounts{100, 305, 288, 96, 96}, allPaths, exitFailure},
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
				if n := countStoredImages(t, dataDir); n != step.wantRows.cachedImages {
					t.Errorf("%s: %d files in the image store, want %d", step.name, n, step.wantRows.cachedImages)
				}
				code, stdout, _ = runCLI(t.Context(), nil, "dev", "verify", "--feed", feeds+step.feed, "--db", dbURL)
				if code != step.wantVerify {
					t.Errorf("%s: dev verify exit %d, want %d\n%s", step.name, code, step.wantVerify, tail(stdout))
				}
			}
		})
	}
}

// TestIngestOnceSmallSamples checks the exact counts of the other samples,
// each into a fresh database.
func TestIngestOnceSmallSamples(t *testing.T) {
	for _, tc := range []struct {
		feed string
		want feedCounts
	}{
		{"real-2023-05-8items.json", feedCounts{8, 29, 24, 8, 8}},
		{"real-2024-12-bare-array.json", feedCounts{1, 4, 3, 1, 1}},
	} {
		t.Run(tc.feed, func(t *testing.T) {
			dataDir := t.TempDir()
			dbURL := "sqlite://" + filepath.Join(dataDir, "marquee.db")
			images, hook := imageHosts(t)
			code, stdout, stderr := runPipeline(t.Context(), hook, "ingest", "--once", "--feed", "../../../shared/feeds/"+tc.feed,
				"--data-dir", dataDir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
			if code != exitOK || !strings.HasPrefix(stdout, "status=completed") {
				t.Fatalf("exit %d, stdout %q\n%s", code, stdout, tail(stderr))
			}
			if got := countFeedRows(t, dbURL); got != tc.want {
				t.Errorf("rows %+v, want %+v", got, tc.want)
			}
			checkImageRequests(t, images, feedImagePaths(t, "../../../shared/feeds/"+tc.feed), tc.feed)
			if code, out, _ := runCLI(t.Context(), nil, "dev", "verify", "--feed", "../../../shared/feeds/"+tc.feed, "--data-dir", dataDir); code != exitOK {
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
