package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
)

// TestStoreCopyFromTheEmbeddedModeToMySQL: a SQLite store that a feed run
// filled is copied into MySQL, straight through and killed half-way then
// resumed; either way `dev verify` finds the feed in the copy, and the next
// feed run against it, with the image store copied, publishes nothing and
// fetches no image.
func TestStoreCopyFromTheEmbeddedModeToMySQL(t *testing.T) {
	ctx := t.Context()
	feed := filepath.Join(t.TempDir(), "feed.json")
	if code, _, stderr := runCLI(ctx, nil, "dev", "gen-feed", "--items", "300", "--seed", "16", "--out", feed); code != exitOK {
		t.Fatalf("dev gen-feed: exit %d\n%s", code, stderr)
	}
	source := t.TempDir()
	images, hook := imageHosts(t)
	code, stdout, stderr := runPipeline(ctx, hook, "ingest", "--once", "--feed", feed, "--data-dir", source,
		"--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if code != exitOK || !strings.HasPrefix(stdout, "status=completed") {
		t.Fatalf("first feed run: exit %d, %s\n%s", code, stdout, tail(stderr))
	}
	fetched := images.Total()
	if fetched == 0 {
		t.Fatal("the first feed run fetched no image")
	}
	from := "sqlite://" + filepath.Join(source, "marquee.db")

	tests := []struct {
		name string
		// killAfter, when set, cuts a first copy off after this many batches.
		killAfter int
	}{
		{"straight through", 0},
		{"killed half-way and resumed", 4},
	}
	tableRows := map[string]map[string]int64{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := dbtest.MySQLURL(t)
			args := []string{"store", "copy", "--from", from, "--to", to, "--batch-size", "100"}
			if tt.killAfter > 0 {
				killCopy(t, from, to, tt.killAfter)
				code, _, stderr := runCLI(ctx, nil, args...)
				if code != exitFailure || !strings.Contains(stderr, "--resume") {
					t.Fatalf("copy into the half-copied target without --resume: exit %d, want 1 naming --resume\n%s", code, tail(stderr))
				}
				args = append(args, "--resume")
			}
			code, stdout, stderr := runCLI(ctx, nil, args...)
			if code != exitOK || !regexp.MustCompile(`(?m)^copied \d+ rows in \S+ \(\d+ rows/s\)$`).MatchString(stdout) {
				t.Fatalf("store copy: exit %d, stdout %q\n%s", code, stdout, tail(stderr))
			}
			if code, stdout, _ := runCLI(ctx, nil, "dev", "verify", "--feed", feed, "--db", to); code != exitOK {
				t.Errorf("dev verify of the copy: exit %d\n%s", code, tail(stdout))
			}

			moved := t.TempDir()
			if err := os.CopyFS(filepath.Join(moved, "images"), os.DirFS(filepath.Join(source, "images"))); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr = runPipeline(ctx, hook, "ingest", "--once", "--force", "--feed", feed, "--db", to,
				"--data-dir", moved, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
			if code != exitOK || !strings.HasPrefix(stdout, "status=completed") ||
				!strings.Contains(stdout, " changed=0 removed=0 images_requested=0") {
				t.Fatalf("the next feed run on the copy: exit %d, %q; want completed, nothing changed, no image requested\n%s", code, stdout, tail(stderr))
			}
			if n := images.Total(); n != fetched {
				t.Errorf("the image hosts saw %d requests after the feed run on the copy, want the %d of the first run", n, fetched)
			}
			if code, stdout, _ := runCLI(ctx, nil, "dev", "verify", "--feed", feed, "--db", to); code != exitOK {
				t.Errorf("dev verify after the next feed run: exit %d\n%s", code, tail(stdout))
			}
			tableRows[tt.name] = countTables(t, to)
		})
	}
	straight, resumed := tableRows[tests[0].name], tableRows[tests[1].name]
	for _, table := range db.CopyTables {
		if straight != nil && resumed != nil && straight[table.Name] != resumed[table.Name] {
			t.Errorf("%s: %d rows after a resumed copy, %d after a straight one", table.Name, resumed[table.Name], straight[table.Name])
		}
	}
}

// killCopy copies from into to and cuts the copy off after n batches of 100
// rows, as a kill would: the batches committed stay.
func killCopy(t *testing.T, from, to string, n int) {
	t.Helper()
	src, err := db.Open(t.Context(), db.Options{URL: from})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := db.Open(t.Context(), db.Options{URL: to})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	ctx, kill := context.WithCancel(t.Context())
	defer kill()
	_, err = db.Copy(ctx, src, dst, db.CopyOptions{BatchSize: 100, Progress: func(p db.CopyProgress) {
		if p.Batches == n {
			kill()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("copy cut off after %d batches: %v, want context.Canceled", n, err)
	}
}

// countTables counts the rows of every table that store copy moves.
func countTables(t *testing.T, url string) map[string]int64 {
	t.Helper()
	d, err := db.Open(t.Context(), db.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out := map[string]int64{}
	for _, table := range db.CopyTables {
		var n int64
		if err := d.R.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table.Name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table.Name] = n
	}
	return out
}

// TestStoreCopyRefusals: what store copy refuses, and how it says it.
func TestStoreCopyRefusals(t *testing.T) {
	ctx := t.Context()
	source := t.TempDir()
	if code, _, stderr := runCLI(ctx, nil, "migrate", "--data-dir", source); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s", code, stderr)
	}
	from := "sqlite://" + filepath.Join(source, "marquee.db")
	heldFrom := "sqlite://" + filepath.Join(t.TempDir(), "other", "marquee.db")
	other, err := lockDataDir(filepath.Dir(strings.TrimPrefix(heldFrom, "sqlite://")))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	to := "sqlite://" + filepath.Join(t.TempDir(), "copy.db")
	newer, err := db.Open(ctx, db.Options{URL: "sqlite://" + filepath.Join(source, "newer.db")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newer.Migrate(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := newer.W.ExecContext(ctx, "INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('20991231000000', 99, '2099-12-31 00:00:00')"); err != nil {
		t.Fatal(err)
	}
	newer.Close()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no target", []string{"--from", from}, exitUsage, "name both databases: --from URL --to URL"},
		{"the same database twice", []string{"--from", from, "--to", from}, exitUsage, "--from and --to name the same database"},
		{"not a database URL", []string{"--from", from, "--to", "postgres://x/y"}, exitUsage, "--to: want sqlite://PATH or mysql://"},
		{"a source a marquee process holds", []string{"--from", heldFrom, "--to", to}, exitFailure, "another marquee process"},
		{"a source that is no Marquee database", []string{"--from", "sqlite://" + filepath.Join(t.TempDir(), "empty.db"), "--to", to}, exitFailure, "not a Marquee database"},
		{"a target beside the source, into a database of a newer version", []string{"--from", from, "--to", "sqlite://" + filepath.Join(source, "newer.db")}, exitFailure, "unknown to this version"},
		{"a batch size of zero", []string{"--from", from, "--to", to, "--batch-size", "0"}, exitUsage, "--batch-size must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(ctx, nil, append([]string{"store", "copy"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d saying %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}
