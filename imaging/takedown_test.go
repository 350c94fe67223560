package imaging_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"marquee/bus"
	"marquee/db"
	"marquee/db/dbtest"
	"marquee/imaging"
	"marquee/imaging/imagingtest"
	"marquee/internal/testkit"
)

// TestTakenDownURLsAreNeverFetched: a compactor asked for the URL of a
// taken-down hash, as a feed run or an operator's request would ask,
// makes no HTTP request and publishes a failure; once the takedown is
// lifted, the same request fetches it. Takedowns delete the bytes that no
// other URL hash serves.
func TestTakenDownURLsAreNeverFetched(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		for _, stores := range gcStores {
			t.Run(backend.Name+"/"+stores.name, func(t *testing.T) {
				ctx := context.Background()
				server := imagingtest.NewServer(t)
				store := testkit.OpenStore(t, backend.URL(t))
				files, _ := stores.open(t)
				pub := &recordingPublisher{}
				cfg := fastConfig(store, files, pub, server)
				cfg.TempDir = t.TempDir()
				c := newCompactor(t, cfg)
				handle := func(url string) {
					t.Helper()
					dead, err := c.Handle(ctx, []bus.Message{requestMessage(t, url, time.Now())})
					if err != nil || len(dead) != 0 {
						t.Fatalf("handle %s: %v, %d dead letters", url, err, len(dead))
					}
				}
				url := server.URL + "/pics/taken.jpg"
				handle(url)
				outcomes := pub.outcomes(t)
				if len(outcomes) != 1 || outcomes[0].Status != db.ImageCached {
					t.Fatalf("first fetch: %+v", outcomes)
				}
				if err := store.UpsertImages(ctx, outcomes); err != nil {
					t.Fatal(err)
				}
				variants, _ := imaging.VariantPrefix(*outcomes[0].ContentSHA256)
				if err := files.Put(ctx, variants+"w64.webp", strings.NewReader("variant"), int64(len("variant")), "image/webp"); err != nil {
					t.Fatal(err)
				}
				hash := db.URLHash(url)
				takedowns := &imaging.Takedowns{Store: store, Files: files, Logger: quietLogger()}
				td, err := takedowns.TakeDown(ctx, db.TakedownInput{URLHash: &hash, Reason: "court order", TakenBy: "cli"})
				if err != nil || len(td.DeletedFiles) != 1 || len(td.FilesNotDeleted) != 0 {
					t.Fatalf("takedown: %+v, %v", td, err)
				}
				if _, err := (imaging.Contents{Store: files}).Open(t.Context(), *outcomes[0].ContentSHA256); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("its file: %v, want deleted", err)
				}
				if left := listKeys(t, files, variants); len(left) != 0 {
					t.Errorf("its variants %v are left, want deleted", left)
				}

				for _, when := range []string{"asked again", "asked once more"} {
					handle(url)
					if n := server.Requests("/pics/taken.jpg"); n != 1 {
						t.Errorf("%s: %d HTTP requests, want the 1 from before the takedown", when, n)
					}
					got := pub.outcomes(t)
					if last := got[len(got)-1]; last.Status != db.ImageFailed || last.Error == nil || *last.Error != "taken down" {
						t.Errorf("%s: published %+v, want a failure: taken down", when, last)
					}
				}

				if _, err := takedowns.Lift(ctx, td.ID, "cli"); err != nil {
					t.Fatal(err)
				}
				handle(url)
				if n := server.Requests("/pics/taken.jpg"); n != 2 {
					t.Errorf("after the lift: %d HTTP requests, want 2", n)
				}
				got := pub.outcomes(t)
				if last := got[len(got)-1]; last.Status != db.ImageCached {
					t.Errorf("after the lift: published %+v, want cached", last)
				}
			})
		}
	}
}
