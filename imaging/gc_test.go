package imaging_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

const gcGrace = 30 * 24 * time.Hour

// gcFixture is a store and an image store with performers and stored files.
type gcFixture struct {
	t     *testing.T
	store *db.Store
	files imaging.ObjectStore
	// backdate runs put so that the object it stores under key was
	// written at written.
	backdate func(key string, written time.Time, put func())
	next     int64
}

// gcStores are the image stores the collector's tests run on.
var gcStores = []struct {
	name string
	open func(t *testing.T) (imaging.ObjectStore, func(string, time.Time, func()))
}{
	{"directory", func(t *testing.T) (imaging.ObjectStore, func(string, time.Time, func())) {
		files := openFiles(t)
		return files, func(key string, written time.Time, put func()) {
			put()
			path := filepath.Join(files.Dir(), filepath.FromSlash(key))
			if err := os.Chtimes(path, written, written); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"s3", func(t *testing.T) (imaging.ObjectStore, func(string, time.Time, func())) {
		srv := imagingtest.FakeS3(t)
		return openS3(t, srv, "gc-test"), func(_ string, written time.Time, put func()) { srv.WriteAt(written, put) }
	}},
}

// storeBytes writes content into the image store as the compactor would
// leave it and returns its content hash.
func (f *gcFixture) storeBytes(content string, written time.Time) string {
	f.t.Helper()
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	key, err := imaging.ContentKey(hash)
	if err != nil {
		f.t.Fatal(err)
	}
	f.backdate(key, written, func() {
		err = f.files.Put(context.Background(), key, strings.NewReader(content), int64(len(content)), "image/png")
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return hash
}

// performer loads a feed performer with one thumbnail whose image is cached
// with the bytes of content; removedAgo > 0 marks it removed that long ago.
func (f *gcFixture) performer(url, content string, removedAgo time.Duration) {
	f.t.Helper()
	ctx := context.Background()
	f.next++
	feedID := f.next
	urlHash := db.URLHash(url)
	profile := db.Profile{SchemaVersion: 1, FeedID: feedID, PornstarFields: db.PornstarFields{Name: fmt.Sprintf("Performer %d", feedID)},
		Thumbnails: []db.ProfileThumbnail{{Type: "pc", URL: url, URLHash: urlHash}}}
	var err error
	profile.ContentHash = profile.ComputeContentHash()
	if _, err := f.store.UpsertProfiles(ctx, []db.Profile{profile}); err != nil {
		f.t.Fatal(err)
	}
	f.cache(url, content)
	if removedAgo > 0 {
		if _, err := f.store.MarkRemoved(ctx, []int64{feedID}); err != nil {
			f.t.Fatal(err)
		}
		_, err = f.store.DB().W.NewUpdate().Model((*db.Pornstar)(nil)).Set("removed_at = ?", time.Now().UTC().Add(-removedAgo)).
			Where("external_id = ?", feedID).Exec(ctx)
		if err != nil {
			f.t.Fatal(err)
		}
	}
}

// cache records url as cached with the bytes of content, as the loader does,
// the images row last written long ago.
func (f *gcFixture) cache(url, content string) {
	f.t.Helper()
	ctx := context.Background()
	sum := sha256.Sum256([]byte(content))
	hash, size, typ := hex.EncodeToString(sum[:]), int64(len(content)), "image/png"
	fetched := time.Now().UTC().Add(-400 * 24 * time.Hour)
	if err := f.store.UpsertImages(ctx, []db.ImageState{{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached,
		ContentSHA256: &hash, ContentType: &typ, Bytes: &size, Attempts: 1, FetchedAt: &fetched}}); err != nil {
		f.t.Fatal(err)
	}
	_, err := f.store.DB().W.NewUpdate().Model((*db.Image)(nil)).Set("updated_at = ?", fetched).
		Where("url_hash = ?", db.URLHash(url)).Exec(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *gcFixture) exists(hash string) bool {
	key, _ := imaging.ContentKey(hash)
	_, err := f.files.Stat(context.Background(), key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.t.Fatal(err)
	}
	return err == nil
}

func (f *gcFixture) gc(apply bool) imaging.GCReport {
	f.t.Helper()
	g := &imaging.GC{Store: f.store, Files: f.files, Grace: gcGrace, Apply: apply, ClaimWait: waitLimit,
		Poll: 10 * time.Millisecond, Logger: quietLogger()}
	report, err := g.Run(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return report
}

// onEachGCFixture runs test on a fixture of each database backend and
// image store.
func onEachGCFixture(t *testing.T, test func(t *testing.T, f *gcFixture)) {
	for _, b := range dbtest.Backends() {
		for _, s := range gcStores {
			t.Run(b.Name+"/"+s.name, func(t *testing.T) {
				t.Parallel()
				files, backdate := s.open(t)
				test(t, &gcFixture{t: t, store: testkit.OpenStore(t, b.URL(t)), files: files, backdate: backdate})
			})
		}
	}
}

// TestGCDeletesOnlyBytesUnusedPastTheGrace: of a set of stored files, the
// dry run lists and the applied run deletes exactly those no performer in
// the feed has used for longer than the grace, and orphans written before
// it; an image whose bytes were deleted is pending again.
func TestGCDeletesOnlyBytesUnusedPastTheGrace(t *testing.T) {
	old := time.Now().Add(-40 * 24 * time.Hour)
	cases := []struct {
		name    string
		setUp   func(f *gcFixture) string
		deleted bool
	}{
		{"removed past the grace", func(f *gcFixture) string {
			f.performer("https://img.test/removed-long-ago.jpg", "removed long ago", 40*24*time.Hour)
			return f.storeBytes("removed long ago", old)
		}, true},
		{"removed within the grace", func(f *gcFixture) string {
			f.performer("https://img.test/removed-lately.jpg", "removed lately", 10*24*time.Hour)
			return f.storeBytes("removed lately", old)
		}, false},
		{"shown by a performer in the feed", func(f *gcFixture) string {
			f.performer("https://img.test/active.jpg", "active", 0)
			return f.storeBytes("active", old)
		}, false},
		{"shared by a removed and an active performer", func(f *gcFixture) string {
			f.performer("https://img.test/shared-removed.jpg", "shared", 40*24*time.Hour)
			f.performer("https://img.test/shared-active.jpg", "shared", 0)
			return f.storeBytes("shared", old)
		}, false},
		{"orphan written before the grace", func(f *gcFixture) string {
			return f.storeBytes("orphan old", old)
		}, true},
		{"orphan written lately", func(f *gcFixture) string {
			return f.storeBytes("orphan new", time.Now())
		}, false},
		{"recorded, no thumbnail: clock starts when first seen", func(f *gcFixture) string {
			f.cache("https://img.test/dropped-url.jpg", "dropped url")
			return f.storeBytes("dropped url", old)
		}, false},
	}
	onEachGCFixture(t, func(t *testing.T, f *gcFixture) {
		hashes := make([]string, len(cases))
		for i, tc := range cases {
			hashes[i] = tc.setUp(f)
			prefix, _ := imaging.VariantPrefix(hashes[i])
			if err := f.files.Put(t.Context(), prefix+"w64.webp", strings.NewReader("variant"), int64(len("variant")), "image/webp"); err != nil {
				t.Fatal(err)
			}
		}
		dry := f.gc(false)
		listed := map[string]bool{}
		for _, g := range dry.Garbage {
			listed[g.ContentSHA256] = true
			if g.Deleted {
				t.Errorf("dry run deleted %s", g.ContentSHA256)
			}
		}
		for i, tc := range cases {
			if listed[hashes[i]] != tc.deleted {
				t.Errorf("%s: dry run lists it %v, want %v", tc.name, listed[hashes[i]], tc.deleted)
			}
			if !f.exists(hashes[i]) {
				t.Errorf("%s: the dry run deleted the file", tc.name)
			}
		}
		applied := f.gc(true)
		files, bytes := applied.Freed()
		if files != 2 || bytes != int64(len("removed long ago")+len("orphan old")) {
			t.Errorf("freed %d files, %d bytes; want 2, %d", files, bytes, len("removed long ago")+len("orphan old"))
		}
		for i, tc := range cases {
			if got := !f.exists(hashes[i]); got != tc.deleted {
				t.Errorf("%s: deleted %v, want %v", tc.name, got, tc.deleted)
			}
		}
		// Variants go with their original, and stay with it.
		for i, tc := range cases {
			prefix, _ := imaging.VariantPrefix(hashes[i])
			if got := len(listKeys(t, f.files, prefix)) == 0; got != tc.deleted {
				t.Errorf("%s: variants deleted %v, want %v", tc.name, got, tc.deleted)
			}
		}
		img, err := f.store.Images(context.Background(), []string{db.URLHash("https://img.test/removed-long-ago.jpg")})
		if err != nil || len(img) != 0 {
			t.Errorf("image of deleted bytes: %v, %v; want pending (no row)", img, err)
		}
	})
}

// TestGCKeepsBytesAFetchStoresMeanwhile: a compactor that found the bytes
// already stored, and records them while the collector is deciding, keeps
// them: the file is back in place and its image cached.
func TestGCKeepsBytesAFetchStoresMeanwhile(t *testing.T) {
	onEachGCFixture(t, func(t *testing.T, f *gcFixture) {
		ctx := context.Background()
		f.performer("https://img.test/gone.jpg", "same bytes", 40*24*time.Hour)
		hash := f.storeBytes("same bytes", time.Now().Add(-40*24*time.Hour))

		// A compactor claims a new URL with the same bytes; it found
		// them stored, so it records the outcome without writing a file.
		url := "https://img.test/new-url-same-bytes.jpg"
		urlHash := db.URLHash(url)
		now := time.Now()
		if _, err := f.store.ClaimImageFetches(ctx, "compactor", now, now.Add(time.Hour),
			[]db.ImageClaim{{URLHash: urlHash, URL: url}}); err != nil {
			t.Fatal(err)
		}
		recorded := make(chan error, 1)
		go func() {
			// It records once the collector has taken the file out of
			// service: the moment that would lose the bytes.
			deadline := time.Now().Add(waitLimit)
			for f.exists(hash) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			size, typ, fetched := int64(len("same bytes")), "image/png", time.Now().UTC()
			_, err := f.store.FinishImageFetches(ctx, "compactor", []db.ImageState{{URLHash: urlHash, URL: url,
				Status: db.ImageCached, ContentSHA256: &hash, ContentType: &typ, Bytes: &size, Attempts: 1, FetchedAt: &fetched}})
			recorded <- err
		}()
		report := f.gc(true)
		if err := <-recorded; err != nil {
			t.Fatal(err)
		}
		if files, _ := report.Freed(); files != 0 {
			t.Errorf("freed %d files, want 0: %+v", files, report.Garbage)
		}
		if len(report.Garbage) != 1 || report.Garbage[0].Kept != "in use again" {
			t.Errorf("report %+v, want the file kept as in use again", report.Garbage)
		}
		if !f.exists(hash) {
			t.Fatal("the bytes the compactor recorded were deleted")
		}
		fetches, err := f.store.ImageFetches(ctx, []string{urlHash})
		if err != nil || fetches[urlHash].Status != db.ImageCached {
			t.Errorf("compactor's record %+v, %v; want cached", fetches[urlHash], err)
		}
	})
}
