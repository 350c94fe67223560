package db_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// TestDataVersionFollowsWrites: every kind of write that an API answer may
// show changes the data version, read through this Store and through a
// second Store on the same database (another process: the loader of
// `marquee load`, another API instance); the workers' own ledgers do not.
func TestDataVersionFollowsWrites(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			url := b.URL(t)
			writer, reader := testkit.OpenStore(t, url), testkit.OpenStore(t, url)
			ctx := context.Background()
			w, h := int32(234), int32(344)
			profile := db.Profile{FeedID: 7, PornstarFields: db.PornstarFields{Name: "Seven"}, Aliases: []string{"A"},
				Thumbnails: []db.ProfileThumbnail{{Type: "pc", Width: &w, Height: &h, URL: "https://img.test/1.jpg"}}}
			var runID int64
			writes := []struct {
				name    string
				write   func() error
				changes bool
			}{
				{"feed upsert", func() error { _, err := writer.UpsertProfiles(ctx, []db.Profile{profile}); return err }, true},
				{"image outcome", func() error {
					return writer.UpsertImages(ctx, []db.ImageState{cachedImage("https://img.test/1.jpg", time.Now())})
				}, true},
				{"queued feed run", func() error {
					run, err := writer.QueueRun(ctx, "test", false)
					if run != nil {
						runID = run.ID
					}
					return err
				}, true},
				{"feed run claimed", func() error { _, err := writer.ClaimRun(ctx); return err }, true},
				{"feed run heartbeat", func() error { return writer.TouchRun(ctx, runID) }, true},
				{"removal", func() error { _, err := writer.MarkRemoved(ctx, []int64{7}); return err }, true},
				{"published hashes (ledger)", func() error {
					return writer.RecordPublished(ctx, []db.Published{{FeedID: 7, ContentHash: "ab"}})
				}, false},
			}
			before, err := reader.DataVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range writes {
				if err := tc.write(); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				for name, s := range map[string]*db.Store{"same store": writer, "other store": reader} {
					after, err := s.DataVersion(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if changed := after != before; changed != tc.changes {
						t.Errorf("%s, read by the %s: version %d -> %d, changed %v; want %v", tc.name, name, before, after, changed, tc.changes)
					}
				}
				before, _ = reader.DataVersion(ctx)
			}
		})
	}
}

// TestDataVersionSharedReadsAreFresh: concurrent callers share reads of
// the version row, yet none is answered a version older than one committed
// before its call began, while another process's store writes throughout.
func TestDataVersionSharedReadsAreFresh(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			url := b.URL(t)
			writer, reader := testkit.OpenStore(t, url), testkit.OpenStore(t, url)
			ctx := context.Background()
			var committed atomic.Int64 // a version known committed
			var writes atomic.Int64
			const wantWrites = 30
			stop := make(chan struct{})
			var writing sync.WaitGroup
			writing.Add(1)
			go func() {
				defer writing.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := writer.Create(ctx, db.PornstarInput{PornstarFields: db.PornstarFields{Name: fmt.Sprintf("Fresh %d", i)}}); err != nil {
						t.Error(err)
						return
					}
					v, err := writer.DataVersion(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					committed.Store(v)
					writes.Add(1)
				}
			}()
			var readers sync.WaitGroup
			for range 16 {
				readers.Add(1)
				go func() {
					defer readers.Done()
					for writes.Load() < wantWrites {
						floor := committed.Load()
						got, err := reader.DataVersion(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						if got < floor {
							t.Errorf("DataVersion = %d after version %d was committed", got, floor)
							return
						}
					}
				}()
			}
			readers.Wait()
			close(stop)
			writing.Wait()

		})
	}
}
