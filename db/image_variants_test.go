package db_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"marquee/db"
)

func TestImageVariantIndex(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		base := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		original, other := sha256Hex("original"), sha256Hex("other")
		variant := func(key, content string, bytes int64, used time.Time) db.ImageVariant {
			return db.ImageVariant{Key: key, ContentSHA256: content, VariantSHA256: sha256Hex(key), ContentType: "image/webp",
				Bytes: bytes, Width: 64, Height: 94, CreatedAt: base, LastUsedAt: used}
		}
		for _, v := range []db.ImageVariant{
			variant("a/64", original, 100, base),
			variant("a/128", original, 200, base.Add(time.Minute)),
			variant("b/64", other, 300, base.Add(2*time.Minute)),
		} {
			if err := s.PutImageVariant(ctx, v); err != nil {
				t.Fatal(err)
			}
		}
		keys := func(rows []db.ImageVariant) []string {
			var out []string
			for _, r := range rows {
				out = append(out, r.Key)
			}
			return out
		}

		steps := []struct {
			name      string
			act       func() error
			wantBytes int64
			wantLRU   []string
			wantOfA   []string
		}{
			{"as stored", func() error { return nil }, 600, []string{"a/64", "a/128", "b/64"}, []string{"a/128", "a/64"}},
			{"a touch makes a variant the most recently used",
				func() error { return s.TouchImageVariants(ctx, []string{"a/64"}, base.Add(time.Hour)) },
				600, []string{"a/128", "b/64", "a/64"}, []string{"a/128", "a/64"}},
			{"an older touch moves nothing back",
				func() error { return s.TouchImageVariants(ctx, []string{"a/64"}, base) },
				600, []string{"a/128", "b/64", "a/64"}, []string{"a/128", "a/64"}},
			{"a re-render replaces the row of its key",
				func() error { return s.PutImageVariant(ctx, variant("a/128", original, 250, base.Add(2*time.Hour))) },
				650, []string{"b/64", "a/64", "a/128"}, []string{"a/128", "a/64"}},
			{"deleting forgets the keys, unknown keys are no error",
				func() error { return s.DeleteImageVariants(ctx, []string{"a/64", "zz"}) },
				550, []string{"b/64", "a/128"}, []string{"a/128"}},
		}
		for _, step := range steps {
			if err := step.act(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			total, err := s.ImageVariantBytes(ctx)
			if err != nil || total != step.wantBytes {
				t.Fatalf("%s: bytes = %d, %v; want %d", step.name, total, err, step.wantBytes)
			}
			lru, err := s.LeastRecentlyUsedImageVariants(ctx, 10)
			if err != nil || !slices.Equal(keys(lru), step.wantLRU) {
				t.Fatalf("%s: least recently used = %v, %v; want %v", step.name, keys(lru), err, step.wantLRU)
			}
			of, err := s.ImageVariantsOf(ctx, original)
			if err != nil || !slices.Equal(keys(of), step.wantOfA) {
				t.Fatalf("%s: variants of the original = %v, %v; want %v", step.name, keys(of), err, step.wantOfA)
			}
		}
		got, err := s.ImageVariant(ctx, "a/128")
		if err != nil || got.Bytes != 250 || got.VariantSHA256 != sha256Hex("a/128") || got.ContentType != "image/webp" {
			t.Fatalf("ImageVariant = %+v, %v", got, err)
		}
		if _, err := s.ImageVariant(ctx, "a/64"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("a deleted variant: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteImageVariants(ctx, []string{"a/128", "b/64"}); err != nil {
			t.Fatal(err)
		}
		if total, err := s.ImageVariantBytes(ctx); err != nil || total != 0 {
			t.Fatalf("no variants: bytes = %d, %v", total, err)
		}
	})
}
