package main

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"marquee/db"
)

const migrateAbout = `Applies every pending database migration under the migration lock and prints
the ones it applied. ` + "`marquee run`" + ` does the same at start-up.

Also:
  marquee migrate status [flags]   list every migration, applied or pending
  marquee migrate unlock [flags]   release a migration lock left by a crashed process`

func migrateCommand(ctx context.Context, args []string, env environment) int {
	action := "apply"
	if len(args) > 0 && (args[0] == "status" || args[0] == "unlock") {
		action, args = args[0], args[1:]
	}
	synopsis, about := "marquee migrate [flags]", migrateAbout
	switch action {
	case "status":
		synopsis, about = "marquee migrate status [flags]", "Lists every migration with its status (applied or pending) and when it was applied."
	case "unlock":
		synopsis, about = "marquee migrate unlock [flags]", "Releases the migration lock. Use it only when no marquee process is migrating:\nthe lock is left behind when a process crashes during a migration."
	}
	cfg := defaultConfig()
	f := newFlags(synopsis, about)
	cfg.declareDatabase(f)
	cfg.declareLogging(f)
	if code, ok := f.parseOrExit(args, env); !ok {
		return code
	}
	if f.set.NArg() > 0 {
		return f.usageExit(&usageError{fmt.Sprintf("unexpected argument %q (sub-commands come first: marquee migrate status --db URL)", f.set.Arg(0))}, env)
	}
	cfg.resolve()
	logger := newLogger(env.stderr, cfg)

	database, err := openDatabase(ctx, cfg)
	if err != nil {
		logger.Error("cannot open the database", "db", redactURL(cfg.DB), "err", err)
		return exitFailure
	}
	defer database.Close()

	switch action {
	case "status":
		err = printMigrationStatus(ctx, database, env)
	case "unlock":
		if err = database.Unlock(ctx); err == nil {
			fmt.Fprintln(env.stdout, "migration lock released")
		}
	default:
		err = applyMigrations(ctx, database, cfg, logger, env)
	}
	if err != nil {
		logger.Error("migrate "+action+" failed", "err", err)
		return exitFailure
	}
	return exitOK
}

func applyMigrations(ctx context.Context, database *db.DB, cfg Config, logger *slog.Logger, env environment) error {
	logger.Debug("applying migrations", "db", redactURL(cfg.DB))
	applied, err := database.Migrate(ctx, cfg.MigrateLockWait)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(env.stdout, "database is up to date")
		return nil
	}
	for _, name := range applied {
		fmt.Fprintln(env.stdout, "applied", name)
	}
	return nil
}

func printMigrationStatus(ctx context.Context, database *db.DB, env environment) error {
	migrations, err := database.Migrations(ctx)
	if err != nil {
		return err
	}
	table := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(table, "MIGRATION\tSTATUS\tAPPLIED AT")
	for _, m := range migrations {
		name := m.Name
		if m.Comment != "" {
			name += "_" + m.Comment
		}
		status, appliedAt := "pending", ""
		if m.Applied {
			status, appliedAt = "applied", m.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(table, "%s\t%s\t%s\n", name, status, appliedAt)
	}
	return table.Flush()
}
