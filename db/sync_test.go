package db_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"marquee/db"
)

// TestListUpdatedSince: updated_since keeps the rows written at or after
// it, to the microsecond, whatever the zone it is given in, removed ones
// with removed=any; its rows are those a client finds by comparing
// updated_at itself.
func TestListUpdatedSince(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		seedOrderData(t, s)
		all := listAll(t, s, db.Filter{Removed: db.RemovedAny}, nil)
		// A row at a fraction with every digit, among whole seconds and
		// shorter fractions.
		at := orderUpdatedAt(3)
		tests := []struct {
			name    string
			since   time.Time
			removed db.Removed
		}{
			{"at a row's time: the row is kept", at, db.RemovedAny},
			{"a microsecond later: the row is not", at.Add(time.Microsecond), db.RemovedAny},
			{"a nanosecond later: the row's microsecond is kept", at.Add(time.Nanosecond), db.RemovedAny},
			{"in another zone: the same instant", at.In(time.FixedZone("", 2*3600)), db.RemovedAny},
			{"a whole second", orderUpdatedAt(0).Add(2 * time.Second), db.RemovedAny},
			{"before every row", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), db.RemovedAny},
			{"after every row", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), db.RemovedAny},
			{"without removed=any, removed rows stay out", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), db.RemovedExclude},
			{"only removed ones", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), db.RemovedOnly},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var want []string
				bound := tt.since.UTC().Truncate(time.Microsecond)
				for _, p := range all {
					removed := p.RemovedAt != nil
					if tt.removed == db.RemovedExclude && removed || tt.removed == db.RemovedOnly && !removed {
						continue
					}
					if !p.UpdatedAt.Before(bound) {
						want = append(want, fmt.Sprint(p.ID))
					}
				}
				rows := listAll(t, s, db.Filter{UpdatedSince: &tt.since, Removed: tt.removed}, []db.OrderKey{{Field: db.OrderUpdatedAt}})
				var got []string
				for _, p := range rows {
					got = append(got, fmt.Sprint(p.ID))
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("updated_since %s finds %v, want %v", tt.since.Format(time.RFC3339Nano), got, want)
				}
			})
		}
	})
}

// TestSyncWalkSeesWritesDuringIt: a client walks updated_since with
// removed=any in updated_at order, a few rows a page, while feed writes,
// removals, restorations and API edits land between its pages, on rows it
// has passed and rows ahead of it. Keeping the last version of each id it
// read, its copy ends equal to the database: every written row came back
// after its cursor, none vanished.
func TestSyncWalkSeesWritesDuringIt(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		var profiles []db.Profile
		for i := range int64(30) {
			profiles = append(profiles, bareProfile(5000+i, fmt.Sprintf("Sync %02d", i)))
		}
		// Three writes, so that rows differ in updated_at.
		mustUpsert(t, s, profiles[:10]...)
		mustUpsert(t, s, profiles[10:20]...)
		mustUpsert(t, s, profiles[20:]...)
		if _, err := s.MarkRemoved(ctx, []int64{5029}); err != nil {
			t.Fatal(err)
		}
		since := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		filter := db.Filter{UpdatedSince: &since, Removed: db.RemovedAny}
		order := []db.OrderKey{{Field: db.OrderUpdatedAt}}

		// The writes between pages: each changes rows by feed id.
		writes := []func(){
			func() { // a row passed and one ahead change
				changed := []db.Profile{profiles[0], profiles[25]}
				for i := range changed {
					changed[i].Views = ptr(int64(100 + i))
				}
				mustUpsert(t, s, changed...)
			},
			func() { // removals, behind and ahead
				if _, err := s.MarkRemoved(ctx, []int64{5001, 5027}); err != nil {
					t.Fatal(err)
				}
			},
			func() { mustUpsert(t, s, profiles[29]) }, // a removed row returns
			func() { // an API edit of a row passed
				rows := listAll(t, s, db.Filter{FeedIDs: []int64{5002}}, nil)
				if _, err := s.Update(ctx, rows[0].ID, db.PornstarPatch{Age: db.Some(ptr(int32(40)))}, nil); err != nil {
					t.Fatal(err)
				}
			},
		}
		copyOf := map[int64]db.Pornstar{}
		after := ""
		for pageNo := 0; ; pageNo++ {
			page, err := s.List(ctx, filter, order, db.Page{First: 4, After: after})
			if err != nil {
				t.Fatalf("page %d: %v", pageNo, err)
			}
			for _, p := range page.Items {
				copyOf[p.ID] = p
			}
			if pageNo < len(writes) {
				writes[pageNo]()
			}
			if !page.HasNextPage {
				break
			}
			after = page.Cursors[len(page.Cursors)-1]
		}
		for _, p := range listAll(t, s, db.Filter{Removed: db.RemovedAny}, nil) {
			c, ok := copyOf[p.ID]
			switch {
			case !ok:
				t.Errorf("feed id %d never read", *p.ExternalID)
			case c.Version != p.Version || (c.RemovedAt == nil) != (p.RemovedAt == nil):
				t.Errorf("feed id %d: the copy has version %d (removed %v), the database %d (removed %v)",
					*p.ExternalID, c.Version, c.RemovedAt != nil, p.Version, p.RemovedAt != nil)
			}
		}
	})
}

// TestListCreatedSince: created_since keeps the rows created at or after
// it, to the microsecond, as a client comparing created_at finds them.
func TestListCreatedSince(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ids := seedOrderData(t, s) // created_at of row i is orderUpdatedAt(len(ids)-i)
		all := listAll(t, s, db.Filter{}, nil)
		at := orderUpdatedAt(3)
		tests := []struct {
			name  string
			since time.Time
		}{
			{"at a row's time: the row is kept", at},
			{"a microsecond later: the row is not", at.Add(time.Microsecond)},
			{"a nanosecond later: the row's microsecond is kept", at.Add(time.Nanosecond)},
			{"in another zone: the same instant", at.In(time.FixedZone("", -5*3600))},
			{"before every row", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
			{"after every row", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				bound := tt.since.UTC().Truncate(time.Microsecond)
				var want []int64
				for _, p := range all {
					if !p.CreatedAt.Before(bound) {
						want = append(want, p.ID)
					}
				}
				got := idsOf(listAll(t, s, db.Filter{CreatedSince: &tt.since}, []db.OrderKey{{Field: db.OrderCreatedAt}}))
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("created_since %s finds %v, want %v", tt.since.Format(time.RFC3339Nano), got, want)
				}
				if tt.name == "at a row's time: the row is kept" && (len(want) == 0 || len(want) == len(ids)) {
					t.Errorf("the case keeps %d of %d rows: it tests nothing", len(want), len(ids))
				}
			})
		}
	})
}
