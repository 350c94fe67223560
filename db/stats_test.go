package db_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// TestSQLiteKeepsStatistics: after a load, the SQLite read handle plans the
// lists by their order's index. Without ANALYZE's statistics SQLite reads
// every performer through the removed_at index and sorts them (a "TEMP
// B-TREE"), which grows with the table.
func TestSQLiteKeepsStatistics(t *testing.T) {
	s := testkit.OpenStore(t, dbtest.SQLiteURL(t))
	ctx := context.Background()
	const n = 3000
	for start := 0; start < n; start += 500 {
		batch := make([]db.Profile, 500)
		for i := range batch {
			id := int64(start + i + 1)
			views, rank := int64(id*7%1000), id
			batch[i] = db.Profile{FeedID: id, PornstarFields: db.PornstarFields{
				Name: fmt.Sprintf("Performer %d", id), Views: &views, Rank: &rank}}
		}
		if _, err := s.UpsertProfiles(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	log := testkit.LogStatements(s)
	for _, order := range [][]db.OrderKey{nil, {{Field: db.OrderViews, Desc: true}}, {{Field: db.OrderName}}} {
		log.Take()
		if _, err := s.List(ctx, db.Filter{}, order, db.Page{First: 20}); err != nil {
			t.Fatal(err)
		}
		for _, stmt := range log.Take() {
			rows, err := s.DB().R.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			if joined := strings.Join(plan, "; "); strings.Contains(joined, "TEMP B-TREE") {
				t.Errorf("order %v sorts the table: %s\n%s", order, joined, stmt)
			}
		}
	}
}
