package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"

	"marquee/internal/priority"
)

// insertStatements are the multi-row INSERT statements of one write handle:
// the SQL of a table's insert is built once, and the statement of a full
// chunk (batchRows rows) is prepared once and reused by every transaction,
// so neither bun nor the database builds or parses it per chunk. A shorter
// chunk runs as a statement of its own width, prepared for that one use.
// Safe for concurrent use.
type insertStatements struct {
	mu     sync.Mutex
	shapes map[insertKey]*insertShape
	// prepared holds the full-chunk statements prepared on the write handle.
	prepared map[*insertShape]*sql.Stmt
	// wanted are full-chunk statements a transaction ran unprepared: a
	// statement cannot be prepared on the handle while a transaction holds
	// its only connection (SQLite's writer), so they are prepared after it.
	wanted map[*insertShape]bool
}

type insertKey struct {
	typ     reflect.Type
	exclude string
}

// insertShape is the INSERT of one row type: its columns and SQL text.
type insertShape struct {
	fields []*schema.Field
	head   string // INSERT ... VALUES
	row    string // one row's placeholders
	full   string // a full chunk's statement
}

// query returns the statement inserting rows rows.
func (s *insertShape) query(rows int) string {
	if rows == batchRows && s.full != "" {
		return s.full
	}
	var b strings.Builder
	b.Grow(len(s.head) + rows*(len(s.row)+2))
	b.WriteString(s.head)
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.row)
	}
	return b.String()
}

// shape returns the INSERT of rows of type typ without the exclude columns,
// on tx's dialect. On SQLite it is INSERT OR FAIL (see insertRows).
func (c *insertStatements) shape(tx bun.Tx, typ reflect.Type, exclude []string) (*insertShape, error) {
	key := insertKey{typ: typ, exclude: strings.Join(exclude, ",")}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.shapes[key]; s != nil {
		return s, nil
	}
	table := tx.Dialect().Tables().Get(typ)
	var fields []*schema.Field
	for _, f := range table.Fields {
		if !slices.Contains(exclude, f.Name) {
			fields = append(fields, f)
		}
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("insert %s: no columns", table.Name)
	}
	head := "INSERT INTO "
	if tx.Dialect().Name() == dialect.SQLite {
		head = "INSERT OR FAIL INTO "
	}
	columns := make([]string, len(fields))
	for i, f := range fields {
		columns[i] = string(f.SQLName)
	}
	s := &insertShape{
		fields: fields,
		head:   head + string(table.SQLName) + " (" + strings.Join(columns, ", ") + ") VALUES ",
		row:    "(" + strings.Repeat("?, ", len(fields)-1) + "?)",
	}
	s.full = s.query(batchRows)
	if c.shapes == nil {
		c.shapes = map[insertKey]*insertShape{}
	}
	c.shapes[key] = s
	return s, nil
}

// exec inserts the rows rows whose values are args inside tx.
func (c *insertStatements) exec(ctx context.Context, tx bun.Tx, s *insertShape, rows int, args []any) error {
	// It bypasses bun's query hooks: yield as yieldHook does.
	priority.Yield(ctx)
	if rows == batchRows {
		c.mu.Lock()
		stmt := c.prepared[s]
		if stmt == nil {
			if c.wanted == nil {
				c.wanted = map[*insertShape]bool{}
			}
			c.wanted[s] = true
		}
		c.mu.Unlock()
		if stmt != nil {
			_, err := tx.Tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
			return err
		}
	}
	_, err := tx.Tx.ExecContext(ctx, s.query(rows), args...)
	return err
}

// prepareWanted prepares on w the full-chunk statements transactions ran
// unprepared. Run it outside any transaction of w. A statement that fails
// to prepare is left unprepared, to be tried again after its next use.
func (c *insertStatements) prepareWanted(ctx context.Context, w *sql.DB) {
	c.mu.Lock()
	wanted := c.wanted
	c.wanted = nil
	c.mu.Unlock()
	for s := range wanted {
		stmt, err := w.PrepareContext(ctx, s.full)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.prepared == nil {
			c.prepared = map[*insertShape]*sql.Stmt{}
		}
		if c.prepared[s] == nil {
			c.prepared[s], stmt = stmt, nil
		}
		c.mu.Unlock()
		if stmt != nil {
			stmt.Close()
		}
	}
}

// close closes the prepared statements.
func (c *insertStatements) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for s, stmt := range c.prepared {
		err = errors.Join(err, stmt.Close())
		delete(c.prepared, s)
	}
	return err
}

// insertRows inserts rows in chunks, leaving out the exclude columns (the
// auto-increment id), through the write handle's prepared statements.
// Generated ids are not read back: after a bulk insert they cannot be
// trusted, so callers that need them select by a natural key. A failure
// fails the transaction: on SQLite the rows go in as INSERT OR FAIL, so
// that a row breaking a constraint ends the statement and leaves the rows
// before it to the transaction's rollback, which spares SQLite the
// statement journal (a copy of every page the statement changes) it keeps
// to undo a multi-row statement alone.
//
// Values are written as bun writes them: nil pointers and nullzero zero
// values as NULL, times in the dialect's text form, driver.Valuers by their
// value; a string holding a NUL is refused.
func insertRows[T any](ctx context.Context, tx bun.Tx, stmts *insertStatements, rows []T, exclude ...string) error {
	if len(rows) == 0 {
		return nil
	}
	s, err := stmts.shape(tx, reflect.TypeFor[T](), exclude)
	if err != nil {
		return err
	}
	d := tx.Dialect()
	args := make([]any, 0, min(len(rows), batchRows)*len(s.fields))
	return chunks(rows, func(part []T) error {
		args = args[:0]
		for i := range part {
			strct := reflect.ValueOf(&part[i]).Elem()
			for _, f := range s.fields {
				v, err := insertArg(d, f, strct)
				if err != nil {
					return fmt.Errorf("column %s: %w", f.Name, err)
				}
				args = append(args, v)
			}
		}
		return stmts.exec(ctx, tx, s, len(part), args)
	})
}

// insertArg is the value of field f of strct as a statement argument.
func insertArg(d schema.Dialect, f *schema.Field, strct reflect.Value) (any, error) {
	v := f.Value(strct)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	if f.NullZero && v.IsZero() {
		return nil, nil
	}
	switch x := v.Interface().(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			return nil, errors.New("string contains NUL")
		}
		return x, nil
	case time.Time:
		quoted := d.AppendTime(nil, x)
		return string(quoted[1 : len(quoted)-1]), nil
	case driver.Valuer:
		return x.Value()
	default:
		return x, nil
	}
}
