package variant_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/demo"
	"marquee/imaging"
	"marquee/imaging/variant"
	"marquee/internal/testkit"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fixture is a cache over a real store and blob directory, with originals
// stored as files named by their content hash.
type fixture struct {
	store     *db.Store
	blobs     variant.Blobs
	originals string
}

func newFixture(t testing.TB, url string) *fixture {
	dir := t.TempDir()
	objects, err := imaging.OpenFileStore(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: testkit.OpenStore(t, url), blobs: imaging.VariantObjects{Store: objects}, originals: dir}
}

func (f *fixture) cache(t testing.TB, cfg variant.Config) *variant.Cache {
	cfg.Index, cfg.Blobs = f.store, f.blobs
	cfg.Originals = func(content string) (io.ReadCloser, error) { return os.Open(filepath.Join(f.originals, content)) }
	cfg.MaxPixels = 50_000_000
	c, err := variant.NewCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// add stores an original and returns it.
func (f *fixture) add(t testing.TB, data []byte) variant.Original {
	sum := sha256.Sum256(data)
	content := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(f.originals, content), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return variant.Original{ContentSHA256: content, ContentType: imaging.TypeJPEG}
}

func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newFixture(t, b.URL(t))) })
	}
}

func readServed(t *testing.T, s *variant.Served) []byte {
	t.Helper()
	defer s.Body.Close()
	b, err := io.ReadAll(s.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCacheRendersOnceForConcurrentRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		c := f.cache(t, variant.Config{})
		original := f.add(t, demo.Image("/single-flight.jpg"))
		spec := variant.Spec{Width: 128, Format: variant.WebP}
		const requests = 100
		etags := make([]string, requests)
		var wg sync.WaitGroup
		for i := range requests {
			wg.Go(func() {
				served, err := c.Get(context.Background(), original, spec)
				if err != nil {
					t.Error(err)
					return
				}
				body := readServed(t, served)
				sum := sha256.Sum256(body)
				if hex.EncodeToString(sum[:]) != served.ETag || int64(len(body)) != served.Size {
					t.Errorf("request %d: the ETag or size does not match the bytes", i)
				}
				etags[i] = served.ETag
			})
		}
		wg.Wait()
		if got := c.Rendered(); got != 1 {
			t.Fatalf("%d concurrent requests rendered %d times, want 1", requests, got)
		}
		if distinct := slices.Compact(slices.Sorted(slices.Values(etags))); len(distinct) != 1 {
			t.Fatalf("requests got different variants: %v", distinct)
		}
		// A later request, and another process on the same store, are served
		// the stored variant.
		other := f.cache(t, variant.Config{})
		for name, cache := range map[string]*variant.Cache{"this process": c, "another process": other} {
			served, err := cache.Get(context.Background(), original, spec)
			if err != nil {
				t.Fatal(err)
			}
			readServed(t, served)
			if served.ETag != etags[0] || served.ContentType != "image/webp" {
				t.Fatalf("%s: served %s %s, want the stored variant", name, served.ETag, served.ContentType)
			}
		}
		if c.Rendered()+other.Rendered() != 1 {
			t.Fatalf("the stored variant was rendered again")
		}
	})
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		original := f.add(t, demo.Image("/evict.jpg"))
		probe := f.cache(t, variant.Config{})
		sizes := map[int]int64{}
		for _, w := range []int{64, 128, 256} {
			s, err := probe.Get(ctx, original, variant.Spec{Width: w, Format: variant.PNG})
			if err != nil {
				t.Fatal(err)
			}
			sizes[w] = s.Size
			readServed(t, s)
		}
		// Start again from none, as a takedown of the original would leave it.
		if err := probe.ForgetVariants(ctx, original.ContentSHA256); err != nil {
			t.Fatal(err)
		}
		for w := range sizes {
			if err := f.blobs.Remove(variant.Key(original.ContentSHA256, variant.Spec{Width: w, Format: variant.PNG}, variant.DefaultQuality)); err != nil {
				t.Fatal(err)
			}
		}
		// Room for the two largest: rendering the third evicts the least
		// recently used, 64, which 128 and 256 were used after.
		c := f.cache(t, variant.Config{MaxBytes: sizes[128] + sizes[256], TouchEvery: time.Nanosecond})
		for _, w := range []int{64, 128} {
			s, err := c.Get(ctx, original, variant.Spec{Width: w, Format: variant.PNG})
			if err != nil {
				t.Fatal(err)
			}
			readServed(t, s)
		}
		s, err := c.Get(ctx, original, variant.Spec{Width: 256, Format: variant.PNG})
		if err != nil {
			t.Fatal(err)
		}
		readServed(t, s)
		rows, err := f.store.ImageVariantsOf(ctx, original.ContentSHA256)
		if err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, r := range rows {
			kept = append(kept, r.Key)
		}
		want := []string{variant.Key(original.ContentSHA256, variant.Spec{Width: 128, Format: variant.PNG}, variant.DefaultQuality),
			variant.Key(original.ContentSHA256, variant.Spec{Width: 256, Format: variant.PNG}, variant.DefaultQuality)}
		if !slices.Equal(kept, want) {
			t.Fatalf("kept %v, want %v", kept, want)
		}
		evicted := variant.Key(original.ContentSHA256, variant.Spec{Width: 64, Format: variant.PNG}, variant.DefaultQuality)
		if _, _, err := f.blobs.Open(evicted); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the evicted variant's bytes are still stored: %v", err)
		}
		if total, _ := f.store.ImageVariantBytes(ctx); total > sizes[128]+sizes[256] {
			t.Fatalf("variants take %d bytes, over the cap %d", total, sizes[128]+sizes[256])
		}
	})
}

// TestCacheForgetVariants: forgetting an original's variants removes their
// records and no other original's; their bytes stay for the caller, which
// removes them with the original's (imaging.VariantPrefix).
func TestCacheForgetVariants(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.cache(t, variant.Config{})
		gone, kept := f.add(t, demo.Image("/gone.jpg")), f.add(t, demo.Image("/kept.jpg"))
		var goneKeys []string
		for _, original := range []variant.Original{gone, kept} {
			for _, format := range []variant.Format{variant.JPEG, variant.WebP} {
				s, err := c.Get(ctx, original, variant.Spec{Width: 64, Format: format})
				if err != nil {
					t.Fatal(err)
				}
				readServed(t, s)
				if original == gone {
					goneKeys = append(goneKeys, variant.Key(gone.ContentSHA256, variant.Spec{Width: 64, Format: format}, variant.DefaultQuality))
				}
			}
		}
		if err := c.ForgetVariants(ctx, gone.ContentSHA256); err != nil {
			t.Fatal(err)
		}
		if rows, _ := f.store.ImageVariantsOf(ctx, gone.ContentSHA256); len(rows) != 0 {
			t.Fatalf("%d variants of the forgotten original are still recorded", len(rows))
		}
		if rows, _ := f.store.ImageVariantsOf(ctx, kept.ContentSHA256); len(rows) != 2 {
			t.Fatalf("the other original has %d variants, want 2", len(rows))
		}
		for _, key := range goneKeys {
			r, _, err := f.blobs.Open(key)
			if err != nil {
				t.Fatalf("%s: its bytes are the caller's to remove, but: %v", key, err)
			}
			r.Close()
		}
	})
}

func TestCacheRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		tests := []struct {
			name     string
			cfg      variant.Config
			original variant.Original
			want     error
		}{
			{"a render past its budget is busy", variant.Config{Budget: time.Nanosecond}, f.add(t, demo.Image("/slow.jpg")), variant.ErrBusy},
			{"missing original bytes", variant.Config{}, variant.Original{ContentSHA256: sha256Hex("never stored"), ContentType: imaging.TypeJPEG}, variant.ErrOriginalMissing},
			{"bytes that are no image", variant.Config{}, f.add(t, []byte("<html>")), variant.ErrUndecodable},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := f.cache(t, tt.cfg).Get(ctx, tt.original, variant.Spec{Width: 64, Format: variant.JPEG})
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
	})
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
