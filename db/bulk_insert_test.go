package db

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"marquee/db/dbtest"
)

// TestInsertRowsWritesWhatBunWrites checks that the prepared bulk insert
// stores every kind of value (nil and set pointers, booleans, JSON lists nil,
// empty and set, times) exactly as bun's own INSERT does, down to the text
// the database holds, in a chunk run before its statement was prepared, in
// one run through the prepared statement, and in a short last chunk; and
// that a row breaking a unique index fails the insert.
func TestInsertRowsWritesWhatBunWrites(t *testing.T) {
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			d, err := Open(ctx, Options{URL: b.URL(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Migrate(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			s := NewStore(d)
			now := time.Date(2026, 11, 26, 10, 20, 30, 123456000, time.UTC)
			row := func(n int64) Pornstar {
				yes, no := true, false
				p := Pornstar{ExternalID: &n, Slug: fmt.Sprintf("p-%d", n), NameKey: "p", SearchText: "p",
					Version: 1, CreatedAt: now, UpdatedAt: now.Add(time.Duration(n%5) * time.Microsecond)}
				p.Name = fmt.Sprintf("P %d", n%1000)
				switch n % 5 {
				default: // unknowns
				case 1:
					p.WLStatus, p.Tattoos, p.Age = &yes, &no, ptrTo(int32(30))
					p.HairColors, p.Ethnicities = StringList{}, StringList{"white", `a "quoted" one`}
					p.Link, p.Views, p.RemovedAt = ptrTo("https://example.com/a'b"), ptrTo(int64(1)<<40), &now
				case 2:
					p.HairColors, p.License, p.Rank = StringList{"blonde"}, ptrTo("REGULAR"), ptrTo(int64(-3))
				}
				return p
			}
			var viaHelper, viaBun []Pornstar
			for n := int64(1); n <= 2*batchRows+7; n++ {
				viaHelper = append(viaHelper, row(n))
				viaBun = append(viaBun, row(100_000+n))
			}
			for _, part := range [][]Pornstar{viaHelper[:batchRows], viaHelper[batchRows:]} {
				if err := s.inTx(ctx, "test insert", func(ctx context.Context, tx bun.Tx) error {
					return insertRows(ctx, tx, &d.inserts, part, "id")
				}); err != nil {
					t.Fatal(err)
				}
			}
			if len(d.inserts.prepared) != 1 {
				t.Errorf("%d statements prepared after two transactions, want 1", len(d.inserts.prepared))
			}
			if _, err := d.W.NewInsert().Model(&viaBun).ExcludeColumn("id").Returning("NULL").Exec(ctx); err != nil {
				t.Fatal(err)
			}

			var stored []Pornstar
			if err := d.W.NewSelect().Model(&stored).Order("external_id").Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if len(stored) != len(viaHelper)+len(viaBun) {
				t.Fatalf("%d rows stored, want %d", len(stored), len(viaHelper)+len(viaBun))
			}
			for i := range viaHelper {
				got, want := stored[i], stored[len(viaHelper)+i]
				*got.ExternalID += 100_000
				got.ID, want.ID, got.Slug, want.Slug = 0, 0, "", ""
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("row %d differs from bun's:\n got %+v\nwant %+v", i, got, want)
				}
			}
			// The text the database holds, which a sort or comparison in SQL sees.
			var texts []struct {
				ExternalID int64  `bun:"external_id"`
				Texts      string `bun:"texts"`
			}
			if err := d.W.NewRaw(`SELECT external_id, `+concatTexts(d)+` AS texts FROM pornstars ORDER BY external_id`).Scan(ctx, &texts); err != nil {
				t.Fatal(err)
			}
			for i := range viaHelper {
				if got, want := texts[i].Texts, texts[len(viaHelper)+i].Texts; got != want {
					t.Fatalf("feed id %d holds %q, bun's row %q", texts[i].ExternalID, got, want)
				}
			}

			tests := []struct {
				name string
				rows []Pornstar
			}{
				{"a duplicate in a full chunk", append(rowsFrom(row, 900_000, batchRows-1), row(1))},
				{"a duplicate in a short chunk", append(rowsFrom(row, 910_000, 3), row(2))},
			}
			for _, tt := range tests {
				err := d.W.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					return insertRows(ctx, tx, &d.inserts, tt.rows, "id")
				})
				if err == nil || !isUniqueViolation(err) {
					t.Errorf("%s: error %v, want a unique violation", tt.name, err)
				}
			}
			var count int
			if err := d.W.NewRaw("SELECT COUNT(*) FROM pornstars").Scan(ctx, &count); err != nil {
				t.Fatal(err)
			}
			if count != len(viaHelper)+len(viaBun) {
				t.Errorf("%d rows after the failed inserts, want %d", count, len(viaHelper)+len(viaBun))
			}
		})
	}
}

func rowsFrom(row func(int64) Pornstar, first int64, n int) []Pornstar {
	out := make([]Pornstar, n)
	for i := range out {
		out[i] = row(first + int64(i))
	}
	return out
}

// concatTexts is an SQL expression of every column's text, NULL marked.
func concatTexts(d *DB) string {
	cols := []string{"name", "license", "wl_status", "link", "hair_colors", "ethnicities", "tattoos", "age", "views",
		"`rank`", "removed_at", "created_at", "updated_at", "version"}
	for i, c := range cols {
		cols[i] = "COALESCE(CAST(" + c + " AS CHAR), 'NULL')"
	}
	if d.Dialect == dialect.SQLite {
		return strings.Join(cols, " || '|' || ")
	}
	return "CONCAT_WS('|', " + strings.Join(cols, ", ") + ")"
}
