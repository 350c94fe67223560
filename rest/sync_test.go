package rest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
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
		fmt.Fprintf(&b, `{"id": %d, "name": "Sync %03d", "attributes": {"gender": "female", "stats": {"views": %d, "rank": %d}}}`,
			id, id, views, id)
	}
	b.WriteString("]}")
	return b.String()
}

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

// wantEqualToDatabase checks the copy against the store: every performer
// in the feed with the same version, none that left it.
func (c *syncClient) wantEqualToDatabase(t *testing.T) {
	t.Helper()
	live := map[int64]int64{}
	after := ""
	for {
		page, err := c.api.store.List(context.Background(), db.Filter{}, nil, db.Page{First: db.MaxPageSize, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			live[p.ID] = p.Version
		}
		if !page.HasNextPage {
			break
		}
		after = page.Cursors[len(page.Cursors)-1]
	}
	for id, version := range live {
		switch p, ok := c.copy[id]; {
		case !ok:
			t.Errorf("performer %d is missing from the copy", id)
		case p.Version != version:
			t.Errorf("performer %d: version %d in the copy, %d in the database", id, p.Version, version)
		}
	}
	for id := range c.copy {
		if _, ok := live[id]; !ok {
			t.Errorf("performer %d is in the copy, not in the database (or removed)", id)
		}
	}
}

// TestSyncWhileTheFeedChanges follows the recipe of docs/api.md: a full
// copy, then walks of updated_since from the last updated_at seen minus a
// margin. A feed run that changes 30 performers and removes 20 lands in the
// middle of a walk, after it has passed some of them: the walk still ends
// with the copy equal to the database, and so does the next one.
func TestSyncWhileTheFeedChanges(t *testing.T) {
	const items = 150
	changed, gone := map[int]bool{}, map[int]bool{}
	for id := 1; id <= items; id++ {
		switch {
		case id%5 == 0 && len(changed) < 30:
			changed[id] = true
		case id%5 == 1 && len(gone) < 20:
			gone[id] = true
		}
	}
	if len(changed) != 30 || len(gone) != 20 {
		t.Fatalf("%d changed, %d gone", len(changed), len(gone))
	}
	for _, margin := range []time.Duration{0, time.Second} {
		t.Run(fmt.Sprintf("margin %s", margin), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, api *testAPI) {
				api.runFeed(syncFeed(items, nil, nil))
				client := &syncClient{api: api, copy: map[int64]pornstarDoc{}, pageSize: 7}
				if read := client.walk(t, time.Time{}, nil); read != items {
					t.Fatalf("the full copy read %d performers, want %d", read, items)
				}
				client.wantEqualToDatabase(t)

				// The feed run lands after the walk's third page.
				since := client.lastSeen.Add(-margin)
				client.walk(t, since, map[int]func(){2: func() { api.runFeed(syncFeed(items, changed, gone)) }})
				client.wantEqualToDatabase(t)
				if len(client.copy) != items-len(gone) {
					t.Errorf("the copy holds %d performers, want %d", len(client.copy), items-len(gone))
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
