package db_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"marquee/db"
	"marquee/db/dbtest"
	"marquee/internal/testkit"
)

// fillForCopy writes rows into every table of s through the store, as the
// pipeline and the APIs would.
func fillForCopy(t *testing.T, s *db.Store) {
	t.Helper()
	ctx := context.Background()
	profiles := generatedProfiles(1, 240)
	mustUpsert(t, s, profiles...)
	if _, err := s.MarkRemoved(ctx, []int64{7, 8}); err != nil {
		t.Fatal(err)
	}
	made, err := s.Create(ctx, db.PornstarInput{PornstarFields: db.PornstarFields{Name: "Made Through The API"}, Aliases: []string{"api alias"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, made.ID, nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 2, 0, 0, 123456000, time.UTC)
	var published []db.Published
	var outcomes []db.ImageState
	var claims []db.ImageClaim
	for i, p := range profiles {
		published = append(published, db.Published{FeedID: p.FeedID, ContentHash: fmt.Sprintf("%064x", i+1)})
		url := p.Thumbnails[0].URL
		claims = append(claims, db.ImageClaim{URLHash: db.URLHash(url), URL: url})
		if i%10 == 9 {
			outcomes = append(outcomes, failedImage(url, at))
		} else {
			outcomes = append(outcomes, cachedImage(url, at))
		}
	}
	published = append(published, db.Published{FeedID: 7}, db.Published{FeedID: 8})
	if err := s.RecordPublished(ctx, published); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ClaimImageFetches(ctx, "compactor-1", at, at.Add(time.Minute), claims); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishImageFetches(ctx, "compactor-1", outcomes[:200]); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertImages(ctx, outcomes[:200]); err != nil {
		t.Fatal(err)
	}
	for r := range 3 {
		if _, err := s.QueueRun(ctx, "schedule", r == 2); err != nil {
			t.Fatal(err)
		}
		run, err := s.ClaimRun(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var rejects []db.FeedRunReject
		var warnings []db.FeedRunWarning
		for i := range 30 {
			rejects = append(rejects, db.FeedRunReject{ItemIndex: int64(i), FeedID: ptr(int64(1000 + i)), Reason: "name: missing"})
			warnings = append(warnings, db.FeedRunWarning{ItemIndex: int64(i), FeedID: ptr(int64(i + 1)), Field: "age", Value: "-3", Reason: "must be 0 or more"})
		}
		if _, err := s.AddRejects(ctx, run.ID, rejects); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddWarnings(ctx, run.ID, warnings); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishRun(ctx, run.ID, db.RunCompleted, db.FeedRunResult{Source: ptr("file:///feed.json"), GenerationDate: &at,
			ItemsSeen: 270, ItemsValid: 240, ItemsRejected: 30, ItemsChanged: 240}); err != nil {
			t.Fatal(err)
		}
	}
}

// dumpTables returns every row of every table that Copy moves, in key
// order, each as its columns and values in a form both dialects share.
func dumpTables(t *testing.T, d *db.DB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, table := range db.CopyTables {
		if table.Own {
			continue
		}
		q := d.W.NewSelect().TableExpr(table.Name).ColumnExpr("*")
		for _, k := range table.Key {
			q = q.OrderExpr(k)
		}
		rows, err := q.Rows(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			dest := make([]any, len(cols))
			for i := range vals {
				dest[i] = &vals[i]
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			fields := make([]string, len(cols))
			for i, c := range cols {
				var v string
				switch x := vals[i].(type) {
				case nil:
					v = "NULL"
				case []byte:
					v = string(x)
				case time.Time:
					v = x.UTC().Format(time.RFC3339Nano)
				case bool:
					v = map[bool]string{false: "0", true: "1"}[x]
				default:
					v = fmt.Sprint(x)
				}
				fields[i] = c + "=" + v
			}
			slices.Sort(fields)
			out[table.Name] = append(out[table.Name], strings.Join(fields, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// diffDumps describes how got differs from want; "" when equal.
func diffDumps(want, got map[string][]string) string {
	var diffs []string
	for _, table := range db.CopyTables {
		w, g := want[table.Name], got[table.Name]
		if len(w) != len(g) {
			diffs = append(diffs, fmt.Sprintf("%s: %d rows, want %d", table.Name, len(g), len(w)))
			continue
		}
		for i := range w {
			if w[i] != g[i] {
				diffs = append(diffs, fmt.Sprintf("%s row %d:\n got %s\nwant %s", table.Name, i, g[i], w[i]))
				break
			}
		}
	}
	return strings.Join(diffs, "\n")
}

// TestCopyTablesCoverTheSchema: the copy knows every table of a migrated
// database; a migration that adds a table fails this until CopyTables has it.
func TestCopyTablesCoverTheSchema(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *db.Store) {
		tables, err := s.DB().Tables(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var known []string
		for _, ct := range db.CopyTables {
			known = append(known, ct.Name)
		}
		slices.Sort(known)
		if !slices.Equal(tables, known) {
			t.Errorf("the migrated schema has the tables %v; db.CopyTables names %v", tables, known)
		}
	})
}

// TestCopyKilledAndResumed: a copy cut off after a few batches leaves a
// target that a plain copy refuses and a resumed one completes; the result
// equals the source row for row, and a second resumed copy changes nothing.
// New rows in the target get ids after the copied ones.
func TestCopyKilledAndResumed(t *testing.T) {
	tests := []struct{ name, from, to string }{
		{"sqlite to mysql", "sqlite", "mysql"},
		{"mysql to sqlite", "mysql", "sqlite"},
		{"sqlite to sqlite", "sqlite", "sqlite"},
	}
	backends := map[string]dbtest.Backend{}
	for _, b := range dbtest.Backends() {
		backends[b.Name] = b
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := testkit.OpenStore(t, backends[tt.from].URL(t))
			fillForCopy(t, src)
			dstURL := backends[tt.to].URL(t)
			dstDB, err := db.Open(t.Context(), db.Options{URL: dstURL})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dstDB.Close() })
			want := dumpTables(t, src.DB())

			killed, kill := context.WithCancel(t.Context())
			defer kill()
			_, err = db.Copy(killed, src.DB(), dstDB, db.CopyOptions{BatchSize: 50, Progress: func(p db.CopyProgress) {
				if p.Batches == 3 {
					kill()
				}
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("copy killed after 3 batches: %v, want context.Canceled", err)
			}
			if got := dumpTables(t, dstDB); len(got["pornstars"]) != 150 || len(got["aliases"]) != 0 {
				t.Fatalf("after the kill the target has %d performers and %d aliases, want 150 and 0", len(got["pornstars"]), len(got["aliases"]))
			}

			if _, err := db.Copy(t.Context(), src.DB(), dstDB, db.CopyOptions{BatchSize: 50}); !errors.Is(err, db.ErrCopyTargetNotEmpty) {
				t.Fatalf("copy into the half-copied target without resume: %v, want ErrCopyTargetNotEmpty", err)
			}
			for _, run := range []string{"resumed", "resumed again"} {
				res, err := db.Copy(t.Context(), src.DB(), dstDB, db.CopyOptions{BatchSize: 50, Resume: true})
				if err != nil {
					t.Fatalf("%s: %v", run, err)
				}
				if d := diffDumps(want, dumpTables(t, dstDB)); d != "" {
					t.Fatalf("%s: the target differs from the source:\n%s", run, d)
				}
				if run == "resumed again" && res.Total() != 0 {
					t.Errorf("%s: %d rows offered, want 0: %+v", run, res.Total(), res.Rows)
				}
			}

			dst := db.NewStore(dstDB)
			dst.SetDiscoveryIndex(false) // nothing mends the count
			inFeed, err := src.Count(t.Context(), db.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if got, err := dst.Count(t.Context(), db.Filter{}); got != inFeed || err != nil {
				t.Errorf("the target counts %d performers in the feed (%v), the source %d", got, err, inFeed)
			}
			made, err := dst.Create(t.Context(), db.PornstarInput{PornstarFields: db.PornstarFields{Name: "After The Copy"}})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(want["pornstars"]); made.ID != int64(n+1) {
				t.Errorf("a performer made after the copy of %d has id %d, want %d", n, made.ID, n+1)
			}
			if _, err := dst.QueueRun(t.Context(), "schedule", false); err != nil {
				t.Fatal(err)
			}
			run, err := dst.ClaimRun(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if run.ID != 4 {
				t.Errorf("the first feed run after the copy of 3 has id %d, want 4", run.ID)
			}
		})
	}
}

// TestCopyRefusals: what Copy refuses, and how it says it.
func TestCopyRefusals(t *testing.T) {
	ctx := context.Background()
	exec := func(t *testing.T, d *db.DB, sql string) {
		t.Helper()
		if _, err := d.W.ExecContext(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, src, dst *db.DB)
		wantErr string
	}{
		{"a source behind this version", func(t *testing.T, src, _ *db.DB) {
			exec(t, src, "DELETE FROM bun_migrations WHERE name = '20261126000011'")
		}, "the source is 1 migrations behind this version"},
		{"a target of a newer version", func(t *testing.T, _, dst *db.DB) {
			if _, err := dst.Migrate(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			exec(t, dst, "INSERT INTO bun_migrations (name, group_id, migrated_at) VALUES ('20991231000000', 99, '2099-12-31 00:00:00')")
		}, "migration 20991231000000_ is unknown to this version"},
		{"a source with a table the copy does not know", func(t *testing.T, src, _ *db.DB) {
			exec(t, src, "CREATE TABLE takedowns_of_the_future (id BIGINT NOT NULL PRIMARY KEY)")
		}, "table takedowns_of_the_future is unknown to the copy"},
		{"a target with rows", func(t *testing.T, _, dst *db.DB) {
			if _, err := dst.Migrate(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			mustUpsert(t, db.NewStore(dst), generatedProfile(1))
		}, "table pornstars has rows (resume an interrupted copy with --resume)"},
	}
	for _, b := range dbtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					src := testkit.OpenStore(t, b.URL(t))
					mustUpsert(t, src, generatedProfile(1))
					dst, err := db.Open(ctx, db.Options{URL: b.URL(t)})
					if err != nil {
						t.Fatal(err)
					}
					defer dst.Close()
					tt.prepare(t, src.DB(), dst)
					_, err = db.Copy(ctx, src.DB(), dst, db.CopyOptions{})
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("Copy: %v, want an error saying %q", err, tt.wantErr)
					}
				})
			}
		})
	}
}

// BenchmarkStoreCopy copies a store of 100,000 performers with their image
// records and published hashes from SQLite into MySQL (`make bench`) and
// reports rows/s.
func BenchmarkStoreCopy(b *testing.B) {
	const performers = 100_000
	ctx := context.Background()
	src := testkit.OpenStore(b, dbtest.SQLiteURL(b))
	at := time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC)
	for first := int64(1); first <= performers; first += benchBatch {
		profiles := make([]db.Profile, 0, benchBatch)
		var published []db.Published
		var images []db.ImageState
		for id := first; id < first+benchBatch && id <= performers; id++ {
			p := benchProfile(id, 0)
			profiles = append(profiles, p)
			published = append(published, db.Published{FeedID: id, ContentHash: fmt.Sprintf("%064x", id)})
			images = append(images, cachedImage(p.Thumbnails[0].URL, at))
		}
		if _, err := src.UpsertProfiles(ctx, profiles); err != nil {
			b.Fatal(err)
		}
		if err := src.RecordPublished(ctx, published); err != nil {
			b.Fatal(err)
		}
		if err := src.UpsertImages(ctx, images); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var rows int64
	var elapsed time.Duration
	for range b.N {
		dst, err := db.Open(ctx, db.Options{URL: dbtest.MySQLURL(b)})
		if err != nil {
			b.Fatal(err)
		}
		res, err := db.Copy(ctx, src.DB(), dst, db.CopyOptions{})
		dst.Close()
		if err != nil {
			b.Fatal(err)
		}
		rows += res.Total()
		elapsed += res.Elapsed
	}
	b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
}
