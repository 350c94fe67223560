package db

import (
	"context"
	"testing"
	"time"

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
