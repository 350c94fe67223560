package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
)

// syncFeed is a feed of the performers with feed ids 1..items, except
// those in gone; the views of those in changed differ from generation 0's.
func syncFeed(items int, changed, gone map[int]bool) string {
	var b strings.Builder
	b.WriteString(`{"items": [`)
	first := true
	for id := 1; id <= items; id++ {
		if gone[id] {
			continue
		}
		views := id * 10
		if changed[id] {
			views++
		}
		if !first {
			b.WriteString(",\n")
		}
		first = false
		fmt.Fprintf(&b, `{"id": %d, "name": "Sync %03d", "attributes": {"gender": "female", "stats": {"views": %d, "rank": %d}},
			"thumbnails": [{"type": "pc", "urls": [%q]}]}`, id, id, views, id, syncThumbURL(id))
	}
	b.WriteString("]}")
	return b.String()
}

// syncThumbURL is the one thumbnail URL of feed id id in syncFeed.
func syncThumbURL(id int) string { return fmt.Sprintf("https://ei.phncdn.com/pics/sync/%d.jpg", id) }

// syncClient is a site that mirrors the performers through the REST API:
// its copy by id, and the latest updated_at it has read.
type syncClient struct {
	api      *testAPI
	copy     map[int64]pornstarDoc
	lastSeen time.Time
	pageSize int
}

// walk reads every page of removed=any&sort=updated_at (from since, when
// not zero), applying each row: upserted, or deleted when removed. After
// page i, between[i] runs when there is one: writes landing during the
// walk. It returns how many rows it read.
func (c *syncClient) walk(t *testing.T, since time.Time, between map[int]func()) int {
	t.Helper()
	query := url.Values{"removed": {"any"}, "sort": {"updated_at"}, "limit": {fmt.Sprint(c.pageSize)}}
	if !since.IsZero() {
		query.Set("updated_since", since.Format(time.RFC3339Nano))
	}
	read := 0
	for pageNo := 0; ; pageNo++ {
		var page pornstarPageDoc
		c.api.get("/api/v1/pornstars?"+query.Encode()).wantStatus(t, http.StatusOK).json(t, &page)
		for _, p := range page.Data {
			if p.UpdatedAt.Before(since) {
				t.Fatalf("updated_since %s answered %d, updated at %s", since.Format(time.RFC3339Nano), p.ID, p.UpdatedAt.Format(time.RFC3339Nano))
			}
			if p.RemovedAt != nil {
				delete(c.copy, p.ID)
			} else {
				c.copy[p.ID] = p
			}
			if p.UpdatedAt.After(c.lastSeen) {
				c.lastSeen = p.UpdatedAt
			}
		}
		read += len(page.Data)
		if run := between[pageNo]; run != nil {
			run()
		}
		if page.NextCursor == nil {
			return read
		}
		if pageNo > 1000 {
			t.Fatal("more than 1000 pages")
		}
		query.Set("cursor", *page.NextCursor)
	}
}

// wantEqualToDatabase checks the copy against the API: every performer a
// list shows, as GET shows it (its image states included), and none that
// left the feed or was deleted.
func (c *syncClient) wantEqualToDatabase(t *testing.T) {
	t.Helper()
	live := map[int64]bool{}
	after := ""
	for {
		page, err := c.api.store.List(context.Background(), db.Filter{}, nil, db.Page{First: db.MaxPageSize, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			live[p.ID] = true
		}
		if !page.HasNextPage {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	for id := range live {
		var now pornstarDoc
		c.api.get(fmt.Sprintf("/api/v1/pornstars/%d", id)).wantStatus(t, http.StatusOK).json(t, &now)
		switch p, ok := c.copy[id]; {
		case !ok:
			t.Errorf("performer %d is missing from the copy", id)
		case !reflect.DeepEqual(p, now):
			t.Errorf("performer %d differs from the API:\ncopy %+v\nAPI  %+v", id, p, now)
		}
	}
	for id := range c.copy {
		if !live[id] {
			t.Errorf("performer %d is in the copy, not in the database (or removed)", id)
		}
	}
}

// TestSyncWhileTheFeedChanges follows the recipe of docs/api.md: a full
// copy, then walks of updated_since from the last updated_at seen minus a
// margin. In the middle of a walk, after it has passed some of them, a feed
// run changes 30 performers and removes 20, 40 images are cached, and API
// clients delete 4 of their performers and make 2 more: the walk still ends
// with the copy equal to the database, and so does the next one.
func TestSyncWhileTheFeedChanges(t *testing.T) {
	const items = 150
	changed, gone, cached := map[int]bool{}, map[int]bool{}, []int{}
	for id := 1; id <= items; id++ {
		switch {
		case id%5 == 0 && len(changed) < 30:
			changed[id] = true
		case id%5 == 1 && len(gone) < 20:
			gone[id] = true
		case (id%5 == 2 || id%5 == 3) && len(cached) < 40:
			cached = append(cached, id)
		}
	}
	if len(changed) != 30 || len(gone) != 20 || len(cached) != 40 {
		t.Fatalf("%d changed, %d gone, %d cached", len(changed), len(gone), len(cached))
	}
	for _, margin := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("margin %s", margin), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, api *testAPI) {
				var made []int64
				for i := range 6 {
					made = append(made, api.create(fmt.Sprintf(`{"name": "Made %d"}`, i)).ID)
				}
				// The feed run's rows are the last written: the next walk
				// starts with all of them.
				api.runFeed(syncFeed(items, nil, nil))
				client := &syncClient{api: api, copy: map[int64]pornstarDoc{}, pageSize: 7}
				if read := client.walk(t, time.Time{}, nil); read != items+len(made) {
					t.Fatalf("the full copy read %d performers, want %d", read, items+len(made))
				}
				client.wantEqualToDatabase(t)

				// The writes land after the walk's third page.
				since := client.lastSeen.Add(-margin)
				client.walk(t, since, map[int]func(){2: func() {
					api.runFeed(syncFeed(items, changed, gone))
					for _, id := range cached {
						api.setImage(syncThumbURL(id), db.ImageCached)
					}
					for _, id := range made[:4] {
						api.do(req{method: http.MethodDelete, path: fmt.Sprintf("/api/v1/pornstars/%d", id), token: "write"}).
							wantStatus(t, http.StatusNoContent)
					}
					api.create(`{"name": "Made later"}`)
					api.create(`{"name": "Made later too"}`)
				}})
				client.wantEqualToDatabase(t)
				if want := items - len(gone) + len(made) - 4 + 2; len(client.copy) != want {
					t.Errorf("the copy holds %d performers, want %d", len(client.copy), want)
				}

				// Rows seen again are applied again: nothing changes.
				since = client.lastSeen.Add(-margin)
				if read := client.walk(t, since, nil); read == 0 {
					t.Errorf("updated_since %s read nothing: the last row seen is at it", since)
				}
				client.wantEqualToDatabase(t)
			})
		})
	}
}

// TestDeletedPerformers: a performer deleted through the API is gone from
// every read but a sync walk, which shows it removed and deleted, with no
// aliases or thumbnails; it cannot be written or deleted again.
func TestDeletedPerformers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		before := time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
		kept := api.create(`{"name": "Kept"}`)
		gone := api.create(`{"name": "Gone", "aliases": ["Went"], "thumbnails": [{"type": "pc", "url": "https://ei.phncdn.com/pics/gone.jpg"}]}`)
		path := fmt.Sprintf("/api/v1/pornstars/%d", gone.ID)
		api.do(req{method: http.MethodDelete, path: path, token: "write"}).wantStatus(t, http.StatusNoContent)

		for _, tc := range []struct{ name, path string }{
			{"get", path},
			{"aliases", path + "/aliases"},
			{"thumbnails", path + "/thumbnails"},
		} {
			t.Run(tc.name, func(t *testing.T) { api.get(tc.path).wantStatus(t, http.StatusNotFound) })
		}
		for _, tc := range []struct{ name, method, body string }{
			{"patch", http.MethodPatch, `{"name": "Back"}`},
			{"put", http.MethodPut, `{"name": "Back"}`},
			{"delete again", http.MethodDelete, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				api.do(req{method: tc.method, path: path, body: tc.body, token: "write"}).wantStatus(t, http.StatusNotFound)
			})
		}

		ids := func(query string) []int64 {
			var page pornstarPageDoc
			api.get("/api/v1/pornstars?"+query).wantStatus(t, http.StatusOK).json(t, &page)
			var out []int64
			for _, p := range page.Data {
				out = append(out, p.ID)
			}
			return out
		}
		since := url.QueryEscape(before)
		for _, tc := range []struct {
			name, query string
			want        []int64
		}{
			{"a list", "sort=name", []int64{kept.ID}},
			{"removed", "removed=true", nil},
			{"removed or not", "removed=any&sort=name", []int64{kept.ID}},
			{"a search", "q=gone", nil},
			{"a sync walk", "removed=any&sort=updated_at&updated_since=" + since, []int64{kept.ID, gone.ID}},
			{"a sync walk of the removed", "removed=true&updated_since=" + since, []int64{gone.ID}},
			{"updated_since alone keeps the default", "updated_since=" + since, []int64{kept.ID}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := ids(tc.query); !slices.Equal(got, tc.want) {
					t.Errorf("%s: got %v, want %v", tc.query, got, tc.want)
				}
			})
		}

		var page pornstarPageDoc
		api.get("/api/v1/pornstars?removed=true&updated_since="+since).wantStatus(t, http.StatusOK).json(t, &page)
		if len(page.Data) != 1 {
			t.Fatalf("the walk shows %d removed performers, want 1", len(page.Data))
		}
		tomb := page.Data[0]
		if tomb.DeletedAt == nil || tomb.RemovedAt == nil || !tomb.DeletedAt.Equal(*tomb.RemovedAt) || !tomb.UpdatedAt.Equal(*tomb.DeletedAt) {
			t.Errorf("deleted_at %v, removed_at %v, updated_at %v: want all three at the deletion", tomb.DeletedAt, tomb.RemovedAt, tomb.UpdatedAt)
		}
		if len(tomb.Aliases) != 0 || len(tomb.Thumbnails) != 0 || tomb.Version != gone.Version+1 {
			t.Errorf("the deleted performer shows aliases %v, thumbnails %v, version %d; want none, none, %d",
				tomb.Aliases, tomb.Thumbnails, tomb.Version, gone.Version+1)
		}
	})
}

// TestUpdatedSinceBadValues: a value that is no RFC 3339 time, or one no
// row can hold, is a 400 naming updated_since.
func TestUpdatedSinceBadValues(t *testing.T) {
	forEachBackend(t, func(t *testing.T, api *testAPI) {
		for _, tc := range []struct{ name, query string }{
			{"not a time", "updated_since=yesterday"},
			{"a date alone", "updated_since=2024-05-01"},
			{"no offset", "updated_since=2024-05-01T12:00:00"},
			{"an unescaped + is a space", "updated_since=2024-05-01T12:00:00+02:00"},
			{"month 13", "updated_since=2024-13-01T12:00:00Z"},
			{"empty", "updated_since="},
			{"repeated", "updated_since=2024-05-01T12:00:00Z&updated_since=2024-05-02T12:00:00Z"},
			{"before any time stored", "updated_since=0999-12-31T23:59:59Z"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				api.get("/api/v1/pornstars?"+tc.query).wantParameter(t, "updated_since")
			})
		}
		for _, tc := range []struct{ name, query string }{
			{"UTC", "updated_since=2024-05-01T12:00:00Z"},
			{"an escaped offset", "updated_since=2024-05-01T12:00:00%2B02:00"},
			{"nanoseconds", "updated_since=2024-05-01T12:00:00.123456789Z"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				api.get("/api/v1/pornstars?"+tc.query).wantStatus(t, http.StatusOK)
			})
		}
	})
}
