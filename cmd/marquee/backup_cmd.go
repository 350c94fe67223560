package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"marquee/db"
)

const backupAbout = `Writes a consistent copy of the embedded SQLite database to FILE, while
marquee run (or any other process) goes on using it: the copy is the state of
one committed transaction. FILE must not exist. Copy the image store (the
images/ folder of the data dir) as files beside it; restore both with
marquee restore. A MySQL database is backed up with its own tools
(docs/operations.md).`

// backupCommand is `marquee backup --out FILE`.
func backupCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee backup --out FILE [flags]", backupAbout)
	var out string
	f.set.StringVar(&out, "out", "", "`file` to write the copy to; must not exist")
	cfg.declareDatabase(f)
	cfg.declareLogging(f)
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if out == "" {
		return f.usageExit(&usageError{"name the file to write with --out"}, env)
	}
	cfg.resolve()
	path, err := db.SQLitePath(cfg.DB)
	if err != nil {
		return f.usageExit(&usageError{"marquee backup copies the embedded SQLite database; back up MySQL with mysqldump or mariadb-dump --single-transaction, or mariabackup / xtrabackup (docs/operations.md)"}, env)
	}
	logger := newLogger(env.stderr, cfg)
	if _, err := os.Stat(path); err != nil {
		logger.Error("marquee backup failed: no database to copy", "db", path, "err", err)
		return exitFailure
	}
	if _, err := os.Lstat(out); err == nil {
		logger.Error("marquee backup failed: the output file exists; name a new one", "out", out)
		return exitFailure
	}
	database, err := db.Open(ctx, db.Options{URL: cfg.DB})
	if err != nil {
		return failed(logger, "marquee backup", err, f, env)
	}
	defer database.Close()
	status, err := database.CheckSchema(ctx)
	if err != nil {
		return failed(logger, "marquee backup", err, f, env)
	}
	// The copy is written beside FILE and renamed when complete, so FILE is
	// never a partial copy.
	partial := out + ".partial"
	os.Remove(partial) // left by an interrupted backup
	if err := database.BackupSQLite(ctx, partial); err != nil {
		os.Remove(partial)
		return failed(logger, "marquee backup", err, f, env)
	}
	if err := syncAndRename(partial, out); err != nil {
		os.Remove(partial)
		return failed(logger, "marquee backup", err, f, env)
	}
	info, err := os.Stat(out)
	if err != nil {
		return failed(logger, "marquee backup", err, f, env)
	}
	fmt.Fprintf(env.stdout, "backup written: %s (%d bytes, migration %s)\n", out, info.Size(), status.Latest)
	return exitOK
}

const restoreAbout = `Puts a database written by marquee backup back as the SQLite database of an
empty data dir (--data-dir; the database file is --db, by default
DATA_DIR/marquee.db). It refuses a data dir that holds anything, and a file
that is not a Marquee database at a migration this version knows; migrations
newer than the backup are applied when marquee run starts. Copy the image
store back into DATA_DIR/images afterwards (docs/operations.md).`

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// restoreCommand is `marquee restore FILE`.
func restoreCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	f := newFlags("marquee restore FILE [flags]", restoreAbout)
	cfg.declareDatabase(f)
	cfg.declareLogging(f)
	files, code, ok := f.parsePositional(args, env)
	if !ok {
		return code
	}
	if len(files) != 1 {
		return f.usageExit(&usageError{"name one backup file"}, env)
	}
	backup := files[0]
	cfg.resolve()
	target, err := db.SQLitePath(cfg.DB)
	if err != nil {
		return f.usageExit(&usageError{"marquee restore restores the embedded SQLite database; restore MySQL with its own tools (docs/operations.md)"}, env)
	}
	logger := newLogger(env.stderr, cfg)
	status, err := restore(ctx, backup, cfg.DataDir, target)
	if err != nil {
		logger.Error("marquee restore failed", "err", err)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "restored %s into %s (migration %s", backup, target, status.Latest)
	if status.Pending > 0 {
		fmt.Fprintf(env.stdout, "; %d newer migrations are applied at the next start", status.Pending)
	}
	fmt.Fprintln(env.stdout, ")")
	return exitOK
}

// restore copies the backup file to target in the empty dataDir and checks
// the copy; on any failure it removes what it wrote.
func restore(ctx context.Context, backup, dataDir, target string) (status db.SchemaStatus, err error) {
	if err := checkSQLiteFile(backup); err != nil {
		return status, err
	}
	entries, err := os.ReadDir(dataDir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return status, err
	case len(entries) > 0:
		return status, fmt.Errorf("the data dir %s is not empty (it holds %s): restore into an empty one", dataDir, entries[0].Name())
	}
	if _, err := os.Lstat(target); err == nil {
		return status, fmt.Errorf("%s exists: restore into an empty data dir", target)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return status, err
	}
	defer lock.Release()
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return status, err
	}

	restoring := target + ".restoring"
	defer func() {
		if err != nil {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(restoring + suffix)
			}
		}
	}()
	if err := copyFile(backup, restoring); err != nil {
		return status, err
	}
	if status, err = checkRestored(ctx, restoring); err != nil {
		return status, fmt.Errorf("%s: %w", backup, err)
	}
	return status, syncAndRename(restoring, target)
}

// checkSQLiteFile reports a file that is not a SQLite database.
func checkSQLiteFile(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	header := make([]byte, len(sqliteHeader))
	if _, err := io.ReadFull(file, header); err != nil || !bytes.Equal(header, sqliteHeader) {
		return fmt.Errorf("%s is not a SQLite database", path)
	}
	return nil
}

// checkRestored opens the copy at path and checks that it is an intact
// Marquee database at a known migration.
func checkRestored(ctx context.Context, path string) (db.SchemaStatus, error) {
	database, err := db.Open(ctx, db.Options{URL: "sqlite://" + path})
	if err != nil {
		return db.SchemaStatus{}, err
	}
	defer database.Close()
	var result string
	if err := database.W.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result); err != nil {
		return db.SchemaStatus{}, fmt.Errorf("not a readable SQLite database: %w", err)
	}
	if result != "ok" {
		return db.SchemaStatus{}, fmt.Errorf("the database is damaged: %s", strings.TrimSpace(result))
	}
	return database.CheckSchema(ctx)
}

// copyFile copies src to dst, which must not exist, and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return errors.Join(out.Sync(), out.Close())
}

// syncAndRename makes the file at from durable and moves it to to.
func syncAndRename(from, to string) error {
	file, err := os.Open(from)
	if err != nil {
		return err
	}
	err = errors.Join(file.Sync(), file.Close())
	if err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(to)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
