package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"modernc.org/sqlite"
)

// Store is the only place in Marquee with SQL. It writes to the primary and
// reads from the read handle (a replica where one is configured). It is safe
// for concurrent use.
type Store struct {
	db  *DB
	now func() time.Time
	// The children cache of AliasesOf and ThumbnailsOf (children_cache.go).
	aliases    *versionCache[Alias]
	thumbnails *versionCache[Thumbnail]
	// The facet values of performers, by id and version (facets.go).
	facetRows *versionCache[facetRow]
	// Whole answers of Facets, by request and data version (facet_answers.go).
	facetAnswers *facetAnswers
	stats        sqliteStats // when to ANALYZE (SQLite only)
	// The data version (data_version.go).
	version dataVersionState
	// The in-process index of search and facets (discovery_index.go).
	discovery discoveryIndex
}

// NewStore returns a Store over d. The Store does not own d: close d yourself.
func NewStore(d *DB) *Store {
	s := &Store{db: d, now: writeClock.now}
	s.SetChildrenCacheEntries(DefaultChildrenCacheEntries)
	return s
}

// writeClock is the time of every write of the process's Stores: UTC to the
// microsecond a row holds, and strictly increasing, even when the wall
// clock steps back. Writers take it inside their transaction, so on SQLite,
// whose writers are serialised, commit order is updated_at order and a walk
// ordered by (updated_at, id) sees every later write after its cursor. MySQL
// writers of several processes and overlapping transactions are not
// ordered so: the sync recipe's safety margin covers them (docs/api.md).
var writeClock monotonicClock

type monotonicClock struct {
	mu   sync.Mutex
	last time.Time
}

func (c *monotonicClock) now() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.After(c.last) {
		t = c.last.Add(time.Microsecond)
	}
	c.last = t
	return t
}

// DB returns the handles the Store uses.
func (s *Store) DB() *DB { return s.db }

// batchRows bounds the rows of one INSERT or IN list: large enough to
// amortise round trips, small enough to stay far below max_allowed_packet.
const batchRows = 500

// maxTxAttempts bounds the retries of a transaction that lost a deadlock.
const maxTxAttempts = 5

// inTx runs fn in a transaction on the primary, retrying it when the server
// chose it as a deadlock victim or it timed out waiting for a lock. The
// transaction increments the data version: every write an API answer may
// show goes through inTx. fn reports the performers it brought into the
// feed or took out of it with addInFeed.
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.runTx(ctx, op, func(ctx context.Context, tx bun.Tx) error {
		effects := new(txEffects)
		if err := fn(context.WithValue(ctx, txEffectsKey{}, effects), tx); err != nil {
			return err
		}
		return bumpDataVersion(ctx, tx, effects)
	})
}

// inLedgerTx is inTx for transactions that write only the workers' own
// ledgers (image claims, published hashes, collection marks), which no API
// answer shows: they leave the data version as it is.
func (s *Store) inLedgerTx(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	return s.runTx(ctx, op, fn)
}

func (s *Store) runTx(ctx context.Context, op string, fn func(ctx context.Context, tx bun.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = s.db.W.RunInTx(ctx, nil, fn)
		s.db.inserts.prepareWanted(ctx, s.db.W.DB)
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			break
		}
		backoff := time.Duration(rand.Int64N(int64(10*time.Millisecond) << attempt))
		select {
		case <-ctx.Done():
			return s.fail(op, ctx.Err())
		case <-time.After(backoff):
		}
	}
	return s.fail(op, err)
}

// forUpdate locks the selected rows on MySQL. SQLite needs no row locks: its
// writer transactions are serialised (BEGIN IMMEDIATE on one connection).
func (s *Store) forUpdate(q *bun.SelectQuery) *bun.SelectQuery {
	if s.db.Dialect == dialect.MySQL {
		return q.For("UPDATE")
	}
	return q
}

// fail wraps err for the caller: sentinels and typed errors pass through,
// database errors are summarised without any SQL text.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	var (
		fieldErr   *FieldError
		profileErr *ProfileError
		runErr     *ActiveRunError
		dbErr      *DatabaseError
	)
	switch {
	case errors.As(err, &dbErr):
		// A failure an inner operation reported already: one error naming
		// both operations, with the driver's cause kept for the logs.
		return &DatabaseError{Op: op + ": " + dbErr.Op, cause: dbErr.cause}
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrTakenDown), errors.Is(err, ErrConflict), errors.Is(err, ErrVersionMismatch),
		errors.Is(err, ErrInvalid), errors.As(err, &fieldErr), errors.As(err, &profileErr), errors.As(err, &runErr):
		return fmt.Errorf("store: %s: %w", op, err)
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: %s: %w", op, err)
	case isUniqueViolation(err):
		return fmt.Errorf("store: %s: %w", op, ErrConflict)
	}
	return &DatabaseError{Op: op, cause: err}
}

// DatabaseError is a failure of the database itself (unreachable, out of
// space, a bug in a query). Its text names the operation and the server's
// error number, never the SQL; Cause gives the driver's error for logs.
type DatabaseError struct {
	Op    string
	cause error
}

func (e *DatabaseError) Error() string {
	var (
		myErr   *mysql.MySQLError
		liteErr *sqlite.Error
	)
	switch {
	case errors.As(e.cause, &myErr):
		return fmt.Sprintf("store: %s: database error (mysql %d)", e.Op, myErr.Number)
	case errors.As(e.cause, &liteErr):
		return fmt.Sprintf("store: %s: database error (sqlite %d)", e.Op, liteErr.Code())
	}
	return fmt.Sprintf("store: %s: database error", e.Op)
}

// Unwrap exposes the driver error to errors.Is / errors.As (for example
// driver.ErrBadConn); print Cause only to operators' logs.
func (e *DatabaseError) Unwrap() error { return e.cause }

// Cause is the driver's error, which may quote SQL: log it, never send it.
func (e *DatabaseError) Cause() error { return e.cause }

const (
	mysqlDuplicateEntry   = 1062
	mysqlLockWaitTimeout  = 1205
	mysqlDeadlock         = 1213
	sqliteConstraintPK    = 1555
	sqliteConstraintUniq  = 2067
	sqliteBusy            = 5
	sqliteLocked          = 6
	sqlitePrimaryCodeMask = 0xff
)

func isUniqueViolation(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == mysqlDuplicateEntry
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqliteConstraintUniq || liteErr.Code() == sqliteConstraintPK
	}
	return false
}

func isRetryable(err error) bool {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number == mysqlDeadlock || myErr.Number == mysqlLockWaitTimeout
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		code := liteErr.Code() & sqlitePrimaryCodeMask
		return code == sqliteBusy || code == sqliteLocked
	}
	return false
}

// upsert turns q into an insert that, for rows whose key conflicts,
// replaces the given columns with the new row's values and applies the extra
// SET clauses (the same text on both dialects). With bumpVersion, the
// existing row's version is incremented. Only the conflict clause differs.
func (s *Store) upsert(q *bun.InsertQuery, alias, key string, columns []string, bumpVersion bool, extra ...string) *bun.InsertQuery {
	q = q.Returning("NULL")
	if s.db.Dialect == dialect.MySQL {
		q = q.On("DUPLICATE KEY UPDATE")
		for _, c := range columns {
			q = q.Set("? = VALUES(?)", bun.Ident(c), bun.Ident(c))
		}
		if bumpVersion {
			q = q.Set("version = version + 1")
		}
	} else {
		q = q.On("CONFLICT (?) DO UPDATE", bun.Ident(key))
		for _, c := range columns {
			q = q.Set("? = EXCLUDED.?", bun.Ident(c), bun.Ident(c))
		}
		if bumpVersion {
			q = q.Set("version = ?.version + 1", bun.Ident(alias))
		}
	}
	for _, e := range extra {
		q = q.Set(e)
	}
	return q
}

// chunks calls fn with consecutive slices of at most batchRows items.
func chunks[T any](items []T, fn func(part []T) error) error {
	for start := 0; start < len(items); start += batchRows {
		end := min(start+batchRows, len(items))
		if err := fn(items[start:end]); err != nil {
			return err
		}
	}
	return nil
}

// insertSkippingConflicts turns q into an insert that leaves every row whose
// key already exists as it is (the same text on both dialects but for the
// conflict clause; MySQL's no-op assignment, unlike INSERT IGNORE, keeps
// strict mode's errors for bad values).
func (s *Store) insertSkippingConflicts(q *bun.InsertQuery, key string) *bun.InsertQuery {
	q = q.Returning("NULL")
	if s.db.Dialect == dialect.MySQL {
		return q.On("DUPLICATE KEY UPDATE").Set("? = ?", bun.Ident(key), bun.Ident(key))
	}
	return q.On("CONFLICT (?) DO NOTHING", bun.Ident(key))
}
