package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// CopyTable is one table that Copy moves: its name and the columns of its
// primary key, in which order its rows are copied and a copy resumes.
type CopyTable struct {
	Name string
	Key  []string
	// Own marks a table each database keeps for itself, which Copy neither
	// moves nor requires empty: the data version counts one database's
	// writes, and its caches start afresh with the target; its count of the
	// performers in the feed is counted on the target once the rows are in.
	Own bool
}

// CopyTables is every table of Marquee's schema, in the order Copy moves
// them: a table comes after the tables its foreign keys point at. A
// migration that adds a table adds it here; Copy refuses a database with a
// table this list lacks.
var CopyTables = []CopyTable{
	{Name: "pornstars", Key: []string{"id"}},
	{Name: "aliases", Key: []string{"id"}},
	{Name: "thumbnails", Key: []string{"id"}},
	{Name: "pornstar_tags", Key: []string{"attribute", "value", "pornstar_id"}},
	{Name: "pornstar_search_tokens", Key: []string{"token", "pornstar_id", "source"}},
	{Name: "images", Key: []string{"url_hash"}},
	{Name: "image_fetches", Key: []string{"url_hash"}},
	{Name: "published_profiles", Key: []string{"feed_id"}},
	{Name: "feed_runs", Key: []string{"id"}},
	{Name: "feed_run_rejects", Key: []string{"id"}},
	{Name: "feed_run_warnings", Key: []string{"id"}},
	{Name: "image_gc_marks", Key: []string{"content_sha256"}},
	{Name: "takedowns", Key: []string{"id"}},
	{Name: "takedown_hashes", Key: []string{"url_hash", "takedown_id"}},
	// The variant cache's index names files of the image store, which a
	// copy does not move: a variant whose file is missing is rendered anew.
	{Name: "image_variants", Key: []string{"variant_key"}},
	{Name: "data_version", Key: []string{"id"}, Own: true},
}

// ErrCopyTargetNotEmpty is returned by Copy when the target holds rows and
// the copy is not a resumed one.
var ErrCopyTargetNotEmpty = errors.New("the target database is not empty")

// CopyOptions configure Copy. Zero values pick the defaults noted on each field.
type CopyOptions struct {
	// Resume lets the target hold rows already: those of an earlier,
	// interrupted copy of the same source. Rows present are kept as they are.
	Resume bool
	// BatchSize is how many rows one transaction on the target writes
	// (default 1000).
	BatchSize int
	// Progress, when set, is called after every batch the target committed.
	Progress func(CopyProgress)
}

// CopyProgress is where a copy stands after a batch.
type CopyProgress struct {
	// Table is the table the batch was written to.
	Table string
	// Rows are the rows of Table read from the source so far in this run.
	Rows int64
	// Batches are the batches committed so far in this run, over every table.
	Batches int
}

// CopyResult is what Copy did.
type CopyResult struct {
	// Rows are the rows read from the source and offered to the target per
	// table, in CopyTables order; rows the target already had are counted too.
	Rows     []TableRows
	Elapsed  time.Duration
	Migrated []string // migrations applied to the target first
}

// TableRows counts one table's rows.
type TableRows struct {
	Table string
	Rows  int64
}

// Total is the rows over every table.
func (r CopyResult) Total() int64 {
	var n int64
	for _, t := range r.Rows {
		n += t.Rows
	}
	return n
}

// Copy copies every row of every table of src into dst, keeping every id, so
// that dst serves what src served and the pipeline's records (published
// hashes, the compactor's fetches) make the next feed run publish and fetch
// nothing that src would not have. src must be at this binary's latest
// migration; dst is migrated to it first. dst must hold no rows unless
// opts.Resume, and src must not change during the copy (stop the processes
// that write it). Rows go in key order, one transaction per batch, and rows
// already in dst are skipped: a copy cut off at any point and run again with
// Resume ends with the same target as one that ran through.
func Copy(ctx context.Context, src, dst *DB, opts CopyOptions) (CopyResult, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	start := time.Now()
	var result CopyResult
	status, err := src.CheckSchema(ctx)
	if err != nil {
		return result, fmt.Errorf("db: copy: source: %w", err)
	}
	if status.Pending > 0 {
		return result, fmt.Errorf("db: copy: the source is %d migrations behind this version (at %s): run marquee migrate against it first", status.Pending, status.Latest)
	}
	if err := src.checkCopyTables(ctx); err != nil {
		return result, fmt.Errorf("db: copy: source: %w", err)
	}
	// A target of a newer version is refused before Migrate touches it.
	if err := dst.checkNoUnknownMigrations(ctx); err != nil {
		return result, fmt.Errorf("db: copy: target: %w", err)
	}
	applied, err := dst.Migrate(ctx, time.Minute)
	if err != nil {
		return result, fmt.Errorf("db: copy: target: %w", err)
	}
	result.Migrated = applied
	if err := dst.checkCopyTables(ctx); err != nil {
		return result, fmt.Errorf("db: copy: target: %w", err)
	}
	if !opts.Resume {
		for _, t := range CopyTables {
			if t.Own {
				continue
			}
			n, err := dst.W.NewSelect().TableExpr("?", bun.Ident(t.Name)).Limit(1).Count(ctx)
			if err != nil {
				return result, fmt.Errorf("db: copy: target: %w", err)
			}
			if n > 0 {
				return result, fmt.Errorf("db: copy: table %s has rows (resume an interrupted copy with --resume): %w", t.Name, ErrCopyTargetNotEmpty)
			}
		}
	}
	batches := 0
	for _, t := range CopyTables {
		if t.Own {
			continue
		}
		rows, err := copyTable(ctx, src, dst, t, opts, &batches)
		result.Rows = append(result.Rows, TableRows{Table: t.Name, Rows: rows})
		if err != nil {
			result.Elapsed = time.Since(start)
			return result, fmt.Errorf("db: copy %s: %w", t.Name, err)
		}
	}
	// The rows came in without a Store's transactions, which keep the
	// count of performers in the feed.
	_, err = recountInFeed(dst).Exec(ctx)
	result.Elapsed = time.Since(start)
	if err != nil {
		return result, fmt.Errorf("db: copy: count the performers in the feed: %w", err)
	}
	return result, nil
}

// copyTable copies the rows of t after the last key that dst holds.
func copyTable(ctx context.Context, src, dst *DB, t CopyTable, opts CopyOptions, batches *int) (int64, error) {
	after, err := lastKey(ctx, dst, t)
	if err != nil {
		return 0, err
	}
	var copied int64
	for {
		cols, rows, err := readBatch(ctx, src, t, after, opts.BatchSize)
		if err != nil {
			return copied, err
		}
		if len(rows) == 0 {
			return copied, nil
		}
		if err := writeBatch(ctx, dst, t, cols, rows); err != nil {
			return copied, err
		}
		copied += int64(len(rows))
		*batches++
		if opts.Progress != nil {
			opts.Progress(CopyProgress{Table: t.Name, Rows: copied, Batches: *batches})
		}
		after = keyOf(t, cols, rows[len(rows)-1])
		if len(rows) < opts.BatchSize {
			return copied, nil
		}
	}
}

// lastKey returns the greatest key of t in d, nil when t is empty.
func lastKey(ctx context.Context, d *DB, t CopyTable) ([]any, error) {
	q := d.W.NewSelect().TableExpr("?", bun.Ident(t.Name)).Limit(1)
	for _, k := range t.Key {
		q = q.ColumnExpr("?", bun.Ident(k)).OrderExpr("? DESC", bun.Ident(k))
	}
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	key := make([]any, len(t.Key))
	dest := make([]any, len(key))
	for i := range key {
		dest[i] = &key[i]
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	for i := range key {
		key[i] = portableValue(key[i])
	}
	return key, rows.Err()
}

// readBatch reads up to n rows of t whose key follows after (every row when
// after is nil), in key order, with their column names.
func readBatch(ctx context.Context, d *DB, t CopyTable, after []any, n int) ([]string, [][]any, error) {
	q := d.R.NewSelect().TableExpr("?", bun.Ident(t.Name)).ColumnExpr("*").Limit(int64(n))
	for _, k := range t.Key {
		q = q.OrderExpr("?", bun.Ident(k))
	}
	if after != nil {
		// (k1, k2, ...) > (v1, v2, ...), spelled out so that both dialects
		// walk the primary key: k1 > v1 OR (k1 = v1 AND k2 > v2) OR ...
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			for i := range t.Key {
				q = q.WhereGroup(" OR ", func(q *bun.SelectQuery) *bun.SelectQuery {
					for j := 0; j < i; j++ {
						q = q.Where("? = ?", bun.Ident(t.Key[j]), after[j])
					}
					return q.Where("? > ?", bun.Ident(t.Key[i]), after[i])
				})
			}
			return q
		})
	}
	rows, err := q.Rows(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	for rows.Next() {
		row := make([]any, len(cols))
		dest := make([]any, len(cols))
		for i := range row {
			dest[i] = &row[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		for i := range row {
			row[i] = portableValue(row[i])
		}
		out = append(out, row)
	}
	return cols, out, rows.Err()
}

// portableValue turns a value as a driver returns it into one that bun
// writes the same way on both dialects: the schema has no binary columns,
// so bytes are text, and times are UTC with microseconds, as the store
// writes them.
func portableValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Truncate(time.Microsecond)
	}
	return v
}

// keyOf returns the key columns' values of row.
func keyOf(t CopyTable, cols []string, row []any) []any {
	key := make([]any, len(t.Key))
	for i, k := range t.Key {
		key[i] = row[slices.Index(cols, k)]
	}
	return key
}

// writeBatch inserts rows into t in one transaction, skipping those whose
// key d holds already.
func writeBatch(ctx context.Context, d *DB, t CopyTable, cols []string, rows [][]any) error {
	var b strings.Builder
	args := make([]any, 0, len(cols)*len(rows)+len(cols)+1)
	b.WriteString("INSERT INTO ? (")
	args = append(args, bun.Ident(t.Name))
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args = append(args, bun.Ident(c))
	}
	b.WriteString(") VALUES ")
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("?")
			args = append(args, v)
		}
		b.WriteString(")")
	}
	if d.Dialect == dialect.MySQL {
		// Not INSERT IGNORE, which would also turn a value the column
		// cannot hold into a warning.
		b.WriteString(" ON DUPLICATE KEY UPDATE ? = ?")
		args = append(args, bun.Ident(t.Key[0]), bun.Ident(t.Key[0]))
	} else {
		b.WriteString(" ON CONFLICT DO NOTHING")
	}
	return d.W.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, b.String(), args...)
		return err
	})
}

// checkCopyTables fails when d has a table that CopyTables lacks, or lacks
// one it names.
func (d *DB) checkCopyTables(ctx context.Context) error {
	tables, err := d.Tables(ctx)
	if err != nil {
		return err
	}
	for _, name := range tables {
		if !slices.ContainsFunc(CopyTables, func(t CopyTable) bool { return t.Name == name }) {
			return fmt.Errorf("table %s is unknown to the copy: this version cannot copy it", name)
		}
	}
	for _, t := range CopyTables {
		if !slices.Contains(tables, t.Name) {
			return fmt.Errorf("no table %s", t.Name)
		}
	}
	return nil
}

// Tables lists the tables of Marquee's schema in d, by name: every table
// but the migrations' own and SQLite's internal ones.
func (d *DB) Tables(ctx context.Context) ([]string, error) {
	q := d.W.NewSelect().TableExpr("sqlite_master").Column("name").Where("type = 'table'").
		Where("name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
	if d.Dialect == dialect.MySQL {
		q = d.W.NewSelect().TableExpr("information_schema.tables").ColumnExpr("table_name").
			Where("table_schema = DATABASE()").Where("table_type = 'BASE TABLE'")
	}
	var names []string
	if err := q.Scan(ctx, &names); err != nil {
		return nil, fmt.Errorf("db: list tables: %w", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "bun_migration") })
	slices.Sort(names)
	return names, nil
}
