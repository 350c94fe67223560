package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"marquee/db"
	"marquee/internal/samples"
)

// TestBackupWhileWritingAndRestore: `marquee backup` copies the database while
// another process writes to it; `marquee restore` puts the copy into an empty
// data dir, where `dev verify` finds the feed's data and the concurrent
// writes appear whole up to some point, never in part.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := t.Context()
	feed := samples.Head.Path(t)
	source := t.TempDir()
	code, stdout, stderr := runCLI(ctx, nil, "ingest", "--once", "--feed", feed, "--data-dir", source, "--images=false",
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if code != exitOK {
		t.Fatalf("ingest --once: exit %d, %s\n%s", code, stdout, tail(stderr))
	}

	// A writer of its own, as a second process would be: performers made
	// through the API, each with an alias, one transaction each.
	writing, err := db.Open(ctx, db.Options{URL: "sqlite://" + filepath.Join(source, "marquee.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer writing.Close()
	store := db.NewStore(writing)
	writerCtx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	created := make(chan int, 1000)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; writerCtx.Err() == nil; i++ {
			in := db.PornstarInput{PornstarFields: db.PornstarFields{Name: fmt.Sprintf("api-%d", i)}, Aliases: []string{fmt.Sprintf("alias-%d", i)}}
			if _, err := store.Create(writerCtx, in); err != nil {
				if writerCtx.Err() == nil {
					t.Errorf("create %d: %v", i, err)
				}
				return
			}
			select {
			case created <- i:
			default:
			}
		}
	}()
	for range 5 { // the writer is under way
		<-created
	}

	out := filepath.Join(t.TempDir(), "marquee-backup.db")
	code, stdout, stderr = runCLI(ctx, nil, "backup", "--data-dir", source, "--out", out)
	stopWriter()
	wg.Wait()
	if code != exitOK || !strings.HasPrefix(stdout, "backup written: "+out) {
		t.Fatalf("backup: exit %d, stdout %q\n%s", code, stdout, tail(stderr))
	}

	restored := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr = runCLI(ctx, nil, "restore", out, "--data-dir", restored)
	if code != exitOK || !strings.HasPrefix(stdout, "restored "+out) {
		t.Fatalf("restore: exit %d, stdout %q\n%s", code, stdout, tail(stderr))
	}
	code, stdout, _ = runCLI(ctx, nil, "dev", "verify", "--feed", feed, "--data-dir", restored)
	if code != exitOK {
		t.Errorf("dev verify of the restored database: exit %d\n%s", code, tail(stdout))
	}

	copyDB, err := db.Open(ctx, db.Options{URL: "sqlite://" + filepath.Join(restored, "marquee.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	var names []string
	if err := copyDB.R.NewSelect().TableExpr("pornstars AS p").Column("p.name").
		Join("JOIN aliases AS a ON a.pornstar_id = p.id").
		Where("p.external_id IS NULL").Where("a.alias = REPLACE(p.name, 'api-', 'alias-')").
		OrderExpr("p.id").Scan(ctx, &names); err != nil {
		t.Fatal(err)
	}
	var apiRows int
	if err := copyDB.R.NewSelect().TableExpr("pornstars").ColumnExpr("COUNT(*)").Where("external_id IS NULL").Scan(ctx, &apiRows); err != nil {
		t.Fatal(err)
	}
	if len(names) < 5 || apiRows != len(names) {
		t.Fatalf("the copy has %d performers made through the API, %d of them with their alias; want at least 5, all with it", apiRows, len(names))
	}
	for i, name := range names {
		if name != fmt.Sprintf("api-%d", i) {
			t.Fatalf("performer %d of the copy is %q: the writes in the copy have a gap", i, name)
		}
	}
}

// TestBackupRestoreRefusals: what backup and restore refuse, and how they say it.
func TestBackupRestoreRefusals(t *testing.T) {
	ctx := t.Context()
	source := t.TempDir()
	if code, _, stderr := runCLI(ctx, nil, "migrate", "--data-dir", source); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s", code, stderr)
	}
	backup := filepath.Join(t.TempDir(), "good.db")
	if code, _, stderr := runCLI(ctx, nil, "backup", "--data-dir", source, "--out", backup); code != exitOK {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	files := t.TempDir()
	notSQLite := filepath.Join(files, "notes.txt")
	if err := os.WriteFile(notSQLite, []byte("not a database at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	otherSQLite := filepath.Join(files, "other.db")
	other, err := db.Open(ctx, db.Options{URL: "sqlite://" + otherSQLite})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.W.ExecContext(ctx, "CREATE TABLE notes (body TEXT)"); err != nil {
		t.Fatal(err)
	}
	other.Close()
	newer := filepath.Join(files, "newer.db")
	if code, _, stderr := runCLI(ctx, nil, "backup", "--data-dir", source, "--out", newer); code != exitOK {
		t.Fatalf("backup: exit %d\n%s", code, stderr)
	}
	newerDB, err := db.Open(ctx, db.Options{URL: "sqlite://" + newer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newerDB.W.ExecContext(ctx, "INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, CURRENT_TIMESTAMP)"); err != nil {
		t.Fatal(err)
	}
	newerDB.Close()
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"backup without --out", []string{"backup", "--data-dir", source}, exitUsage, "name the file to write with --out"},
		{"backup of MySQL", []string{"backup", "--db", "mysql://u:p@127.0.0.1:3306/marquee", "--out", filepath.Join(files, "x.db")}, exitUsage, "mysqldump"},
		{"backup over an existing file", []string{"backup", "--data-dir", source, "--out", backup}, exitFailure, "the output file exists"},
		{"backup of a data dir without a database", []string{"backup", "--data-dir", t.TempDir(), "--out", filepath.Join(files, "y.db")}, exitFailure, "no database to copy"},
		{"restore without a file", []string{"restore", "--data-dir", t.TempDir()}, exitUsage, "name one backup file"},
		{"restore into a data dir that holds something", []string{"restore", backup, "--data-dir", full}, exitFailure, "is not empty"},
		{"restore of a file that is not SQLite", []string{"restore", notSQLite, "--data-dir", t.TempDir()}, exitFailure, "is not a SQLite database"},
		{"restore of another SQLite database", []string{"restore", otherSQLite, "--data-dir", t.TempDir()}, exitFailure, "not a Marquee database"},
		{"restore of a newer Marquee's database", []string{"restore", newer, "--data-dir", t.TempDir()}, exitFailure, "unknown to this version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(ctx, nil, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
			if tt.args[0] == "restore" && len(tt.args) > 3 {
				dir := tt.args[len(tt.args)-1]
				if entries, _ := os.ReadDir(dir); dir != full && len(entries) > 1 { // the lock file may stay
					t.Errorf("a refused restore left %d files in the data dir", len(entries))
				}
			}
		})
	}
	if data, _ := os.ReadFile(filepath.Join(full, "keep.txt")); string(data) != "x" {
		t.Errorf("the refused restore changed the non-empty data dir")
	}
}
