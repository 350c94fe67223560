package db

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"marquee/db/dbtest"
)

// TestMigrationsRollBack applies every migration, rolls them all back group
// by group (each down file must be valid on the dialect), and applies them
// again: the down files are the way back from a bad release.
func TestMigrationsRollBack(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, Options{URL: backend.URL(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Migrate(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			m, err := d.migrator()
			if err != nil {
				t.Fatal(err)
			}
			for {
				group, err := m.Rollback(ctx)
				if err != nil {
					t.Fatalf("rollback: %v", err)
				}
				if group.IsZero() {
					break
				}
			}
			var tables int
			q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'image_fetches'"
			if d.Dialect == dialect.MySQL {
				q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'image_fetches'"
			}
			if err := d.W.QueryRowContext(ctx, q).Scan(&tables); err != nil || tables != 0 {
				t.Fatalf("image_fetches after rolling everything back: %d (%v)", tables, err)
			}
			if applied, err := d.Migrate(ctx, time.Minute); err != nil || len(applied) == 0 {
				t.Fatalf("migrating again: %v, %v", applied, err)
			}
		})
	}
}

// TestFieldRulesMigration: migration 000006 turns the negative values that
// writers stored before the field rules into unknown, bumping the versions
// of the performers it changes, and leaves valid values alone.
func TestFieldRulesMigration(t *testing.T) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			ctx := context.Background()
			d, err := Open(ctx, Options{URL: backend.URL(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Migrate(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Second)
			neg32, neg64, views, width := int32(-30), int64(-2), int64(42), int32(-234)
			rows := []Pornstar{
				{PornstarFields: PornstarFields{Name: "Old", Age: &neg32, Rank: &neg64, Views: &views}, NameKey: "old", Version: 3, CreatedAt: now, UpdatedAt: now},
				{PornstarFields: PornstarFields{Name: "Thumb", Views: &views}, NameKey: "thumb", Version: 5, CreatedAt: now, UpdatedAt: now},
				{PornstarFields: PornstarFields{Name: "Fine", Views: &views}, NameKey: "fine", Version: 7, CreatedAt: now, UpdatedAt: now},
			}
			for i := range rows {
				if _, err := d.W.NewInsert().Model(&rows[i]).ExcludeColumn("id").Returning("id").Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			thumb := &Thumbnail{PornstarID: rows[1].ID, Type: "pc", Width: &width, URL: "https://x.test/a.jpg", URLHash: URLHash("https://x.test/a.jpg")}
			if _, err := d.W.NewInsert().Model(thumb).ExcludeColumn("id").Exec(ctx); err != nil {
				t.Fatal(err)
			}
			// Undo 000006 by its down file and apply it again, over the rows.
			for _, q := range []string{
				"DROP TABLE feed_run_warnings",
				"ALTER TABLE feed_runs DROP COLUMN warnings",
				"DELETE FROM bun_migrations WHERE name = '20261126000006'",
			} {
				if _, err := d.W.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if applied, err := d.Migrate(ctx, time.Minute); err != nil || len(applied) != 1 {
				t.Fatalf("migrating again: %v, %v", applied, err)
			}
			for i, wantVersion := range []int64{4, 6, 7} { // changed, changed through its thumbnail, untouched
				var got Pornstar
				if err := d.W.NewSelect().Model(&got).Where("p.id = ?", rows[i].ID).Scan(ctx); err != nil {
					t.Fatal(err)
				}
				if got.Version != wantVersion || got.Age != nil || got.Rank != nil || got.Views == nil || *got.Views != views {
					t.Errorf("%s: version %d, age %v, rank %v, views %v; want version %d, no age or rank, views kept",
						got.Name, got.Version, got.Age, got.Rank, got.Views, wantVersion)
				}
			}
			var got Thumbnail
			if err := d.W.NewSelect().Model(&got).Where("t.pornstar_id = ?", rows[1].ID).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			if got.Width != nil {
				t.Errorf("thumbnail width %d, want unknown", *got.Width)
			}
		})
	}
}

// TestSearchTokensMigration: migration 000009 indexes the performers that
// exist when it runs (their search_text in the earlier lower-case form, no
// tokens), so that search finds them by their names and aliases at once.
func TestSearchTokensMigration(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		rows := []Pornstar{
			{PornstarFields: PornstarFields{Name: "Aaliyah Jolie"}, NameKey: "aaliyah jolie", SearchText: "aaliyah jolie\njolie baby", Version: 1, CreatedAt: now, UpdatedAt: now},
			{PornstarFields: PornstarFields{Name: "Jolie"}, NameKey: "jolie", SearchText: "jolie", Version: 1, CreatedAt: now, UpdatedAt: now},
			{PornstarFields: PornstarFields{Name: "Zoë"}, NameKey: "zoë", SearchText: "zoë\nélodie", Version: 1, CreatedAt: now, UpdatedAt: now},
		}
		for i := range rows {
			if _, err := d.W.NewInsert().Model(&rows[i]).ExcludeColumn("id").Returning("id").Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		aliases := []Alias{
			{PornstarID: rows[0].ID, Position: 0, Alias: "Jolie Baby", AliasKey: "jolie baby"},
			{PornstarID: rows[2].ID, Position: 0, Alias: "Élodie", AliasKey: "élodie"},
		}
		if _, err := d.W.NewInsert().Model(&aliases).ExcludeColumn("id").Returning("NULL").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		reapplyMigrations(t, d, "DROP TABLE pornstar_search_tokens", searchTokensMigration)
		s := NewStore(d)
		for q, want := range map[string][]string{
			"jolie":         {"Jolie", "Aaliyah Jolie"},
			"baby jolie":    {"Aaliyah Jolie"},
			"elodie":        {"Zoë"},
			"zoe":           {"Zoë"},
			"aaliyah baby":  nil,
			"jolie aaliyah": {"Aaliyah Jolie"},
		} {
			page, err := s.List(ctx, Filter{Q: q}, nil, Page{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range page.Items {
				got = append(got, p.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("q=%q after the migration finds %q, want %q", q, got, want)
			}
		}
	})
}

// TestInFeedCountMigration: migrations 000019 and 000020, applied over
// performers written before them, count those in the feed.
func TestInFeedCountMigration(t *testing.T) {
	forEachMigrated(t, func(t *testing.T, d *DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		for i, removed := range []bool{false, true, false, false, true} {
			row := Pornstar{PornstarFields: PornstarFields{Name: "Before " + string(rune('A'+i))}, Version: 1, CreatedAt: now, UpdatedAt: now}
			if removed {
				row.RemovedAt = &now
			}
			if _, err := d.W.NewInsert().Model(&row).ExcludeColumn("id").Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		reapplyMigrations(t, d, "ALTER TABLE data_version DROP COLUMN in_feed", "20261126000019", "20261126000020")
		s := NewStore(d)
		s.SetDiscoveryIndex(false) // nothing mends the count
		if n, err := s.Count(ctx, Filter{}); n != 3 || err != nil {
			t.Errorf("Count after the migration = %d, %v; want the 3 performers not removed", n, err)
		}
	})
}

// forEachMigrated runs test on a database of each backend with every
// migration applied.
func forEachMigrated(t *testing.T, test func(t *testing.T, d *DB)) {
	for _, backend := range dbtest.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			d, err := Open(t.Context(), Options{URL: backend.URL(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			if _, err := d.Migrate(t.Context(), time.Minute); err != nil {
				t.Fatal(err)
			}
			test(t, d)
		})
	}
}

// reapplyMigrations undoes the migrations names with undo (their down
// files) and applies them again, over the rows the database holds.
func reapplyMigrations(t *testing.T, d *DB, undo string, names ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := d.W.ExecContext(ctx, undo); err != nil {
		t.Fatalf("%s: %v", undo, err)
	}
	if _, err := d.W.NewDelete().Table("bun_migrations").Where("name IN (?)", bun.List(names)).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if applied, err := d.Migrate(ctx, time.Minute); err != nil || len(applied) != len(names) {
		t.Fatalf("migrating again: %v, %v; want %d applied", applied, err, len(names))
	}
}
