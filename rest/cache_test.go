package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"marquee/db"
)

// TestTotalCache checks reuse within the TTL, one count for concurrent
// callers, expiry, clear, and that failures are not kept.
func TestTotalCache(t *testing.T) {
	now := time.Unix(1000, 0)
	tc := newTotalCache(2 * time.Second)
	tc.now = func() time.Time { return now }
	var counts atomic.Int64
	release := make(chan struct{})
	count := func(context.Context, db.Filter) (int64, error) {
		<-release
		return counts.Add(1) * 10, nil
	}
	ctx := context.Background()
	f := db.Filter{Q: "a"}

	var wg sync.WaitGroup
	results := make([]int64, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = tc.get(ctx, f, count)
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if counts.Load() != 1 || slices.Max(results) != 10 || slices.Min(results) != 10 {
		t.Fatalf("%d counts, results %v; want one count shared", counts.Load(), results)
	}
	if n, _ := tc.get(ctx, f, count); n != 10 || counts.Load() != 1 {
		t.Errorf("within the TTL: %d after %d counts", n, counts.Load())
	}
	if n, _ := tc.get(ctx, db.Filter{Q: "b"}, count); n != 20 {
		t.Errorf("another filter: %d", n)
	}
	now = now.Add(3 * time.Second)
	if n, _ := tc.get(ctx, f, count); n != 30 {
		t.Errorf("after the TTL: %d", n)
	}
	tc.clear()
	if n, _ := tc.get(ctx, f, count); n != 40 {
		t.Errorf("after clear: %d", n)
	}
	boom := errors.New("boom")
	failing := func(context.Context, db.Filter) (int64, error) { return 0, boom }
	if _, err := tc.get(ctx, db.Filter{Q: "c"}, failing); !errors.Is(err, boom) {
		t.Errorf("error %v", err)
	}
	if n, err := tc.get(ctx, db.Filter{Q: "c"}, count); err != nil || n != 50 {
		t.Errorf("a failed count was kept: %d, %v", n, err)
	}
	// A waiter whose request ends stops waiting.
	stuck := make(chan struct{})
	go tc.get(ctx, db.Filter{Q: "d"}, func(context.Context, db.Filter) (int64, error) { <-stuck; return 1, nil })
	time.Sleep(10 * time.Millisecond)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tc.get(cctx, db.Filter{Q: "d"}, count); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	close(stuck)
	// Off: every call counts.
	off := newTotalCache(-1)
	before := counts.Load()
	off.get(ctx, f, count)
	off.get(ctx, f, count)
	if counts.Load() != before+2 {
		t.Error("a disabled cache reused a total")
	}
}

// TestCachesFollowWrites checks through the API that totals follow the
// API's writes at once, and that a feed write's new aliases show at once.
func TestCachesFollowWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		profiles := api.seedHead()
		total := func(query string) int64 {
			var page pornstarPageDoc
			api.get("/api/v1/pornstars?"+query).wantStatus(t, http.StatusOK).json(t, &page)
			return page.Total
		}
		before := total("limit=1")
		p := api.create(`{"name": "Counted"}`)
		if got := total("limit=1"); got != before+1 {
			t.Errorf("total after a create: %d, want %d", got, before+1)
		}
		api.do(req{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/pornstars/%d", p.ID), token: "write"}).wantStatus(t, http.StatusNoContent)
		if got := total("limit=1"); got != before {
			t.Errorf("total after a delete: %d, want %d", got, before)
		}

		lookup := fmt.Sprintf("/api/v1/pornstars?feed_id=%d", profiles[0].FeedID)
		var page pornstarPageDoc
		api.get(lookup).wantStatus(t, http.StatusOK).json(t, &page)
		changed := profiles[0]
		changed.Aliases = []string{"Brand New Alias"}
		changed.ContentHash = ""
		if _, err := api.store.UpsertProfiles(context.Background(), []db.Profile{changed}); err != nil {
			t.Fatal(err)
		}
		api.get(lookup).wantStatus(t, http.StatusOK).json(t, &page)
		if !slices.Equal(page.Data[0].Aliases, []string{"Brand New Alias"}) {
			t.Errorf("aliases after a feed write: %q", page.Data[0].Aliases)
		}
		var one pornstarDoc
		api.get(fmt.Sprintf("/api/v1/pornstars/%d", page.Data[0].ID)).wantStatus(t, http.StatusOK).json(t, &one)
		if !slices.Equal(one.Aliases, []string{"Brand New Alias"}) {
			t.Errorf("aliases of GET by id after a feed write: %q", one.Aliases)
		}
	})
}
