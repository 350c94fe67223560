package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
)

// BenchmarkUpsertImages measures UpsertImages in batches of 500 cached
// outcomes on SQLite and MySQL. "owned": each image is the thumbnail of one
// of 10,000 loaded performers, whose updated_at every outcome sets (so that
// sync walks see it); "unowned": the same writes for URLs no performer
// names, the cost without that. It reports images/s.
func BenchmarkUpsertImages(b *testing.B) {
	ctx := context.Background()
	const preloaded = 10_000
	for _, backend := range dbtest.Backends() {
		for _, mode := range []string{"owned", "unowned"} {
			b.Run(backend.Name+"/"+mode, func(b *testing.B) {
				s := benchStore(b, backend.URL(b))
				for first := int64(1); first <= preloaded; first += benchBatch {
					if _, err := s.UpsertProfiles(ctx, benchProfiles(first, benchBatch, 0)); err != nil {
						b.Fatal(err)
					}
				}
				sum := strings.Repeat("ab", 32)
				ct, size, w, h := "image/jpeg", int64(12345), int32(234), int32(344)
				batches := make([][]db.ImageState, 0, b.N)
				for i := 0; i < b.N; i++ {
					fetched := time.Unix(1_700_000_000+int64(i), 0).UTC() // later each round: always a change
					batch := make([]db.ImageState, benchBatch)
					for j := range batch {
						feedID := 1 + int64((i*benchBatch+j)%preloaded)
						url := benchProfile(feedID, 0).Thumbnails[0].URL
						if mode == "unowned" {
							url = fmt.Sprintf("https://ei.phncdn.com/pics/nobody/%d.jpg", feedID)
						}
						batch[j] = db.ImageState{URLHash: db.URLHash(url), URL: url, Status: db.ImageCached, Attempts: 1,
							FetchedAt: &fetched, ContentSHA256: &sum, ContentType: &ct, Bytes: &size, Width: &w, Height: &h}
					}
					batches = append(batches, batch)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := s.UpsertImages(ctx, batches[i]); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}
