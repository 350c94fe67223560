package db_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/uptrace/bun/dialect"

	"marquee/db"
	"marquee/internal/testkit"
)

// TestListPlansWalkAnIndex: on both dialects, a page in every sort key, in
// both directions, first or after a cursor, is read through an index in
// the key's order: no plan sorts the performers (SQLite's "TEMP B-TREE",
// MySQL's "Using filesort"), which would grow with the table.
func TestListPlansWalkAnIndex(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		ctx := context.Background()
		const n = 3000
		for start := 0; start < n; start += 500 {
			batch := make([]db.Profile, 500)
			for i := range batch {
				id := int64(start + i + 1)
				batch[i] = planProfile(id, n)
			}
			mustUpsert(t, s, batch...)
		}
		if s.DB().Dialect == dialect.MySQL {
			if _, err := s.DB().W.ExecContext(ctx, "ANALYZE TABLE pornstars"); err != nil {
				t.Fatal(err)
			}
		}
		log := testkit.LogStatements(s)
		for _, field := range db.OrderFields {
			if field == db.OrderRelevance {
				continue // needs a q: TestSearchPlans
			}
			for _, desc := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s desc=%v", field, desc), func(t *testing.T) {
					order := []db.OrderKey{{Field: field, Desc: desc}}
					log.Take()
					first, err := s.List(ctx, db.Filter{}, order, db.Page{First: 20})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := s.List(ctx, db.Filter{}, order, db.Page{First: 20, After: first.Cursors[19]}); err != nil {
						t.Fatal(err)
					}
					if _, err := s.List(ctx, db.Filter{}, order, db.Page{Last: 20, Before: first.Cursors[19]}); err != nil {
						t.Fatal(err)
					}
					for _, stmt := range log.Take() {
						if plan := explain(t, s, stmt); strings.Contains(plan, "TEMP B-TREE") || strings.Contains(plan, "filesort") {
							t.Errorf("the page sorts the table: %s\n%s", plan, stmt)
						}
					}
				})
			}
		}
	})
}

// planProfile is performer id of n with values spread as the real feed's
// are (mostly distinct, some unknown), in a different order per key.
func planProfile(id, n int64) db.Profile {
	p := bareProfile(id, fmt.Sprintf("Performer %d", id*7919%n))
	f := &p.PornstarFields
	stats := []**int64{&f.Subscriptions, &f.MonthlySearches, &f.Views, &f.VideosCount, &f.PremiumVideosCount,
		&f.WhiteLabelVideoCount, &f.Rank, &f.RankPremium, &f.RankWL}
	for j, stat := range stats {
		prime := []int64{7919, 104729, 1299709, 15485863, 179424673, 2038074743, 1, 3, 5}[j]
		if id%int64(11+j) != 0 {
			*stat = ptr(id * prime % (n * 10))
		}
	}
	if id%9 != 0 {
		f.Age = ptr(int32(18 + id*31%50))
	}
	if id%4 != 0 {
		f.BreastSize = ptr(int32(28 + id*17%20))
	}
	return p
}

// explain returns the plan of a SELECT as one line: SQLite's EXPLAIN QUERY
// PLAN details, or MySQL's EXPLAIN rows with their columns.
func explain(t *testing.T, s *db.Store, stmt string) string {
	t.Helper()
	prefix := "EXPLAIN QUERY PLAN "
	if s.DB().Dialect == dialect.MySQL {
		prefix = "EXPLAIN "
	}
	rows, err := s.DB().R.QueryContext(context.Background(), prefix+stmt)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		values := make([]sql.NullString, len(columns))
		dest := make([]any, len(columns))
		for i := range values {
			dest[i] = &values[i]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		var parts []string
		for i, v := range values {
			if v.Valid {
				parts = append(parts, columns[i]+"="+v.String)
			}
		}
		plan = append(plan, strings.Join(parts, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
