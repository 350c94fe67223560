package imaging_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/demo"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/imaging/variant"
	"marquee/internal/testkit"
)

// variantsOf renders a WebP and a JPEG variant of the stored bytes of
// content through a cache over f's store and files, and returns the cache.
func (f *gcFixture) renderVariants(cache *variant.Cache, contentSHA256 string) {
	f.t.Helper()
	for _, format := range []variant.Format{variant.WebP, variant.JPEG} {
		served, err := cache.Get(context.Background(), variant.Original{ContentSHA256: contentSHA256, ContentType: imaging.TypeJPEG},
			variant.Spec{Width: 64, Format: format})
		if err != nil {
			f.t.Fatal(err)
		}
		served.Body.Close()
	}
}

func (f *gcFixture) variantCache(blobs variant.Blobs) *variant.Cache {
	cache, err := variant.NewCache(variant.Config{Index: f.store, Blobs: blobs, MaxPixels: 50_000_000,
		Originals: func(c string) (io.ReadCloser, error) {
			return imaging.Contents{Store: f.files}.Open(context.Background(), c)
		}})
	if err != nil {
		f.t.Fatal(err)
	}
	return cache
}

// variantsLeft counts the recorded variants of contentSHA256 and the files
// of them left in blobs.
func (f *gcFixture) variantsLeft(blobs variant.Blobs, contentSHA256 string) (recorded, stored int) {
	f.t.Helper()
	rows, err := f.store.ImageVariantsOf(context.Background(), contentSHA256)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, format := range []variant.Format{variant.WebP, variant.JPEG} {
		body, _, err := blobs.Open(variant.Key(contentSHA256, variant.Spec{Width: 64, Format: format}, variant.DefaultQuality))
		if err == nil {
			body.Close()
			stored++
		} else if !errors.Is(err, fs.ErrNotExist) {
			f.t.Fatal(err)
		}
	}
	return len(rows), stored
}

// TestVariantsGoWithTheirOriginal: a takedown and the garbage collection
// that delete an original's bytes delete its variants too, and leave the
// variants of other originals.
func TestVariantsGoWithTheirOriginal(t *testing.T) {
	cases := []struct {
		name   string
		delete func(f *gcFixture, remover variant.Remover)
	}{
		{"a takedown", func(f *gcFixture, remover variant.Remover) {
			takedowns := &imaging.Takedowns{Store: f.store, Files: f.files, Variants: remover, Logger: quietLogger()}
			td, err := takedowns.TakeDown(context.Background(), db.TakedownInput{FeedID: ptr(int64(1)), Reason: "court order", TakenBy: "cli"})
			if err != nil || len(td.DeletedFiles) != 1 {
				f.t.Fatalf("takedown: %+v, %v", td, err)
			}
		}},
		{"the garbage collection", func(f *gcFixture, remover variant.Remover) {
			if _, err := f.store.MarkRemoved(context.Background(), []int64{1}); err != nil {
				f.t.Fatal(err)
			}
			_, err := f.store.DB().W.NewUpdate().Model((*db.Pornstar)(nil)).Set("removed_at = ?", time.Now().UTC().Add(-2*gcGrace)).
				Where("external_id = ?", 1).Exec(context.Background())
			if err != nil {
				f.t.Fatal(err)
			}
			g := &imaging.GC{Store: f.store, Files: f.files, Variants: remover, Grace: gcGrace, Apply: true, ClaimWait: waitLimit,
				Poll: 10 * time.Millisecond, Logger: quietLogger()}
			report, err := g.Run(context.Background())
			if files, _ := report.Freed(); err != nil || files != 1 {
				f.t.Fatalf("gc: %+v, %v", report, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onEachGCFixture(t, func(t *testing.T, f *gcFixture) {
				old := time.Now().Add(-3 * gcGrace)
				gone, kept := string(demo.Image("/gone.jpg")), string(demo.Image("/kept.jpg"))
				f.performer("https://img.test/gone.jpg", gone, 0)
				f.performer("https://img.test/kept.jpg", kept, 0)
				goneHash, keptHash := f.storeBytes(gone, old), f.storeBytes(kept, old)
				blobs := imaging.VariantObjects{Store: f.files}
				cache := f.variantCache(blobs)
				f.renderVariants(cache, goneHash)
				f.renderVariants(cache, keptHash)

				tc.delete(f, variant.Remover{Index: f.store, Blobs: blobs})

				if f.exists(goneHash) {
					t.Fatal("the original is still stored")
				}
				if recorded, stored := f.variantsLeft(blobs, goneHash); recorded != 0 || stored != 0 {
					t.Fatalf("the deleted original's variants: %d recorded, %d stored, want none", recorded, stored)
				}
				if recorded, stored := f.variantsLeft(blobs, keptHash); recorded != 2 || stored != 2 {
					t.Fatalf("the other original's variants: %d recorded, %d stored, want 2 and 2", recorded, stored)
				}
			})
		})
	}
}

// TestCompactorStoresPlaceholders: an image the compactor caches carries
// its placeholder in the outcome it publishes and the loader writes, once
// computed from the stored bytes; an image whose pixels cannot be decoded
// (a header alone) is cached without one.
func TestCompactorStoresPlaceholders(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			server := imagingtest.NewServer(t)
			server.Handle("/demo.jpg", imagingtest.Bytes("image/jpeg", demo.Image("/demo.jpg")))
			server.Handle("/header-only.webp", imagingtest.Bytes("image/webp", webpVP8(234, 344)))
			store := testkit.OpenStore(t, backend.URL(t))
			pub := &recordingPublisher{}
			cfg := fastConfig(store, openFiles(t), pub, server)
			cfg.Placeholder = func(original []byte) (string, error) { return variant.Placeholder(original, 50_000_000) }
			c := newCompactor(t, cfg)
			tests := []struct {
				path            string
				wantPlaceholder bool
			}{
				{"/demo.jpg", true},
				{"/header-only.webp", false},
			}
			for _, tt := range tests {
				url := server.URL + tt.path
				dead, err := c.Handle(ctx, []bus.Message{requestMessage(t, url, time.Now())})
				if err != nil || len(dead) != 0 {
					t.Fatalf("handle %s: %v, %d dead letters", url, err, len(dead))
				}
				outcomes := pub.outcomes(t)
				last := outcomes[len(outcomes)-1]
				if last.Status != db.ImageCached || (last.Placeholder != nil) != tt.wantPlaceholder {
					t.Fatalf("%s: status %s, placeholder %v; want cached with a placeholder: %v", tt.path, last.Status, last.Placeholder, tt.wantPlaceholder)
				}
				if err := store.UpsertImages(ctx, []db.ImageState{last}); err != nil {
					t.Fatal(err)
				}
				row, err := store.Image(ctx, db.URLHash(url))
				if err != nil {
					t.Fatal(err)
				}
				if tt.wantPlaceholder && (row.Placeholder == nil || *row.Placeholder != *last.Placeholder || len(*row.Placeholder) != 28) {
					t.Fatalf("%s: stored placeholder %v, want the published %q", tt.path, row.Placeholder, *last.Placeholder)
				}
				if !tt.wantPlaceholder && row.Placeholder != nil {
					t.Fatalf("%s: stored placeholder %q, want none", tt.path, *row.Placeholder)
				}
			}
		})
	}
}
