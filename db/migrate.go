package db

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ddlTemplate fills the dialect-specific parts of the migration files, so one
// set of files serves MySQL and SQLite.
type ddlTemplate struct {
	PK           string // an auto-increment 64-bit primary key column type
	DateTime     string // a UTC timestamp with microseconds
	TableOptions string // appended after CREATE TABLE (...)
	// OnTable follows DROP INDEX name: MySQL names the table, SQLite not.
	OnTable func(table string) string
}

// migrateMigration is one migration, known or applied.
type migrateMigration = migrate.Migration

// migrations returns this binary's migrations.
func (d *DB) migrations() (*migrate.Migrations, error) {
	ms := migrate.NewMigrations()
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("db: migrations: %w", err)
	}
	if err := ms.Discover(sub); err != nil {
		return nil, fmt.Errorf("db: migrations: %w", err)
	}
	ms = withGoSteps(ms, d)
	return ms, nil
}

func (d *DB) migrator() (*migrate.Migrator, error) {
	ms, err := d.migrations()
	if err != nil {
		return nil, err
	}
	tmpl := ddlTemplate{
		PK:       "INTEGER PRIMARY KEY AUTOINCREMENT",
		DateTime: "DATETIME",
		OnTable:  func(string) string { return "" },
	}
	if d.Dialect == dialect.MySQL {
		tmpl = ddlTemplate{
			PK:           "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY",
			DateTime:     "DATETIME(6)",
			TableOptions: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
			OnTable:      func(table string) string { return " ON " + table },
		}
	}
	return migrate.NewMigrator(d.W, ms,
		migrate.WithTemplateData(tmpl),
		// A migration is recorded only once it has run, so a failed one is
		// tried again on the next start instead of being skipped.
		migrate.WithMarkAppliedOnSuccess(true),
	), nil
}

// searchTokensMigration is the migration that adds the search tokens: after
// its SQL, every performer is indexed (reindexSearch), which SQL alone
// cannot do (the words are folded in Go).
const searchTokensMigration = "20261126000009"

// withGoSteps returns the migrations with the Go step of those that have
// one run after their SQL, as part of the same migration.
func withGoSteps(ms *migrate.Migrations, d *DB) *migrate.Migrations {
	out := migrate.NewMigrations()
	for _, m := range ms.Sorted() {
		if m.Name == searchTokensMigration {
			up := m.Up
			m.Up = func(ctx context.Context, mg *migrate.Migrator, mig *migrate.Migration) error {
				if err := up(ctx, mg, mig); err != nil {
					return err
				}
				if err := reindexSearch(ctx, d.W); err != nil {
					return fmt.Errorf("index performers for search: %w", err)
				}
				return nil
			}
		}
		out.Add(m)
	}
	return out
}

// MigrationStatus describes one migration for `marquee migrate status`.
type MigrationStatus struct {
	Name      string
	Comment   string
	Applied   bool
	AppliedAt time.Time
}

// Migrate applies every pending migration under bun's migration lock, then
// gives every performer without a slug its slug (rows from before slugs
// existed). A lock
// held by another process is waited for up to lockWait; a lock left behind by
// a crashed process is released with Unlock (`marquee migrate unlock`).
func (d *DB) Migrate(ctx context.Context, lockWait time.Duration) (applied []string, err error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("db: migrate: init: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := m.Lock(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("db: migrate: the migration lock is held by another process (if none runs, release it with `marquee migrate unlock`): %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	defer func() {
		// Unlock even when ctx is cancelled, or the next start would wait.
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if uerr := m.Unlock(unlockCtx); uerr != nil {
			err = errors.Join(err, fmt.Errorf("db: migrate: unlock: %w", uerr))
		}
	}()
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	// What SQL cannot fill in portably is filled in here, still under the
	// lock; each step finds nothing left to do once it has run.
	if err := NewStore(d).backfillSlugs(ctx); err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	for _, mig := range group.Migrations {
		applied = append(applied, mig.String())
	}
	return applied, nil
}

// Unlock releases the migration lock, for use after a crash during Migrate.
func (d *DB) Unlock(ctx context.Context) error {
	m, err := d.migrator()
	if err != nil {
		return err
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("db: migrate: init: %w", err)
	}
	if err := m.Unlock(ctx); err != nil {
		return fmt.Errorf("db: migrate: unlock: %w", err)
	}
	return nil
}

// Migrations lists every known migration and whether it has been applied.
func (d *DB) Migrations(ctx context.Context) ([]MigrationStatus, error) {
	m, err := d.migrator()
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("db: migrate: init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: migrate: status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(ms))
	for _, mig := range ms {
		out = append(out, MigrationStatus{
			Name:      mig.Name,
			Comment:   mig.Comment,
			Applied:   mig.IsApplied(),
			AppliedAt: mig.MigratedAt.UTC(),
		})
	}
	return out, nil
}
