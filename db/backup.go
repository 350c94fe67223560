package db

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/uptrace/bun/dialect"
)

// ErrNotMarquee is returned by CheckSchema for a database that is not a
// Marquee database, or is at a migration this binary does not know.
var ErrNotMarquee = errors.New("not a Marquee database this version can use")

// BackupSQLite writes a consistent copy of the SQLite database to path, which
// must not exist: the state of one committed transaction, taken while other
// processes go on reading and writing (SQLite's VACUUM INTO, in a read
// transaction of its own). The copy is compacted and needs no WAL file.
func (d *DB) BackupSQLite(ctx context.Context, path string) error {
	if d.Dialect != dialect.SQLite {
		return errors.New("db: backup: only a SQLite database is copied this way; back up MySQL with its own tools (docs/operations.md)")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("db: backup: %s exists; name a new file", path)
	}
	if _, err := d.W.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("db: backup into %s: %w", path, err)
	}
	return nil
}

// SchemaStatus is where a database stands against this binary's migrations.
type SchemaStatus struct {
	// Latest is the newest applied migration, as `marquee migrate status`
	// names it.
	Latest string
	// Applied and Pending count this binary's migrations; the pending ones
	// are applied when a command starts on the database.
	Applied, Pending int
}

// CheckSchema reports whether d is a Marquee database at a migration this
// binary knows: it has Marquee's tables and migration records, at least one
// migration applied, and none that this binary lacks (a database of a newer
// version). Otherwise the error wraps ErrNotMarquee. It changes nothing.
func (d *DB) CheckSchema(ctx context.Context) (SchemaStatus, error) {
	var status SchemaStatus
	for _, table := range []string{"bun_migrations", "pornstars", "feed_runs", "images"} {
		exists, err := d.tableExists(ctx, table)
		if err != nil {
			return status, fmt.Errorf("db: check schema: %w", err)
		}
		if !exists {
			return status, fmt.Errorf("db: check schema: no table %s: %w", table, ErrNotMarquee)
		}
	}
	m, err := d.migrator()
	if err != nil {
		return status, err
	}
	applied, err := m.AppliedMigrations(ctx)
	if err != nil {
		return status, fmt.Errorf("db: check schema: %w", err)
	}
	if len(applied) == 0 {
		return status, fmt.Errorf("db: check schema: no migration applied: %w", ErrNotMarquee)
	}
	ms, err := d.migrations()
	if err != nil {
		return status, err
	}
	known := ms.Sorted()
	if a, ok := unknownMigration(applied, known); ok {
		return status, fmt.Errorf("db: check schema: migration %s is unknown to this version (made by a newer Marquee?): %w", a.String(), ErrNotMarquee)
	}
	for _, k := range known {
		if slices.ContainsFunc(applied, func(a migrateMigration) bool { return a.Name == k.Name }) {
			status.Applied++
			status.Latest = k.String()
		} else {
			status.Pending++
		}
	}
	return status, nil
}

// tableExists reports whether the database has table.
func (d *DB) tableExists(ctx context.Context, table string) (bool, error) {
	q := d.W.NewSelect().TableExpr("sqlite_master").Where("type = 'table'").Where("name = ?", table)
	if d.Dialect == dialect.MySQL {
		q = d.W.NewSelect().TableExpr("information_schema.tables").
			Where("table_schema = DATABASE()").Where("table_name = ?", table)
	}
	n, err := q.Count(ctx)
	return n > 0, err
}

// unknownMigration returns the first of applied that known lacks.
func unknownMigration(applied, known []migrateMigration) (migrateMigration, bool) {
	for _, a := range applied {
		if !slices.ContainsFunc(known, func(k migrateMigration) bool { return k.Name == a.Name }) {
			return a, true
		}
	}
	return migrateMigration{}, false
}

// checkNoUnknownMigrations fails, wrapping ErrNotMarquee, when d has a
// migration applied that this binary does not know. A database without
// migrations passes.
func (d *DB) checkNoUnknownMigrations(ctx context.Context) error {
	exists, err := d.tableExists(ctx, "bun_migrations")
	if err != nil || !exists {
		return err
	}
	m, err := d.migrator()
	if err != nil {
		return err
	}
	applied, err := m.AppliedMigrations(ctx)
	if err != nil {
		return fmt.Errorf("db: check schema: %w", err)
	}
	ms, err := d.migrations()
	if err != nil {
		return err
	}
	if a, ok := unknownMigration(applied, ms.Sorted()); ok {
		return fmt.Errorf("migration %s is unknown to this version (made by a newer Marquee?): %w", a.String(), ErrNotMarquee)
	}
	return nil
}
